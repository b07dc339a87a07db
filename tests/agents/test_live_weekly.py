"""The weekly cycle of a live deployment: ``agents run`` keeps the weeks, ``week --db`` reads them.

A runner replays two simulated days with its week ending on Tuesday noon (so the test is
short); it keeps that week's snapshot in the ledger's database and nothing beside it, and
``tailguard week --db URL`` then runs the cycle on that database alone, SQLite and PostgreSQL.
The three-week run over NATS, where the cycle runs by itself and the levers follow, is in
``test_live_weekly_nats.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from tailguard.agents.testing import RecordingDownstreamServer
from tailguard.agents.weekly import WeekSchedule
from tailguard.cli import main
from tailguard.errors import InvalidInputError
from tailguard.ledger import Ledger
from tailguard.weekly.dbweeks import WeekStore

from ._runs import write_sim_events

WEEK_END = datetime(2026, 1, 6, 12, tzinfo=UTC)  # Tuesday noon, the second simulated day


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated days (Monday and Tuesday) of two areas."""
    return write_sim_events(
        tmp_path_factory.mktemp("live-weekly") / "ev.jsonl", areas=2, days=2, seed=7
    )


def test_week_db_runs_on_the_database_a_runner_wrote(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    two_days: Path,
    stores: tuple[str, str],
) -> None:
    """The runner keeps the week in the ledger's database only; `week --db` needs nothing else."""
    db, pulse = stores
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with RecordingDownstreamServer() as server:
        code, out, err = _cli(
            capsys,
            "agents",
            "run",
            "--events",
            str(two_days),
            "--db",
            db,
            "--pulse",
            pulse,
            "--downstream",
            server.url,
            "--warmup-days",
            "1",
            "--week-end",
            "tue 12:00",
            "--no-week-cycle",
            "--dead-letter",
            str(run_dir / "dl.jsonl"),
            "--format",
            "json",
        )
    assert code == 0, err
    weekly = json.loads(out)["weekly"]
    assert weekly["schedule"] == "tue 12:00 UTC"
    assert weekly["snapshots"] == ["2026-01-06"]
    assert weekly["cycles"] == []  # --no-week-cycle: the cycle is run on demand below
    with Ledger.open(db) as ledger:
        assert WeekStore(ledger.engine).weeks() == ["2026-01-06"]
    beside = Path(db.removeprefix("sqlite:///")).parent if db.startswith("sqlite") else run_dir
    assert not (beside / "weeks").exists()  # no snapshot file anywhere

    pages = tmp_path / "pages"
    code, out, err = _cli(
        capsys,
        "week",
        "--db",
        db,
        "--as-of",
        "2026-01-06T12:00:00Z",
        "--out",
        str(pages),
        "--no-pdf",
        "--workers",
        "1",
        "--format",
        "json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["areas"] == 2
    assert summary["okr_records"] == 2
    for area in ("PA-0001", "PA-0002"):
        okr = json.loads((pages / area / "okr.json").read_text(encoding="utf-8"))
        assert okr["week_of"] == "2026-01-06"
        assert len(okr["levers"]) == 3
    with Ledger.open(db) as ledger:
        committed = [r.fields for r in ledger.records(kind="okr")]
        assert ledger.verify().ok
    assert sorted(f["area_id"] for f in committed) == ["PA-0001", "PA-0002"]

    # A week the runner did not keep is refused with the weeks it did keep.
    code, out, err = _cli(
        capsys, "week", "--db", db, "--as-of", "2026-01-13T12:00:00Z", "--out", str(pages)
    )
    assert code == 2
    assert "in the ledger's database" in err
    assert "have: 2026-01-06" in err


@pytest.mark.parametrize(
    ("spec", "tz", "reason"),
    [
        ("sunday", "UTC", "give a weekday and a time"),
        ("xyz 23:00", "UTC", "give a weekday and a time"),
        ("sun 24:00", "UTC", "is not a time of day"),
        ("sun 23:00", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_week_end_or_zone_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    two_days: Path,
    spec: str,
    tz: str,
    reason: str,
) -> None:
    """A week end or time zone that cannot be read is refused before anything runs."""
    code, _, err = _cli(
        capsys,
        "agents",
        "run",
        "--events",
        str(two_days),
        "--db",
        str(tmp_path / "l.db"),
        "--downstream",
        "http://127.0.0.1:9",
        "--week-end",
        spec,
        "--tz",
        tz,
    )
    assert code == 2
    assert reason in err
    assert len(err.strip().splitlines()) == 1


def test_schedule_finds_the_moment_in_an_hour_in_the_networks_zone() -> None:
    """Sunday 23:00 in Chicago is Monday 05:00 UTC in winter and 04:00 UTC in summer."""
    chicago = WeekSchedule.parse("Sun 23:00", "America/Chicago")
    assert chicago == WeekSchedule(6, time(23, 0), "America/Chicago")
    winter = datetime(2026, 1, 12, 5, tzinfo=UTC)
    assert chicago.moment_in(winter.replace(hour=4), winter) == winter
    assert chicago.moment_in(winter, winter.replace(hour=6)) is None
    summer = datetime(2026, 7, 13, 4, tzinfo=UTC)
    assert chicago.moment_in(summer.replace(hour=3), summer) == summer
    default = WeekSchedule.parse("sun 23:00")
    assert default is not None
    assert default.describe() == "sun 23:00 UTC"
    sunday = datetime(2026, 1, 11, 23, tzinfo=UTC)
    assert default.moment_in(sunday.replace(hour=22), sunday) == sunday
    assert default.moment_in(sunday, sunday.replace(day=18, hour=22)) is None  # a week later
    assert WeekSchedule.parse("off") is None
    with pytest.raises(InvalidInputError, match="unknown time zone"):
        WeekSchedule.parse("sun 23:00", "Nowhere/Town")


def test_with_no_week_cycle_the_levers_follow_the_okrs_week_db_commits(
    tmp_path: Path, two_days: Path
) -> None:
    """On demand: the runner keeps the week, `tailguard week --db` (here run_week) commits the
    OKRs while the agents go on, and the next tick carries out their levers."""
    from datetime import timedelta

    from tailguard.agents.routing import DownstreamRoutes
    from tailguard.agents.runner import AgentRunner, RunnerConfig
    from tailguard.weekly import run_week

    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    with RecordingDownstreamServer() as server:
        config = RunnerConfig(
            db=db,
            pulse=str(tmp_path / "pulse.db"),
            downstream=DownstreamRoutes.parse([server.url]),
            dead_letter=tmp_path / "dead.jsonl",
            warmup=timedelta(days=1),
            week=WeekSchedule.parse("tue 12:00"),
            week_cycle=False,
        )
        with AgentRunner(config) as runner:
            assert runner.weekly is not None
            tally = runner.weekly.tally
            for as_of, _ in runner.replay_hours(two_days):
                if as_of == WEEK_END:
                    assert tally.snapshots == ["2026-01-06"]
                    assert tally.levers_applied == {}  # nothing committed yet
                    run_week(db, as_of, tmp_path / "pages", workers=1, pdf=False)
                elif as_of == WEEK_END + timedelta(hours=1):
                    break
            assert tally.cycles == []
            calls = tally.levers_applied["2026-01-06"]
            assert calls > 0
            steps = [
                r.fields
                for r in runner.ledger.records(kind="step")
                if str(r.fields["tool_name"]).startswith("okr_")
            ]
    assert len({s["step_id"] for s in steps}) == calls
