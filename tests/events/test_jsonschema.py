"""The published JSON Schema: derived from the Arrow schemas, committed, and true to validation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow as pa
import pytest

from tailguard.events import EVENT_SCHEMAS, EVENT_TYPES, validate_records
from tailguard.events.jsonl import encode_jsonl
from tailguard.events.jsonschema import event_json_schema
from tailguard.events.schema import EXTRA_FIELD
from tailguard.events.synthetic import synthetic_events

from ._helpers import event

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.schema.json"


def _matches(prop: dict[str, Any], typ: pa.DataType) -> bool:
    kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    kind = next(k for k in kinds if k != "null")
    if kind == "string" and prop.get("format") == "date-time":
        return bool(pa.types.is_timestamp(typ))
    checks = {
        "string": pa.types.is_string,
        "integer": pa.types.is_integer,
        "number": pa.types.is_floating,
        "boolean": pa.types.is_boolean,
    }
    return bool(checks[kind](typ))


def test_the_committed_schema_is_what_tailguard_derives() -> None:
    """docs/events.schema.json is exactly `tailguard events schema` (regenerate it if not)."""
    assert json.loads(DOC.read_text(encoding="utf-8")) == event_json_schema()


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_type_schema_has_the_arrow_fields_types_and_nullability(event_type: str) -> None:
    """Every Arrow field is a required property of its JSON type; nullable ones admit null."""
    definition = event_json_schema()["$defs"][event_type]
    arrow = [f for f in EVENT_SCHEMAS[event_type] if f.name != EXTRA_FIELD.name]
    assert definition["required"] == [f.name for f in arrow]
    assert set(definition["properties"]) == {f.name for f in arrow}
    for field in arrow:
        prop = definition["properties"][field.name]
        if field.name == "type":
            assert prop["const"] == event_type
            continue
        assert _matches(prop, field.type), field.name
        admits_null = isinstance(prop["type"], list) and "null" in prop["type"]
        assert admits_null == field.nullable, field.name


def test_events_tailguard_writes_are_valid_under_the_schema() -> None:
    """Every event of a simulated batch (extra fields included) validates."""
    validator = jsonschema.Draft202012Validator(
        event_json_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for line in encode_jsonl(synthetic_events(400, seed=2, extra_every=3)).splitlines():
        validator.validate(json.loads(line))


@pytest.mark.parametrize(
    "bad",
    [
        event("cx.survey", nps=11),
        event("cx.chat", sentiment=1.5),
        event("tech.status", status="asleep"),
        event("job.completed", first_time_fix="yes"),
        event("job.completed", recall_of_job_id=...),
        event("parts.stock", on_hand=-1),
        event("eta.update", eta=...),
        event("cx.chat", type="no.such.type"),
        event("cx.chat", area_id=...),
    ],
)
def test_events_validation_rejects_the_schema_rejects_too(
    bad: dict[str, Any], tmp_path: Path
) -> None:
    """An event tailguard dead-letters is invalid under the published schema as well."""
    from tailguard.events import DeadLetterSink

    with DeadLetterSink(tmp_path / "dl.jsonl") as sink:
        kept = validate_records([(1, json.dumps(bad))], source="t", dead_letter=sink)
    assert kept.num_rows == 0
    validator = jsonschema.Draft202012Validator(event_json_schema())
    assert not validator.is_valid(bad)


def test_events_schema_command_prints_the_schema_and_refuses_unknown_types() -> None:
    """`tailguard events schema --format json` prints the document; a bad --type exits 2."""
    ok = subprocess.run(
        [sys.executable, "-m", "tailguard", "events", "schema", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0
    assert json.loads(ok.stdout) == event_json_schema()
    bad = subprocess.run(
        [sys.executable, "-m", "tailguard", "events", "schema", "--type", "x.y"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("tailguard: error: --type 'x.y'")
