"""``tailguard agents run | catalogue``: the summary, exit codes and one-line refusals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tailguard.agents.catalogue import DEFAULT_CATALOGUE_TEXT, default_catalogue
from tailguard.agents.testing import RecordingDownstreamServer
from tailguard.cli import main
from tailguard.events import open_bus, read_all

from ._runs import MALFORMED, with_malformed, write_sim_events


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated days of two areas, with the malformed lines among them."""
    folder = tmp_path_factory.mktemp("cli-events")
    good = write_sim_events(folder / "good.jsonl", areas=2, days=2, seed=3)
    return with_malformed(good, folder / "events.jsonl")


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), out, err


def _bad_catalogue(path: Path) -> tuple[Path, int]:
    """The default catalogue with its first trigger renamed to an unknown one, and that line."""
    lines = DEFAULT_CATALOGUE_TEXT.splitlines()
    k = next(i for i, line in enumerate(lines) if line.strip().startswith("trigger:"))
    lines[k] = lines[k].split("trigger:")[0] + "trigger: [no_such_trigger]"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, k + 1


def test_run_replays_a_file_and_prints_a_json_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, small_file: Path
) -> None:
    """`agents run --events` ticks, counts dead letters, and leaves a ledger that verifies."""
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    with RecordingDownstreamServer() as server:
        code, out, err = _cli(
            capsys,
            "agents",
            "run",
            "--events",
            str(small_file),
            "--db",
            db,
            "--downstream",
            server.url,
            "--warmup-days",
            "1",
            "--hours",
            "3",
            "--dead-letter",
            str(tmp_path / "dead.jsonl"),
            "--format",
            "json",
        )
        executed = len(server.executed)
    assert code == 0, err
    summary = json.loads(out)  # stdout holds only the JSON
    assert summary["mode"] == "replay"
    assert summary["ticks"] == 3
    assert summary["warmup_hours"] == 24
    assert summary["dead_letter"] == {"count": len(MALFORMED), "path": str(tmp_path / "dead.jsonl")}
    assert summary["decisions"]["total"] == sum(summary["decisions"]["by_kind"].values())
    assert set(summary["gates"]) == {"opened", "pending", "approved", "rejected", "timed_out"}
    assert summary["executed"] == executed
    assert summary["stopped_by"] == "hours"
    assert (tmp_path / "pulse.db").exists()  # beside the ledger, where `serve` looks
    assert _cli(capsys, "ledger", "verify", "--db", db)[0] == 0


def test_run_prints_a_table_summary_for_people(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, small_file: Path
) -> None:
    """Without --format json the summary is a few readable lines, and still exit 0."""
    with RecordingDownstreamServer() as server:
        code, out, _ = _cli(
            capsys,
            "agents",
            "run",
            "--events",
            str(small_file),
            "--db",
            str(tmp_path / "l.db"),
            "--downstream",
            server.url,
            "--warmup-days",
            "1",
            "--hours",
            "1",
        )
    assert code == 0
    assert "ticks: 1" in out
    assert f"{len(MALFORMED)} dead-lettered" in out


@pytest.mark.parametrize(("server", "wire"), [("redis", "arrow"), ("nats", "json")])
def test_run_follows_a_bus_and_shows_progress_while_catching_up(
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    tmp_path: Path,
    unique_prefix: str,
    server: str,
    wire: str,
) -> None:
    """`agents run --bus` with --tick-every and --hours ticks and stops by itself, telling on
    stderr how the catch-up of the backlog goes (Arrow and JSON messages alike)."""
    events = write_sim_events(tmp_path / "day.jsonl", areas=2, days=1, seed=4)
    bus_url = f"{request.getfixturevalue(server + '_url')}?stream={unique_prefix}"
    publisher = open_bus(bus_url, format=wire)
    try:
        publisher.publish(read_all(events))
        with RecordingDownstreamServer() as server:
            code, out, err = _cli(
                capsys,
                "agents",
                "run",
                "--bus",
                bus_url,
                "--db",
                str(tmp_path / "l.db"),
                "--downstream",
                server.url,
                "--warmup-days",
                "0.25",
                "--tick-every",
                "0.05",
                "--poll",
                "0.02",
                "--hours",
                "2",
                "--format",
                "json",
            )
    finally:
        publisher.drop()  # type: ignore[attr-defined]
        publisher.close()
    assert code == 0, err
    summary = json.loads(out)
    assert summary["mode"] == "follow"
    assert summary["ticks"] == 2
    assert summary["events"]["ingested"] > 0
    assert "catching up: hour ending " in err
    assert "messages waiting on the bus" in err
    assert "caught up: 6 hours" in err


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--events", "{tmp}/missing.jsonl"], "no such file"),
        (["--events", "{tmp}/events.csv"], "suffix"),
        ([], "exactly one of --events"),
        (["--events", "{events}", "--bus", "nats://127.0.0.1:4222?stream=x"], "exactly one"),
        (["--events", "{events}", "--start", "2026-01-05T00:00:00Z"], "go with --bus"),
        (["--events", "{events}", "--downstream", "ftp://agents.example"], "http(s) URL"),
        (
            [
                "--events",
                "{events}",
                "--downstream",
                "http://h:1",
                "--downstream",
                "nosuch=http://h:2",
            ],
            "no catalogue entry",
        ),
        (["--bus", "kafka://h:1?stream=s"], "scheme"),
        (["--bus", "redis://127.0.0.1:1/0?stream=s"], "not reachable"),
        (["--events", "{events}", "--rules", "{tmp}/missing-rules.yaml"], "missing-rules.yaml"),
        (["--events", "{events}", "--hours", "0"], "--hours"),
        (["--events", "{events}", "--pulse", "mongodb://h/x"], "pulse store URL"),
    ],
)
def test_run_refuses_bad_input_with_exit_2_and_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    small_file: Path,
    args: list[str],
    reason: str,
) -> None:
    """Bad input exits 2 with a one-line reason on stderr and nothing on stdout."""
    filled = [a.format(tmp=tmp_path, events=small_file) for a in args]
    if "--downstream" not in filled and args:
        filled += ["--downstream", "http://127.0.0.1:9"]
    code, out, err = _cli(
        capsys, "agents", "run", "--db", str(tmp_path / "l.db"), *filled, "--format", "json"
    )
    assert code == 2
    assert out == ""
    assert err.startswith("tailguard: error:")
    assert err.count("\n") == 1
    assert reason in err


