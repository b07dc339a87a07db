"""The service's read queries: over the ledger (:mod:`tailguard.ledger.queries`) and the
control plane's gates (:mod:`tailguard.control.queries`), with the service's run view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tailguard.control import queries as control_queries
from tailguard.ledger import Ledger, LedgerRecord
from tailguard.ledger.queries import EntityRow, latest_entities, ping


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecords:
    """Everything the ledger holds on one run, each entity in its current state."""

    run: LedgerRecord
    steps: list[LedgerRecord]
    gates: list[LedgerRecord]
    outcome: LedgerRecord | None
    details: dict[str, dict[str, Any]]


def run_records(ledger: Ledger, run_id: str) -> RunRecords | None:
    """The run's newest ``run`` record with its steps, gates and outcome (None if unknown).

    ``details`` maps a gate id to its merged ``gate_detail`` fields (requester, audit arguments,
    decision reason), which the approval audit needs beside the gate record.
    """
    latest: dict[tuple[str, str], LedgerRecord] = {}
    details: dict[str, dict[str, Any]] = {}
    for record in ledger.records(run_id=run_id):
        if record.kind == "gate_detail":
            details.setdefault(record.record_id, {}).update(record.fields)
        else:
            latest[(record.kind, record.record_id)] = record
    run = latest.get(("run", run_id))
    if run is None:
        return None
    of = list(latest.values())
    outcomes = [r for r in of if r.kind == "outcome"]
    return RunRecords(
        run=run,
        steps=[r for r in of if r.kind == "step"],
        gates=[r for r in of if r.kind == "gate"],
        outcome=outcomes[-1] if outcomes else None,
        details=details,
    )


def pending_gates(
    ledger: Ledger,
    *,
    now: datetime,
    limit: int,
    after: tuple[float, str] | None = None,
    tool_name: str | None = None,
    run_id: str | None = None,
    risk_level: str | None = None,
) -> list[sa.Row[Any]]:
    """Gates waiting for a decision and not yet timed out, oldest first (gate rows)."""
    return control_queries.pending_gates(
        ledger.engine,
        now=now,
        limit=limit,
        after=after,
        tool_name=tool_name,
        run_id=run_id,
        risk_level=risk_level,
    )


def awaiting_gates(
    ledger: Ledger,
    *,
    limit: int,
    after: tuple[float, str] | None = None,
    tool_name: str | None = None,
    run_id: str | None = None,
    risk_level: str | None = None,
) -> list[sa.Row[Any]]:
    """Gates approved whose call never ran nor was cancelled, oldest decision first."""
    return control_queries.awaiting_gates(
        ledger.engine,
        limit=limit,
        after=after,
        tool_name=tool_name,
        run_id=run_id,
        risk_level=risk_level,
    )


def count_pending_gates(ledger: Ledger, *, now: datetime) -> int:
    """How many gates wait for a decision (not yet timed out)."""
    return control_queries.count_pending_gates(ledger.engine, now=now)


__all__ = [
    "EntityRow",
    "RunRecords",
    "awaiting_gates",
    "count_pending_gates",
    "latest_entities",
    "pending_gates",
    "ping",
    "run_records",
]
