"""Validation rules of INTERFACES.md section 1, on both the JSON and the columnar path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tailguard.errors import InvalidInputError
from tailguard.events import (
    EVENT_SCHEMAS,
    WIDE_SCHEMA,
    DeadLetterSink,
    validate_records,
    validate_table,
)

from ._helpers import event


def _run(objs: list[Any], tmp_path: Path) -> tuple[pa.Table, list[dict[str, Any]]]:
    sink = DeadLetterSink(tmp_path / "dead.jsonl")
    records = [(i + 1, o if isinstance(o, str) else json.dumps(o)) for i, o in enumerate(objs)]
    table = validate_records(records, source="test", dead_letter=sink)
    sink.close()
    dead = [json.loads(x) for x in sink.path.read_text().splitlines()] if sink.path.exists() else []
    return table, dead


def test_valid_events_of_every_type_pass(all_types: list[dict[str, Any]], tmp_path: Path) -> None:
    """One valid event of each type comes out in the wide schema with nothing rejected."""
    table, dead = _run(all_types, tmp_path)
    assert dead == []
    assert table.schema == WIDE_SCHEMA
    assert table.column("type").to_pylist() == [e["type"] for e in all_types]


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        (event("cx.survey", tech_id=...), "line 1: missing field 'tech_id'"),
        (event("cx.survey", nps=11), "line 1: nps 11 out of range 0-10"),
        (event("cx.survey", nps=True), "line 1: field 'nps' must be an integer, got boolean"),
        (event("cx.survey", nps=7.0), "line 1: field 'nps' must be an integer, got number"),
        (event("cx.chat", sentiment=1.5), "line 1: sentiment 1.5 out of range -1..1"),
        (
            event("cx.chat", sentiment="0.1"),
            "line 1: field 'sentiment' must be a number, got string",
        ),
        (event("job.completed", revenue=-1), "line 1: revenue -1.0 out of range (must be >= 0)"),
        (
            event("job.completed", parts_used=-2),
            "line 1: parts_used -2 out of range (must be >= 0)",
        ),
        (event("job.completed", recall_of_job_id=...), "line 1: missing field 'recall_of_job_id'"),
        (event("job.completed", tech_id=None), "line 1: field 'tech_id' must not be null"),
        (
            event("job.completed", first_time_fix=1),
            "line 1: field 'first_time_fix' must be a boolean, got integer",
        ),
        (event("parts.stock", on_hand=-1), "line 1: on_hand -1 out of range (must be >= 0)"),
        (
            event("parts.stock", lead_time_days=-0.5),
            "line 1: lead_time_days -0.5 out of range (must be >= 0)",
        ),
        (event("tech.status", status="asleep"), "line 1: unknown tech status 'asleep'"),
        (event("cx.chat", type="nope.nope"), "line 1: unknown event type 'nope.nope'"),
        (event("cx.chat", type=3), "line 1: field 'type' must be a string, got integer"),
        (event("cx.chat", event_id=...), "line 1: missing field 'event_id'"),
        (event("cx.chat", event_id=""), "line 1: field 'event_id' is empty"),
        (event("cx.chat", ts="yesterday"), "line 1: ts 'yesterday' is not an RFC 3339 timestamp"),
        (
            event("cx.chat", ts="2026-01-05T10:00:00"),
            "line 1: ts '2026-01-05T10:00:00' is not an RFC 3339 timestamp",
        ),
        (
            event("cx.chat", ts="2026-02-30T10:00:00Z"),
            "line 1: ts '2026-02-30T10:00:00Z' is not an RFC 3339 timestamp",
        ),
        (
            event("eta.update", eta=17),
            "line 1: field 'eta' must be an RFC 3339 timestamp string, got integer",
        ),
        ('{"event_id": "E-1", ', "line 1: invalid JSON: "),
        ("[1, 2]", "line 1: expected a JSON object, got array"),
        ('"\\ud800"', "line 1: expected a JSON object, got string"),
    ],
)
def test_bad_event_goes_to_dead_letter_with_reason(obj: Any, reason: str, tmp_path: Path) -> None:
    """Each kind of bad event is rejected with a precise reason and the good one beside it kept."""
    good = event("tech.status", "E-good")
    table, dead = _run([obj, good], tmp_path)
    assert table.column("event_id").to_pylist() == ["E-good"]
    assert len(dead) == 1
    assert dead[0]["reason"].startswith(reason)
    assert dead[0]["line"] == 1
    assert dead[0]["source"] == "test"


def test_timestamps_with_offsets_become_utc(tmp_path: Path) -> None:
    """An RFC 3339 timestamp with an offset or lower-case letters is converted to UTC."""
    objs = [
        event("cx.chat", "a", ts="2026-01-05T10:00:00+02:00"),
        event("cx.chat", "b", ts="2026-01-05t10:00:00.1234567z"),
    ]
    table, dead = _run(objs, tmp_path)
    assert dead == []
    assert table.column("ts").to_pylist() == [
        datetime(2026, 1, 5, 8, tzinfo=UTC),
        datetime(2026, 1, 5, 10, 0, 0, 123456, tzinfo=UTC),
    ]


def test_extra_and_foreign_fields_are_kept_in_extra(tmp_path: Path) -> None:
    """Unknown fields, and fields of other event types, are kept in ``extra`` and ignored."""
    obj = event("cx.chat", zeta=1, alpha={"x": [1, 2]}, nps=3)
    table, dead = _run([obj], tmp_path)
    assert dead == []
    row = table.to_pylist()[0]
    assert row["nps"] is None
    assert json.loads(row["extra"]) == {"alpha": {"x": [1, 2]}, "nps": 3, "zeta": 1}
    assert row["extra"].index("alpha") < row["extra"].index("zeta")


def test_mappings_with_datetimes_are_accepted(tmp_path: Path) -> None:
    """Already-parsed mappings may carry aware datetimes for timestamp fields."""
    obj = event("eta.update", ts=datetime(2026, 1, 5, 9, tzinfo=UTC))
    table = validate_records([(None, obj)], source="x", dead_letter=None)
    assert table.column("ts").to_pylist() == [datetime(2026, 1, 5, 9, tzinfo=UTC)]


def test_without_a_sink_bad_events_raise_instead_of_vanishing() -> None:
    """With no dead-letter sink, a bad event raises an InvalidInputError naming it."""
    with pytest.raises(InvalidInputError, match="nps 12 out of range"):
        validate_records([(1, event("cx.survey", nps=12))], source="x", dead_letter=None)


def test_dead_letters_are_written_in_line_order(tmp_path: Path) -> None:
    """Structural and range rejects of one batch reach the file sorted by line."""
    objs = [event("cx.survey", nps=11), "not json", event("cx.chat", sentiment=9.0), "[]"]
    _, dead = _run(objs, tmp_path)
    assert [d["line"] for d in dead] == [1, 2, 3, 4]


def test_dead_letter_file_is_created_only_when_something_is_rejected(tmp_path: Path) -> None:
    """The sink reports its path and a zero count without creating the file."""
    sink = DeadLetterSink(tmp_path / "never.jsonl")
    validate_records([(1, event("cx.chat"))], source="x", dead_letter=sink)
    sink.close()
    assert sink.count == 0
    assert not sink.path.exists()


def test_narrow_parquet_style_table_validates(tmp_path: Path) -> None:
    """A table in one type's narrow schema loads; out-of-range values are rejected by row."""
    schema = EVENT_SCHEMAS["cx.survey"]
    ts = datetime(2026, 1, 5, tzinfo=UTC)
    table = pa.table(
        {
            "event_id": ["a", "b"],
            "type": ["cx.survey", "cx.survey"],
            "ts": [ts, ts],
            "area_id": ["PA-1", "PA-1"],
            "job_id": ["J", "J"],
            "customer_id": ["C", "C"],
            "tech_id": ["T", "T"],
            "nps": pa.array([10, 11], pa.int8()),
            "extra": [None, None],
        },
        schema=schema,
    )
    sink = DeadLetterSink(tmp_path / "d.jsonl")
    valid = validate_table(table, source="p", dead_letter=sink)
    sink.close()
    assert valid.column("event_id").to_pylist() == ["a"]
    dead = json.loads(sink.path.read_text())
    assert dead["reason"] == "row 2: nps 11 out of range 0-10"


