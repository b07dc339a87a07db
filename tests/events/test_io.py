"""Reading and writing event files: streaming, round trips, determinism, hostile bytes."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailguard.errors import InvalidInputError, NotFoundError, UnreadableInputError
from tailguard.events import (
    EVENT_SCHEMAS,
    WIDE_SCHEMA,
    DeadLetterSink,
    EventWriter,
    read_all,
    read_events,
    synthetic_events,
    write_events,
)

from ._helpers import VALID, event

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _dead(sink: DeadLetterSink) -> list[dict[str, Any]]:
    sink.close()
    if not sink.path.exists():
        return []
    return [json.loads(line) for line in sink.path.read_text().splitlines()]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_synthetic_events_round_trip_exactly(suffix: str, tmp_path: Path) -> None:
    """Events written to any format read back equal, extra fields included."""
    table = synthetic_events(3_000, seed=7, extra_every=5)
    path = tmp_path / f"events{suffix}"
    assert write_events(table, path) == 3_000
    assert read_all(path).equals(table)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".parquet"])
def test_same_events_give_same_bytes_however_batched(suffix: str, tmp_path: Path) -> None:
    """One table or many small batches of the same events produce identical files."""
    table = synthetic_events(5_000, seed=3, extra_every=9)
    whole, pieces = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    write_events(table, whole)
    with EventWriter(pieces) as writer:
        for batch in table.to_batches(max_chunksize=777):
            writer.write(batch)
    assert whole.read_bytes() == pieces.read_bytes()


def test_parquet_output_has_fixed_options_and_no_write_time_metadata(tmp_path: Path) -> None:
    """Written Parquet uses zstd, the wide schema, and carries no timestamp of writing."""
    path = tmp_path / "e.parquet"
    write_events(synthetic_events(100, seed=1), path)
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert set(meta.metadata or {}) == {b"ARROW:schema"}
    assert pq.read_schema(path).remove_metadata() == WIDE_SCHEMA


def test_jsonl_line_has_common_then_own_fields_and_z_timestamps(tmp_path: Path) -> None:
    """A JSONL line lists the common fields, then the type's own in order, then extras."""
    path = tmp_path / "e.jsonl"
    src = tmp_path / "src.jsonl"
    obj = event("job.completed", zz_note="hi")
    src.write_text(json.dumps(obj) + "\n")
    write_events(read_all(src), path)
    line = path.read_text().splitlines()[0]
    keys = list(json.loads(line))
    assert keys == ["event_id", "type", "ts", "area_id", *VALID["job.completed"], "zz_note"]
    assert '"recall_of_job_id":null' in line
    assert '"arrived_at":"2026-01-05T12:10:00.250000Z"' in line
    assert '"ts":"2026-01-05T09:00:00Z"' in line


def test_valid_event_of_each_type_round_trips_jsonl_table_jsonl(tmp_path: Path) -> None:
    """Valid JSONL -> table -> JSONL -> table, and via Parquet, preserves every event."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(event(t, f"E-{t}")) + "\n" for t in VALID))
    first = read_all(src)
    again = tmp_path / "again.jsonl"
    write_events(first, again)
    assert read_all(again).equals(first)
    for obj, line in zip(
        (event(t, f"E-{t}") for t in VALID), again.read_text().splitlines(), strict=True
    ):
        assert json.loads(line) == obj
    pq_path = tmp_path / "again.parquet"
    write_events(first, pq_path)
    assert read_all(pq_path).equals(first)


def test_reader_yields_bounded_batches(tmp_path: Path) -> None:
    """The reader never yields more than batch_size events at once, for either format."""
    table = synthetic_events(2_500, seed=2)
    for suffix in (".jsonl", ".parquet"):
        path = tmp_path / f"e{suffix}"
        write_events(table, path)
        sizes = [t.num_rows for t in read_events(path, batch_size=1_000)]
        assert sizes == [1_000, 1_000, 500]


def test_bad_lines_are_dead_lettered_and_the_rest_proceeds(tmp_path: Path) -> None:
    """Invalid JSON, bad UTF-8, blank and over-long lines never stop the file."""
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(event("cx.chat", "a")).encode(),
        b"{not json",
        b"\xff\xfe garbage",
        b"",
        json.dumps(event("cx.survey", "b", nps=11)).encode(),
        b"x" * (1 << 20) + b"y",
        json.dumps(event("cx.chat", "c")).encode(),
    ]
    path.write_bytes(b"\n".join(lines))  # no newline at the very end
    sink = DeadLetterSink(tmp_path / "dead.jsonl")
    table = read_all(path, dead_letter=sink)
    assert table.column("event_id").to_pylist() == ["a", "c"]
    dead = _dead(sink)
    assert [d["line"] for d in dead] == [2, 3, 5, 6]
    assert dead[0]["reason"].startswith("line 2: invalid JSON: ")
    assert dead[1]["reason"].startswith("line 3: invalid UTF-8: ")
    assert dead[2]["reason"] == "line 5: nps 11 out of range 0-10"
    assert dead[3]["reason"].startswith("line 6: line longer than 1048576 bytes")
    assert sink.count == 4


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    """A cut gzip stream yields the events before the cut and one dead letter for the cut."""
    body = "".join(json.dumps(event("cx.chat", f"e{i}")) + "\n" for i in range(2_000))
    data = gzip.compress(body.encode(), mtime=0)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    sink = DeadLetterSink(tmp_path / "dead.jsonl")
    table = read_all(path, dead_letter=sink)
    assert 0 < table.num_rows < 2_000
    dead = _dead(sink)
    assert len(dead) == 1
    assert "unreadable compressed stream" in dead[0]["reason"]


def test_narrow_per_type_parquet_files_load(tmp_path: Path) -> None:
    """A Parquet file in one type's narrow schema loads into the wide schema."""
    wide = synthetic_events(400, seed=5)
    survey = wide.filter(pa.compute.equal(wide.column("type"), "cx.survey"))
    narrow = survey.select(EVENT_SCHEMAS["cx.survey"].names).cast(EVENT_SCHEMAS["cx.survey"])
    path = tmp_path / "surveys.parquet"
    pq.write_table(narrow, path)
    assert read_all(path).equals(survey)


