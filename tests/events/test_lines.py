"""The bulk JSON Lines path gives exactly what the per-line path gives: same events, same rejects."""

from __future__ import annotations

import gzip
import json
import math
import tempfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailguard.events import DeadLetterSink, read_events, synthetic_events
from tailguard.events._rules import KINDS
from tailguard.events.jsonl import encode_jsonl
from tailguard.events.lines import SHAPE, check_lines
from tailguard.events.validate import Rejects, check_records_at

Letters = list[tuple[int | None, str, str]]


def _letters(path: Path) -> Letters:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [(d["line"], d["reason"], d["raw"]) for d in rows]


def _both(lines: list[str]) -> tuple[tuple[pa.Table, Letters], tuple[pa.Table, Letters]]:
    """(bulk path, per-line path) on the same batch: valid events and dead letters."""
    numbers = list(range(1, len(lines) + 1))
    with tempfile.TemporaryDirectory() as tmp:
        out = []
        for name in ("bulk", "rows"):
            path = Path(tmp) / f"{name}.dead"
            with DeadLetterSink(path) as sink:
                rejects = Rejects(sink, "test")
                if name == "bulk":
                    table = check_lines(numbers, lines, rejects)
                else:
                    table = check_records_at(list(zip(numbers, lines, strict=True)), rejects)[0]
                rejects.end_batch()
            out.append((table, _letters(path)))
    return out[0], out[1]


def _same(lines: list[str]) -> tuple[pa.Table, Letters]:
    (got, got_dead), (want, want_dead) = _both(lines)
    assert got_dead == want_dead
    assert got.equals(want)
    # Bit for bit, signs of zero included (equals() calls -0.0 and 0.0 equal).
    for name in ("revenue", "parts_cost", "tech_pay", "sentiment", "lead_time_days"):
        for a, b in zip(got.column(name).to_pylist(), want.column(name).to_pylist(), strict=True):
            assert a is None or math.copysign(1, a) == math.copysign(1, b)
    return got, got_dead


def _written(rows: int, seed: int) -> list[str]:
    """Lines as the writer writes them (the common shape), extras every third event."""
    table = synthetic_events(rows, seed=seed, extra_every=3)
    return encode_jsonl(table).decode("utf-8").splitlines()


def _replace(line: str, field: str, text: str) -> str:
    """``line`` with one member's value text replaced (compact lines: '"field":value')."""
    try:
        obj = json.loads(line)
    except ValueError:
        return line  # already broken by an earlier edit
    if not isinstance(obj, dict) or field not in obj or f'"{field}":' not in line:
        return line
    head = f'"{field}":'
    start = line.index(head) + len(head)
    old = json.dumps(obj[field], separators=(",", ":"), ensure_ascii=False)
    if line[start : start + len(old)] != old:
        return line  # an earlier edit spelled the value differently (1.5e3 for 1500.0)
    return line[:start] + text + line[start + len(old) :]


# Value texts on both sides of the shape: fine, out of range, wrong type, not plain JSON.
VALUE_TEXTS = [
    '""',
    '"x"',
    '"2026-01-05T10:00:00Z"',
    '"2026-02-30T10:00:00Z"',
    '"2026-01-05T24:00:00Z"',
    '"2026-13-01T00:00:00Z"',
    '"0000-01-01T00:00:00Z"',
    '"0001-01-01T00:00:00.000001Z"',
    '"9999-12-31T23:59:59.999999Z"',
    '"2026-01-05T10:00:00.123456789Z"',
    '"2026-01-05t10:00:00z"',
    '"2026-01-05 10:00:00.1234567+02:00"',
    '"not a time"',
    '"asleep"',
    '"a\\"b"',
    '"tab\there"',
    '"\\u00e9"',
    '"é"',
    "null",
    "true",
    "false",
    "0",
    "-0",
    "7",
    "11",
    "-3",
    "12345678901234567890",
    "123456789012345678",
    "9007199254740993",
    "0.5",
    "-0.0",
    "1.5e3",
    "1e400",
    "-1e-5",
    "1.0000000000000002",
    "2.5E+2",
    "NaN",
    "Infinity",
    "01",
    "1.",
    "[1]",
    '{"a":1}',
]