def test_table_with_missing_and_mistyped_columns_rejects_only_affected_rows() -> None:
    """A missing column fails rows whose type needs it; a wrong-typed column fails its rows."""
    ts = datetime(2026, 1, 5, tzinfo=UTC)
    table = pa.table(
        {
            "event_id": ["a", "b", "c"],
            "type": ["cx.chat", "tech.status", "cx.chat"],
            "ts": [ts, ts, ts],
            "area_id": ["A", "A", "A"],
            "customer_id": ["C", None, "C"],
            "sentiment": pa.array(["0.5", None, None]),  # strings: wrong Arrow type
            "mystery": [None, 5, None],
        }
    )
    bad: list[str] = []

    class Collect(DeadLetterSink):
        def add(self, *, reason: str, raw: str, source: str, line: int | None) -> None:
            bad.append(reason)

    valid = validate_table(table, source="t", dead_letter=Collect("/nonexistent/never"))
    assert valid.num_rows == 0
    assert bad == [
        "row 1: field 'sentiment' must be a number, got Arrow string",
        "row 2: missing field 'tech_id'",
        "row 3: missing field 'sentiment'",
    ]


def test_wide_table_moves_foreign_values_and_unknown_columns_to_extra() -> None:
    """In a wide table, another type's field and an unknown column travel in ``extra``."""
    ts = datetime(2026, 1, 5, tzinfo=UTC)
    table = pa.table(
        {
            "event_id": ["a"],
            "type": ["cx.chat"],
            "ts": pa.array([ts], pa.timestamp("ns", tz="Europe/Paris")),
            "area_id": ["A"],
            "customer_id": ["C"],
            "sentiment": pa.array([0.5], pa.float32()),
            "nps": pa.array([4], pa.int64()),
            "mystery": ["m"],
            "extra": ['{"z": 1}'],
        }
    )
    valid = validate_table(table, source="t", dead_letter=None)
    row = valid.to_pylist()[0]
    assert row["ts"] == ts
    assert row["nps"] is None
    assert json.loads(row["extra"]) == {"mystery": "m", "nps": 4, "z": 1}
