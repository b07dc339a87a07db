"""The record kinds of INTERFACES.md section 5 and the checks every appended record passes.

``run``, ``step``, ``gate`` and ``outcome`` records must carry exactly their section-5 fields
(``None`` where a field does not apply yet, such as ``completed_at`` of a running run) with the
documented enumerations. Any other kind (``alert``, ``okr``, ``intervention``, ``learning``,
``conversation``, ...) is accepted when it carries a non-empty string ``<kind>_id``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tailguard.clock import parse_ts
from tailguard.errors import InvalidInputError
from tailguard.ledger._canonical import to_json_value

RUN_STATUSES = ("running", "completed", "failed", "aborted", "waiting_approval")
STEP_STATUSES = (
    "executed",
    "approved",
    "rejected",
    "skipped",
    "error",
    "rolled_back",
    "pending_approval",
)
GATE_DECISIONS = ("pending", "approved", "rejected", "timeout")
OBJECTIVE_MET = ("yes", "partial", "no", "unknown")
RISK_LEVELS = ("read", "suggest", "execute_low", "execute_high")

RESERVED_FIELDS = frozenset({"kind", "seq", "prev_hash", "hash", "recorded_at_us"})
"""Export keys a record's fields may not use, so an export line splits back unambiguously."""

_KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

Check = Callable[[str, Any], Any]


def _text(*, nullable: bool = False) -> Check:
    def check(name: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or (not nullable and not value):
            raise InvalidInputError(f"{name} must be a non-empty string, got {value!r}")
        return value

    return check


def _any_json(name: str, value: Any) -> Any:
    return to_json_value(value, path=name)


def _enum(options: tuple[str, ...]) -> Check:
    def check(name: str, value: Any) -> Any:
        value = to_json_value(value, path=name)
        if value not in options:
            raise InvalidInputError(f"{name} must be one of {', '.join(options)}; got {value!r}")
        return value

    return check


def _number(
    *, integer: bool = False, low: float = 0.0, high: float | None = None, nullable: bool = False
) -> Check:
    def check(name: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        ok_type = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type):
            what = "an integer" if integer else "a number"
            raise InvalidInputError(f"{name} must be {what}, got {value!r}")
        value = to_json_value(value, path=name)
        if value < low or (high is not None and value > high):
            bound = f"between {low:g} and {high:g}" if high is not None else f">= {low:g}"
            raise InvalidInputError(f"{name} must be {bound}, got {value!r}")
        return value

    return check


def _timestamp(*, nullable: bool = False) -> Check:
    def check(name: str, value: Any) -> Any:
        if value is None and nullable:
            return None
        if isinstance(value, str):
            try:
                parse_ts(value)
            except ValueError:
                raise InvalidInputError(
                    f"{name} must be an RFC 3339 timestamp, got {value!r}"
                ) from None
            return value
        converted = to_json_value(value, path=name)
        if not isinstance(converted, str) or "T" not in converted:
            raise InvalidInputError(f"{name} must be a timestamp, got {value!r}")
        return converted

    return check


@dataclass(frozen=True, kw_only=True, slots=True)
class KindSpec:
    """The section-5 contract of one record kind."""

    kind: str
    id_field: str
    fields: Mapping[str, Check]


KIND_SPECS: dict[str, KindSpec] = {
    "run": KindSpec(
        kind="run",
        id_field="run_id",
        fields={
            "run_id": _text(),
            "conversation_id": _text(nullable=True),
            "initiator_id": _text(),
            "role": _text(),
            "goal_text": _text(nullable=True),
            "status": _enum(RUN_STATUSES),
            "total_tokens": _number(integer=True),
            "total_cost_usd": _number(),
            "steps_count": _number(integer=True),
            "started_at": _timestamp(),
            "completed_at": _timestamp(nullable=True),
            "sla_ms": _number(nullable=True),
        },
    ),
    "step": KindSpec(
        kind="step",
        id_field="step_id",
        fields={
            "step_id": _text(),
            "run_id": _text(),
            "tool_name": _text(),
            "risk_level": _enum(RISK_LEVELS),
            "args_hash": _text(nullable=True),
            "result_summary": _any_json,
            "latency_ms": _number(nullable=True),
            "retries": _number(integer=True),
            "status": _enum(STEP_STATUSES),
            "approval_gate_id": _text(nullable=True),
        },
    ),
    "gate": KindSpec(
        kind="gate",
        id_field="gate_id",
        fields={
            "gate_id": _text(),
            "run_id": _text(),
            "step_id": _text(),
            "tool_name": _text(),
            "reason": _any_json,
            "risk_level": _enum(RISK_LEVELS),
            "presented_at": _timestamp(),
            "decision": _enum(GATE_DECISIONS),
            "decided_by": _text(nullable=True),
            "decided_at": _timestamp(nullable=True),
        },
    ),
    "outcome": KindSpec(
        kind="outcome",
        id_field="outcome_id",
        fields={
            "outcome_id": _text(),
            "run_id": _text(),
            "objective_met": _enum(OBJECTIVE_MET),
            "quality_score": _number(high=100.0),
            "user_feedback": _any_json,
            "follow_up_tasks": _any_json,
            "outcome_deltas": _any_json,
            "evaluated_at": _timestamp(),
        },
    ),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckedRecord:
    """A record's fields after validation, with the ids the store indexes."""

    kind: str
    record_id: str
    run_id: str | None
    fields: dict[str, Any]


def id_field(kind: str) -> str:
    """The name of the field that identifies an entity of ``kind`` (``<kind>_id``)."""
    spec = KIND_SPECS.get(kind)
    return spec.id_field if spec else f"{kind}_id"


def check_record(kind: Any, fields: Any) -> CheckedRecord:
    """Validate one record and normalise its fields to plain JSON data.

    Raises:
        InvalidInputError: naming the kind and the field at fault.
    """
    if not isinstance(kind, str) or not _KIND_RE.match(kind):
        raise InvalidInputError(f"record kind must match {_KIND_RE.pattern}, got {kind!r}")
    if not isinstance(fields, Mapping):
        raise InvalidInputError(
            f"{kind} record fields must be a mapping, got {type(fields).__name__}"
        )
    reserved = RESERVED_FIELDS.intersection(fields)
    if reserved:
        raise InvalidInputError(f"{kind} record may not carry the field(s) {sorted(reserved)}")
    spec = KIND_SPECS.get(kind)
    if spec is None:
        normalised = to_json_value(fields, path=kind)
        key = f"{kind}_id"
        record_id = normalised.get(key)
        if not isinstance(record_id, str) or not record_id:
            raise InvalidInputError(f"{kind} record needs a non-empty string field {key!r}")
        run_id = normalised.get("run_id")
        return CheckedRecord(
            kind=kind,
            record_id=record_id,
            run_id=run_id if isinstance(run_id, str) and run_id else None,
            fields=normalised,
        )
    missing = [name for name in spec.fields if name not in fields]
    unknown = sorted(str(name) for name in fields if name not in spec.fields)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if unknown:
            parts.append(f"unknown {unknown}")
        raise InvalidInputError(f"{kind} record: {'; '.join(parts)} (INTERFACES.md section 5)")
    checked = {name: check(f"{kind}.{name}", fields[name]) for name, check in spec.fields.items()}
    return CheckedRecord(
        kind=kind,
        record_id=checked[spec.id_field],
        run_id=checked["run_id"],
        fields=checked,
    )
