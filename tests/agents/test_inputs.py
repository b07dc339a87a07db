"""Inputs that cannot be read, and events from the future (issue 15, item 5).

A file that cannot be read at all is an error (exit 1, one line on stderr, the detail in the
dead letter) for ``scorecard``, ``tails`` and ``agents run``; an event dated past the clock
(``agents run``) or past ``--as-of`` (file commands) plus the tolerated skew is a dead letter.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tailguard.agents.testing import RecordingDownstreamServer
from tailguard.cli import main
from tailguard.errors import InvalidInputError
from tailguard.events import read_all, write_events
from tailguard.events.skew import parse_skew

from ._runs import write_sim_events

AS_OF = "2026-01-07T00:00:00Z"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated days of two areas (from 2026-01-05)."""
    return write_sim_events(
        tmp_path_factory.mktemp("inputs") / "good.jsonl", areas=2, days=2, seed=3
    )


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), out, err


def _commands(events: Path, tmp: Path, url: str) -> dict[str, list[str]]:
    dead = ["--dead-letter", str(tmp / "dead.jsonl")]
    return {
        "scorecard": ["scorecard", "--events", str(events), "--as-of", AS_OF, *dead],
        "tails": ["tails", "--events", str(events), "--as-of", AS_OF, *dead],
        "agents run": [
            "agents", "run", "--events", str(events), "--db", str(tmp / "l.db"),
            "--downstream", url, "--warmup-days", "1", *dead,
        ],
    }  # fmt: skip


@pytest.mark.parametrize("command", ["scorecard", "tails", "agents run"])
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_an_unreadable_parquet_file_is_an_error_not_an_empty_result(
    good: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    damage: str,
) -> None:
    """Exit 1 with one line on stderr; the dead letter says why."""
    parquet = tmp_path / "events.parquet"
    write_events(read_all(good), parquet)
    data = parquet.read_bytes()
    broken = {"truncated": data[: len(data) // 2], "garbage": b"not parquet" * 50, "empty": b""}
    parquet.write_bytes(broken[damage])
    with RecordingDownstreamServer() as server:
        code, out, err = _cli(
            capsys, *_commands(parquet, tmp_path, server.url)[command], "--format", "json"
        )
    assert code == 1, (out, err)
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "unreadable Parquet" in err
    (dead,) = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert "unreadable Parquet file" in dead["reason"]


@pytest.mark.parametrize("command", ["scorecard", "tails", "agents run"])
def test_events_dated_far_in_the_future_go_to_the_dead_letter(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """A year-2999 event is rejected with its reason; the rest of the file is used."""
    lines = good.read_text().splitlines()
    stray = json.loads(lines[-1])
    stray.update(event_id="from-the-future", ts="2999-01-01T00:00:00Z")
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([*lines, json.dumps(stray)]) + "\n")
    with RecordingDownstreamServer() as server:
        args = [*_commands(events, tmp_path, server.url)[command], "--format", "json"]
        if command == "agents run":
            args += ["--hours", "3"]
        code, out, err = _cli(capsys, *args)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["dead_letter"]["count"] == 1
    if command == "agents run":
        assert summary["skipped_hours"] == 0
    (dead,) = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert "2999-01-01T00:00:00Z is in the future" in dead["reason"]
    assert "from-the-future" in dead["raw"]


def test_the_skew_is_configurable(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --max-skew 0, an event an hour after --as-of is a future event too."""
    lines = good.read_text().splitlines()
    stray = json.loads(lines[-1])
    stray.update(event_id="an-hour-late", ts="2026-01-07T01:00:00Z")
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([*lines, json.dumps(stray)]) + "\n")
    base = _commands(events, tmp_path, "")["scorecard"]
    code, out, _ = _cli(capsys, *base, "--format", "json")
    assert (code, json.loads(out)["dead_letter"]["count"]) == (0, 0)
    code, out, _ = _cli(capsys, *base, "--max-skew", "0", "--format", "json")
    assert (code, json.loads(out)["dead_letter"]["count"]) == (0, 1)
    assert _cli(capsys, *base, "--max-skew", "soon")[0] == 2


@given(
    value=st.integers(min_value=0, max_value=10**6),
    unit=st.sampled_from(["d", "h", "m", "s", "D", ""]),
    pad=st.sampled_from(["", " "]),
)
def test_parse_skew_reads_every_unit(value: int, unit: str, pad: str) -> None:
    """``<n><unit>`` is n days, hours, minutes or seconds (no unit: seconds)."""
    seconds = {"d": 86_400, "h": 3_600, "m": 60, "s": 1, "": 1}[unit.lower()]
    assert parse_skew(f"{pad}{value}{unit}{pad}") == timedelta(seconds=value * seconds)


@given(st.text(max_size=8))
def test_parse_skew_refuses_what_it_cannot_read(text: str) -> None:
    """Anything else is an InvalidInputError, never another exception."""
    try:
        skew = parse_skew(text)
    except InvalidInputError:
        return
    assert skew >= timedelta(0)