def test_parquet_file_missing_a_needed_column_dead_letters_each_row(tmp_path: Path) -> None:
    """A Parquet file without a column its events need rejects those rows by number."""
    wide = synthetic_events(50, seed=5)
    path = tmp_path / "partial.parquet"
    pq.write_table(wide.drop_columns(["sentiment"]), path)
    sink = DeadLetterSink(tmp_path / "dead.jsonl")
    table = read_all(path, dead_letter=sink)
    chats = wide.column("type").to_pylist().count("cx.chat")
    assert table.num_rows == 50 - chats
    dead = _dead(sink)
    assert len(dead) == chats
    assert all(d["reason"].endswith("missing field 'sentiment'") for d in dead)


def test_missing_file_and_unknown_suffix_are_usage_errors(tmp_path: Path) -> None:
    """A missing file or an unknown suffix raises a clear error, not a dead letter."""
    with pytest.raises(NotFoundError):
        list(read_events(tmp_path / "none.jsonl"))
    with pytest.raises(InvalidInputError, match="suffix"):
        list(read_events(tmp_path / "events.csv"))


def _read_bytes(tmp_path: Path, name: str, data: bytes) -> tuple[pa.Table, list[dict[str, Any]]]:
    path = tmp_path / name
    path.write_bytes(data)
    dead_path = tmp_path / f"{name}.dead"
    dead_path.unlink(missing_ok=True)
    sink = DeadLetterSink(dead_path)
    try:
        table = read_all(path, dead_letter=sink)
    except UnreadableInputError:
        # Nothing of the file could be read: an error, with the detail in the dead letter.
        table = WIDE_SCHEMA.empty_table()
    return table, _dead(sink)


@SETTINGS
@given(data=st.binary(max_size=2_000))
def test_any_bytes_as_jsonl_give_events_or_dead_letters(tmp_path: Path, data: bytes) -> None:
    """Arbitrary bytes read as JSONL never raise; output is wide and rejects are counted."""
    table, dead = _read_bytes(tmp_path, "fuzz.jsonl", data)
    assert table.schema == WIDE_SCHEMA
    nonblank = [ln for ln in data.split(b"\n") if ln.strip(b" \t\r\n\x0b\x0c")]
    assert table.num_rows + len(dead) <= max(len(nonblank), 1)


@SETTINGS
@given(data=st.binary(max_size=2_000))
def test_any_bytes_as_parquet_give_events_or_dead_letters(tmp_path: Path, data: bytes) -> None:
    """Arbitrary bytes (with and without Parquet magic) read as Parquet give one dead letter
    (and an UnreadableInputError, caught by ``_read_bytes``), never another exception."""
    for blob in (data, b"PAR1" + data + b"PAR1"):
        table, dead = _read_bytes(tmp_path, "fuzz.parquet", blob)
        assert table.num_rows == 0
        assert len(dead) == 1


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def _mutated_event(draw: st.DrawFn) -> dict[str, Any]:
    obj = event(draw(st.sampled_from(sorted(VALID))), "E-x")
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*obj, "type", "extra_key"]))
        action = draw(st.sampled_from(["drop", "replace"]))
        if action == "drop":
            obj.pop(key, None)
        else:
            obj[key] = draw(_JSON)
    return obj


@SETTINGS
@given(objs=st.lists(_mutated_event(), min_size=1, max_size=8))
def test_mutated_events_are_either_valid_or_dead_lettered(
    tmp_path: Path, objs: list[dict[str, Any]]
) -> None:
    """Every mutated event lands in exactly one place: the table or the dead letter."""
    body = "".join(json.dumps(o) + "\n" for o in objs)
    table, dead = _read_bytes(tmp_path, "mut.jsonl", body.encode("utf-8", "surrogatepass"))
    assert table.num_rows + len(dead) == len(objs)
    if table.num_rows:
        out = tmp_path / "mut-out.jsonl"
        write_events(table, out)
        assert read_all(out).equals(table)


@pytest.mark.slow
def test_mutated_parquet_bytes_never_raise(tmp_path: Path) -> None:
    """Flipping bytes inside a valid Parquet file gives events or dead letters (or, when
    nothing can be read, an UnreadableInputError), never a crash."""
    good = tmp_path / "good.parquet"
    write_events(synthetic_events(300, seed=11), good)
    original = good.read_bytes()
    rng = random.Random(0)
    for round_ in range(40):
        data = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(4, len(data) - 4)] = rng.randrange(256)
        table, _ = _read_bytes(tmp_path, f"m{round_}.parquet", bytes(data))
        assert table.schema == WIDE_SCHEMA