def test_run_refuses_a_bad_catalogue_naming_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, small_file: Path
) -> None:
    """A catalogue with an unknown trigger is refused with file:line: reason, exit 2."""
    path, line = _bad_catalogue(tmp_path / "cat.yaml")
    code, _, err = _cli(
        capsys,
        "agents",
        "run",
        "--events",
        str(small_file),
        "--db",
        str(tmp_path / "l.db"),
        "--downstream",
        "http://127.0.0.1:9",
        "--catalogue",
        str(path),
    )
    assert code == 2
    assert f"{path}:{line}:" in err
    assert "no_such_trigger" in err


def test_catalogue_prints_entries_triggers_and_policies(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`agents catalogue --format json` lists every entry with its policy, and the triggers."""
    code, out, _ = _cli(capsys, "agents", "catalogue", "--format", "json")
    assert code == 0
    data = json.loads(out)
    cat = default_catalogue()
    assert [e["id"] for e in data["entries"]] == [e.id for e in cat.entries]
    assert set(data["triggers"]) == set(cat.by_trigger())
    high = [e for e in data["entries"] if e["policy"]["risk_level"] == "execute_high"]
    assert high
    assert all(e["policy"]["requires_approval"] for e in high)
    assert data["downstreams"] == sorted({e.downstream for e in cat.entries})
    code, out, _ = _cli(capsys, "agents", "catalogue")
    assert code == 0
    assert cat.entries[0].id in out


def test_catalogue_refuses_a_bad_file_naming_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`agents catalogue --catalogue BAD` exits 2 with file:line: reason."""
    path, line = _bad_catalogue(tmp_path / "cat.yaml")
    code, out, err = _cli(capsys, "agents", "catalogue", "--catalogue", str(path))
    assert code == 2
    assert out == ""
    assert f"{path}:{line}:" in err


@pytest.mark.parametrize(
    "args", [["agents", "--help"], ["agents", "run", "--help"], ["agents", "catalogue", "--help"]]
)
def test_every_agents_command_has_help(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    """--help on the group and each command prints usage and exits 0."""
    code, out, _ = _cli(capsys, *args)
    assert code == 0
    assert "Usage" in out


def test_run_replays_parquet_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, small_file: Path
) -> None:
    """A .parquet event file replays like JSON Lines."""
    from tailguard.events import write_events

    parquet = tmp_path / "events.parquet"
    write_events(read_all(small_file.with_name("good.jsonl")), parquet)
    with RecordingDownstreamServer() as server:
        code, out, err = _cli(
            capsys,
            "agents",
            "run",
            "--events",
            str(parquet),
            "--db",
            str(tmp_path / "l.db"),
            "--downstream",
            server.url,
            "--warmup-days",
            "1",
            "--hours",
            "1",
            "--format",
            "json",
        )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["ticks"] == 1
    assert summary["dead_letter"]["count"] == 0


def test_sigterm_stops_a_follow_cleanly_with_its_summary(tmp_path: Path) -> None:
    """SIGTERM ends `agents run --bus` after its current step: summary on stdout, exit 0."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tailguard",
            "agents",
            "run",
            "--bus",
            "memory://",
            "--db",
            str(tmp_path / "l.db"),
            "--downstream",
            "http://127.0.0.1:9",
            "--poll",
            "0.05",
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # printed once the handlers are in place
    assert first.startswith("following memory://")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["stopped_by"] == "stopped"
    assert summary["mode"] == "follow"


def test_downstream_calls_carry_the_header_given_on_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, small_file: Path
) -> None:
    """--downstream-header 'Authorization: Bearer T' goes with every REST call; a malformed
    header is refused without echoing its value."""
    with RecordingDownstreamServer() as server:
        code, _, err = _cli(
            capsys, "agents", "run", "--events", str(small_file), "--db", str(tmp_path / "l.db"),
            "--downstream", server.url, "--downstream-header", "Authorization: Bearer s3cret",
            "--warmup-days", "1", "--hours", "6", "--format", "json",
        )  # fmt: skip
        received = server.received
    assert code == 0, err
    assert received, "the run made no downstream call to check"
    assert {r.authorization for r in received} == {"Bearer s3cret"}
    code, _, err = _cli(
        capsys, "agents", "run", "--events", str(small_file), "--db", str(tmp_path / "m.db"),
        "--downstream", "http://127.0.0.1:9", "--downstream-header", "Bearer s3cret",
    )  # fmt: skip
    assert code == 2
    assert "'Name: value'" in err
    assert "s3cret" not in err
