"""The parts of batched governance (:mod:`.batch`): requests, per-call state, set-wise SQL.

Nothing here decides anything: the checks are :mod:`.chain`'s and the records
:mod:`.records`'; these are the containers a batch carries its calls in and the statements that
read or write many control-store rows at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from tailguard.control.budget import RunBudget, RunTotals
from tailguard.control.chain import Attempt, Call
from tailguard.control.gates import FINAL_CLAIM_STATES
from tailguard.control.records import jsonable
from tailguard.control.results import PendingCall, Run, StepOutcome, StepResult
from tailguard.control.store import IN_CHUNK, claims, rows_by_key, runs
from tailguard.control.tools import canonical_json
from tailguard.errors import ConflictError, TailguardError

ZERO_TOTALS = RunTotals(input_tokens=0, output_tokens=0, cost_usd=0.0)

Records = list[tuple[str, Mapping[str, Any]]]


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRequest:
    """A run to open in a batch, with the calls to govern in it (in order).

    Attributes:
        role: the run's role.
        initiator_id: who started it (also the requester of its calls).
        goal_text: the run's goal.
        calls: ``(tool_name, args)`` pairs.
        budget: the run's caps (default: the plane's default budget).
        area_id: the area the run is about, if any (stored with the run, found by queries).
        hour: the hour the run is about, if any.
    """

    role: str
    initiator_id: str
    goal_text: str | None
    calls: Sequence[tuple[str, Mapping[str, Any]]]
    budget: RunBudget | None = None
    area_id: str | None = None
    hour: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RunBatchResult:
    """What became of one run of :meth:`Executor.execute_batch`.

    Attributes:
        run: the run's handle.
        results: one result per call, in the request's order.
        finished: the run was closed as ``completed`` (none of its calls waits at a gate).
    """

    run: Run
    results: tuple[StepResult, ...]
    finished: bool


@dataclass(slots=True)
class BatchItem:
    """One call of a batch on its way through the phases."""

    call: Call
    attempt: Attempt | None = None  # set once the call is decided (stopped, pending or run)
    recorded: bool = False  # its final step records are already in the first transaction


def usage_counts(attempt: Attempt, run: Run) -> bool:
    """Whether the usage of an executed call changes the run's counters or alert.

    Zero usage (a handler that spends nothing) adds nothing; it is skipped unless the run has
    a cost alert threshold, which even zero usage could meet (a threshold of 0).
    """
    usage = attempt.usage
    if attempt.outcome is not StepOutcome.EXECUTED or usage is None:
        return False
    spent = usage.input_tokens or usage.output_tokens or usage.cost_usd
    return bool(spent) or run.budget.alert_cost_usd is not None


def gate_row(call: PendingCall) -> dict[str, Any]:
    return {
        "gate_id": call.gate_id,
        "run_id": call.run_id,
        "step_id": call.step_id,
        "tool_name": call.tool_name,
        "args_json": canonical_json(call.args),
        "risk_level": call.risk_level,
        "reason": call.reason,
        "requester_id": call.requester_id,
        "initiator_id": call.initiator_id,
        "presented_at": call.presented_at.timestamp(),
        "expires_at": call.expires_at.timestamp() if call.expires_at else None,
        "decision": "pending",
        "decided_by": None,
        "decided_at": None,
        "decision_reason": None,
        "edited": False,
        "idempotency_key": call.idempotency_key,
    }


def claim_all(conn: sa.Connection, gate_ids: list[str], now: datetime) -> set[str]:
    """Insert a claim per gate unless one exists; the gates claimed here."""
    won: set[str] = set()
    at = now.timestamp()
    dialect: Any = pg_dialect if conn.dialect.name == "postgresql" else sqlite_dialect
    for lo in range(0, len(gate_ids), IN_CHUNK):
        chunk = gate_ids[lo : lo + IN_CHUNK]
        if not chunk:
            continue
        stmt = (
            dialect.insert(claims)
            .values([{"gate_id": g, "claimed_at": at, "state": "running"} for g in chunk])
            .on_conflict_do_nothing()
            .returning(claims.c.gate_id)
        )
        won.update(conn.execute(stmt).scalars())
    return won


def stored_claims(conn: sa.Connection, gate_ids: list[str]) -> dict[str, dict[str, Any] | None]:
    out: dict[str, dict[str, Any] | None] = {}
    for lo in range(0, len(gate_ids), IN_CHUNK):
        for row in conn.execute(
            sa.select(claims).where(claims.c.gate_id.in_(gate_ids[lo : lo + IN_CHUNK]))
        ):
            done = row.state in FINAL_CLAIM_STATES and row.result_json is not None
            out[row.gate_id] = json.loads(row.result_json) if done else None
    return out


def replayed_result(row: Any, stored: dict[str, Any] | None) -> StepResult | TailguardError:
    if stored is None:
        return ConflictError(
            f"gate {row.gate_id} is being resumed elsewhere (or its resumer crashed; "
            f"reconcile with idempotency key {row.idempotency_key})"
        )
    return StepResult(
        outcome=StepOutcome(stored["outcome"]),
        run_id=row.run_id,
        step_id=row.step_id,
        tool_name=row.tool_name,
        value=stored.get("value"),
        gate_id=row.gate_id,
        reason=stored.get("reason"),
        retries=int(stored.get("retries", 0)),
        latency_ms=stored.get("latency_ms"),
        replayed=True,
    )


def claim_json(result: StepResult) -> str:
    return json.dumps(
        {
            "outcome": result.outcome.value,
            "value": jsonable(result.value),
            "reason": result.reason,
            "retries": result.retries,
            "latency_ms": result.latency_ms,
        },
        default=str,
    )


def rows_by_id(conn: sa.Connection, run_ids: set[str], *, lock: bool = False) -> dict[str, Any]:
    """run id -> its row (locked in run-id order with ``lock``)."""
    return rows_by_key(conn, runs.c.run_id, run_ids, lock=lock)