def test_written_lines_all_take_the_bulk_path_and_agree() -> None:
    lines = _written(400, seed=3)
    assert pl.Series(lines).str.contains(SHAPE).all()
    got, dead = _same(lines)
    assert dead == []
    assert got.num_rows == 400
    assert any(text for text in got.column("extra").to_pylist())


def test_a_mixed_batch_gives_the_same_events_and_dead_letters() -> None:
    lines = _written(300, seed=5)
    edits: list[tuple[int, str, str]] = []
    fields = ["event_id", "type", "ts", "nps", "revenue", "sentiment", "status", "on_hand"]
    fields += ["window_start", "recall_of_job_id", "first_time_fix", "tech_id", "eta"]
    for k, text in enumerate(VALUE_TEXTS):
        for j, field in enumerate(fields):
            edits.append(((7 * k + 3 * j) % 300, field, text))
    for row, field, text in edits:
        lines[row] = _replace(lines[row], field, text)
    extras = [
        ',"hired_on":"2025-03-01"',
        ',"n":-0',
        ',"n":12',
        ',"f":1.50',
        ',"job_id":"J-dup"',
        ',"sku":"SKU-9"',
        ',"extra":"x"',
        ',"nested":{"a":1}',
        ',"a":"x","b":"y"',
        ', "spaced":1',
        ',"esc":"a\\nb"',
    ]
    for k, text in enumerate(extras):
        row = 11 * k + 1
        lines[row] = lines[row][:-1] + text + "}"
    lines[5] = " " + lines[5]
    lines[6] = lines[6][:-1]  # bad JSON
    lines[8] = "[1,2]"
    got, dead = _same(lines)
    assert len(dead) >= 40
    reasons = " ".join(reason for _, reason, _ in dead)
    for word in ("out of range", "must be", "invalid JSON", "RFC 3339", "unknown"):
        assert word in reasons
    assert got.num_rows > 100


@st.composite
def _edited(draw: st.DrawFn) -> list[str]:
    lines = _written(24, seed=draw(st.integers(0, 3)))
    for _ in range(draw(st.integers(1, 10))):
        row = draw(st.integers(0, len(lines) - 1))
        if draw(st.booleans()):
            field = draw(st.sampled_from(sorted(KINDS)))
            text = draw(
                st.sampled_from(VALUE_TEXTS)
                | st.floats().map(lambda f: json.dumps(f))
                | st.integers(-(10**20), 10**20).map(str)
                | st.text(max_size=6).map(lambda t: json.dumps(t, ensure_ascii=False))
                | st.from_regex(
                    r"-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
                )
            )
            lines[row] = _replace(lines[row], field, text)
        else:
            key = draw(st.sampled_from(["hired_on", "job_id", "nps", "x", "type", ""]))
            value = draw(st.sampled_from(VALUE_TEXTS))
            lines[row] = lines[row][:-1] + f',"{key}":{value}' + "}"
    return lines


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_edited())
def test_bulk_path_equals_the_per_line_path_on_any_edited_batch(lines: list[str]) -> None:
    _same(lines)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_reader_gives_the_per_line_result_across_batches(suffix: str, tmp_path: Path) -> None:
    lines = _written(500, seed=9)
    lines[10] = _replace(lines[10], "ts", '"soon"')
    lines[20] = "\ufeff" + lines[20]
    lines.insert(30, "   ")
    lines.insert(31, "")
    body = ("\r\n".join(lines) + "\r\n").encode("utf-8")
    path = tmp_path / f"e{suffix}"
    if suffix.endswith(".gz"):
        path.write_bytes(gzip.compress(body))
    else:
        path.write_bytes(body)
    dead = tmp_path / "dead.jsonl"
    with DeadLetterSink(dead) as sink:
        batches = list(read_events(path, dead_letter=sink, batch_size=64))
    assert all(batch.num_rows <= 64 for batch in batches)
    table = pa.concat_tables(batches)
    nonblank = [(n, t) for n, t in enumerate(lines, 1) if t.strip()]
    with DeadLetterSink(tmp_path / "want.jsonl") as sink:
        rejects = Rejects(sink, str(path))
        want = check_records_at(nonblank, rejects)[0]
        rejects.end_batch()
    assert table.equals(want)
    assert [(n, r) for n, r, _ in _letters(dead)] == [
        (n, r) for n, r, _ in _letters(tmp_path / "want.jsonl")
    ]
    assert len(_letters(dead)) == 2
