"""The operations scheduler on SQLite and PostgreSQL with a fake clock: campaigns advanced to
their end by ticks alone, each tick claimed once however many schedulers run, the dev swarm
scouting and advancing within its daily cap; the CLI; the ``--every`` parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.cli import main
from tailguard.clock import FakeClock
from tailguard.compendium import Compendium
from tailguard.errors import InvalidInputError
from tailguard.ledger import Ledger
from tailguard.ops.campaign import Autopilot, parse_spec
from tailguard.ops.scheduler import Scheduler, SwarmJob, parse_every, tick_of
from tailguard.ops.swarm import open_swarm
from tailguard.ops.swarm_tools import SwarmConfig
from tailguard.roles.session import open_chat

from ._swarm import APPROVER, make_repo, provider

START = datetime(2091, 6, 4, 7, 3, tzinfo=UTC)  # far from today, mid-tick on purpose
EVERY = timedelta(minutes=15)


def _spec() -> object:
    return parse_spec(
        {
            "objective": "Flatbed drivers, Dallas",
            "recruiter_id": "rec-001",
            "target_hires": 1,
            "max_candidates": 3,
            "seed": 0,
            "profile": {
                "channels": ["sms"],
                "cadence_hours": 24,
                "touches": 1,
                "daily_send_cap": 10,
                "budget_usd": 50.0,
                "interview_lead_hours": 24,
            },
        }
    )


def test_ticks_alone_carry_a_campaign_to_its_objective_each_tick_once(
    db_url: str, tmp_path: Path
) -> None:
    """Two schedulers share the database: each tick is worked by one of them only; between
    ticks a person approves what waits; the campaign meets its objective on ticks alone."""
    clock = FakeClock(START)
    stack = open_chat(db_url, clock=clock)
    try:
        pilot = Autopilot(stack.control, compendium=Compendium(tmp_path / "compendium"))
        cid = pilot.create(_spec()).campaign_id  # type: ignore[arg-type]
        pilot.approve_profile(cid, "rec-001")
        one = Scheduler(stack.ledger, clock=clock, autopilot=pilot, every=EVERY)
        two = Scheduler(stack.ledger, clock=clock, autopilot=pilot, every=EVERY)
        claimed = 0
        for _ in range(4 * 24 * 8):
            first, second = one.tick(), two.tick()
            assert first["tick"] == second["tick"] == tick_of(clock.now(), EVERY)
            assert [first["claimed"], second["claimed"]] == [True, False]
            assert second["campaigns"] == []
            claimed += 1
            if pilot.store.get(cid).status != "active":
                break
            pilot.approve_batch(cid, "admin")
            clock.advance(EVERY)
        summary = pilot.summary(cid)
        assert summary["status"] == "objective_met"
        assert summary["hires"] == 1
        records = list(stack.ledger.records(kind="schedule_tick"))
        assert len(records) == claimed
        assert len({r.fields["tick"] for r in records}) == claimed  # never a tick twice
        # Old claims are pruned: about a day of them is kept.
        from tailguard.ops.store import OpsStore

        kept = OpsStore(stack.ledger.engine).switches("schedule:ops:")
        assert 0 < len(kept) <= 4 * 24 + 1
    finally:
        stack.close()


def test_run_sleeps_to_each_tick_start_on_the_clock(tmp_path: Path) -> None:
    """``run`` ticks now, then sleeps exactly to the start of the next tick (on the injected
    clock, whose sleep here moves it); three ticks, three consecutive numbers."""
    clock = FakeClock(START)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    with Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", clock=clock) as ledger:
        reports = list(Scheduler(ledger, clock=clock, every=EVERY).run(ticks=3, sleep=sleep))
    assert [r["tick"] for r in reports] == [reports[0]["tick"] + i for i in range(3)]
    assert all(r["claimed"] for r in reports)
    assert slept == [12 * 60.0, 15 * 60.0]  # 07:03 -> 07:15, then a whole tick


def test_the_swarm_scouts_and_advances_on_ticks_within_its_daily_cap(
    db_url: str, tmp_path: Path
) -> None:
    """Ticks scout and carry proposals to their gate; a person approves; the next tick
    applies it on its branch. With two proposals a day, the third finding waits for the next
    UTC day's tick."""
    repo = make_repo(tmp_path)
    log = tmp_path / "errors.log"
    log.write_text(
        "2091-06-04 ERROR worker crashed: KeyError 'area'\n"
        "2091-06-04 ERROR worker crashed: KeyError 'tech'\n"
    )
    clock = FakeClock(START)
    config = SwarmConfig(repo=repo, error_logs=(log,), daily_proposals=2)
    with Ledger.open(db_url, clock=clock) as ledger:
        sw = open_swarm(ledger, config, provider=provider(), approvers=[APPROVER])
        job = SwarmJob(swarm=sw, sources=("ruff", "error_log"))
        scheduler = Scheduler(ledger, clock=clock, swarm=job, every=EVERY)
        first = scheduler.tick()
        assert first["swarm"]["filed"] == 2
        assert first["swarm"]["deferred"] == 1
        statuses = sorted(a["status"] for a in first["swarm"]["advanced"])
        # The ruff finding has the scripted model's patch: green, at its gate; an error-log
        # finding has no rule in the scripted model: no patch.
        assert statuses == ["awaiting_approval", "build_failed"]
        again = scheduler.tick()  # the same tick: nothing
        assert again["claimed"] is False
        clock.advance(EVERY)
        later = scheduler.tick()
        assert later["swarm"]["filed"] == 0
        assert later["swarm"]["deferred"] == 1  # the day's two are spent
        waiting = [r for r in sw.store.list() if r.status == "awaiting_approval"]
        assert len(waiting) == 1
        for row in waiting:
            sw.decide(row.proposal_id, "approve", APPROVER)
        clock.advance(EVERY)
        applied = scheduler.tick()
        done = {a["proposal_id"]: a["status"] for a in applied["swarm"]["advanced"]}
        assert all(done[row.proposal_id] == "applied" for row in waiting)
        clock.advance(timedelta(days=1))
        next_day = scheduler.tick()
        assert next_day["swarm"]["filed"] == 1
        assert next_day["swarm"]["deferred"] == 0
        assert len(sw.store.list()) == 3
        assert next_day["errors"] == []


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_the_cli_ticks_once_and_refuses_a_bad_every(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ops schedule --once --format json``: one claimed tick; a second run in the same
    window is told it was done; a bad ``--every`` exits 2 with one line."""
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    args = ("ops", "schedule", "--db", db, "--once", "--every", "1d", "--format", "json")
    code, out, err = _cli(capsys, *args)
    assert code == 0, err
    report = json.loads(out)
    assert report["claimed"] is True
    assert report["campaigns"] == []
    code, out, err = _cli(capsys, *args)
    assert code == 0, err
    second = json.loads(out)
    assert second["claimed"] is False
    assert second["tick"] == report["tick"]
    code, out, err = _cli(capsys, "ops", "schedule", "--db", db, "--once", "--every", "2w")
    assert code == 2
    assert "--every" in err
    assert len(err.strip().splitlines()) == 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12) | st.from_regex(r"\A\s*\d{1,7}\s*[smhdw]?\s*\Z"))
def test_every_is_parsed_or_refused_with_a_reason(text: str) -> None:
    """Any text: a tick length within 1 minute .. 1 day, or InvalidInputError naming --every."""
    try:
        every = parse_every(text)
    except InvalidInputError as exc:
        message = str(exc)
    else:
        assert timedelta(minutes=1) <= every <= timedelta(days=1)
        return
    assert message.startswith("--every: ")


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("1h", 3600), ("90s", 90), ("1d", 86400)]
)
def test_every_reads_its_units(text: str, seconds: int) -> None:
    """The four units."""
    assert parse_every(text) == timedelta(seconds=seconds)
