"""What the control plane writes to the ledger, and the run state it reads back.

:class:`RunRecorder` is the base of the control plane's parts (executor, approvals, rollback): it holds
the builders of the ``run``, ``step``, ``step_detail``, ``gate`` and ``alert`` records of
INTERFACES.md section 5 and the one place they are appended. The module-level helpers are the
pure parts shared by the plane, its approval gates and its rollback.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa

from tailguard.clock import Clock, format_ts
from tailguard.control.budget import Budgets, RunBudget, RunTotals
from tailguard.control.chain import Attempt, Call
from tailguard.control.evaluator import RunView, Scorer
from tailguard.control.gates import GateStore
from tailguard.control.policy import Policy, RiskLevel
from tailguard.control.results import PendingCall, Run, RunOutcome, StepOutcome, StepResult
from tailguard.control.store import ControlStore, runs, to_micros
from tailguard.control.tools import ToolRegistry, Usage, args_hash, canonical_json
from tailguard.errors import LedgerError, NotFoundError, TailguardError


class RunLedger(Protocol):
    """The part of :class:`tailguard.ledger.Ledger` the control plane uses."""

    @property
    def engine(self) -> sa.Engine:
        """The database engine the control plane keeps its own tables on."""
        ...

    def append(self, kind: str, fields: Mapping[str, Any]) -> Any:
        """Append one record."""
        ...

    def append_many(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> Any:
        """Append records in one transaction."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """One write transaction for records and co-located rows (``LedgerTransaction``)."""
        ...

    def records(self, *, kind: str | None = None, run_id: str | None = None) -> Iterator[Any]:
        """Records in chain order, optionally of one kind or run."""
        ...

    def latest(self, kind: str, record_id: str) -> Any:
        """The newest record of an entity, or None."""
        ...


#: Ledger step statuses for the outcomes that did not execute.
STOPPED_STATUS = {
    StepOutcome.REJECTED: "rejected",
    StepOutcome.RATE_LIMITED: "skipped",
    StepOutcome.BUDGET_EXCEEDED: "skipped",
    StepOutcome.ERROR: "error",
}

#: The ledger status of a step whose gate waits for a decision (written with the gate).
PENDING_APPROVAL_STATUS = "pending_approval"

#: The fields of a ledger ``step`` record.
STEP_FIELDS = (
    "step_id",
    "run_id",
    "tool_name",
    "risk_level",
    "args_hash",
    "result_summary",
    "latency_ms",
    "retries",
    "status",
    "approval_gate_id",
)


def summarize(value: Any) -> str:
    """The shape of a result for the ledger: never its content, which may be personal data."""
    if value is None or value == "" or value == [] or value == {}:
        return "empty"
    if isinstance(value, bool | int | float):
        return f"value {value!r}"
    if isinstance(value, str):
        return f"text ({len(value)} chars)"
    if isinstance(value, Mapping):
        keys = sorted(str(k) for k in value)
        shown = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "")
        return f"object ({shown})"
    if isinstance(value, list | tuple):
        return f"{len(value)} items"
    return type(value).__name__


def new_id(prefix: str) -> str:
    """A fresh record id such as ``run_<32 hex digits>``."""
    return f"{prefix}_{uuid.uuid4().hex}"


def jsonable(value: Any) -> Any:
    """``value`` as JSON data (objects that JSON cannot hold become their text)."""
    return json.loads(json.dumps(value, default=str))


def pending_dict(call: PendingCall) -> dict[str, Any]:
    """The fields of a pending call, to rebuild it with some of them changed."""
    return {f: getattr(call, f) for f in PendingCall.__dataclass_fields__}


def run_row(run: Run) -> dict[str, Any]:
    """The control store's row of a newly started run (nothing used or reserved yet)."""
    budget = run.budget
    return {
        "run_id": run.run_id,
        "role": run.role,
        "initiator_id": run.initiator_id,
        "goal_text": run.goal_text,
        "conversation_id": run.conversation_id,
        "started_at": run.started_at.timestamp(),
        "status": "running",
        "max_tokens": budget.max_tokens,
        "max_cost_micros": None if budget.max_cost_usd is None else to_micros(budget.max_cost_usd),
        "max_seconds": budget.max_seconds,
        "alert_cost_micros": (
            None if budget.alert_cost_usd is None else to_micros(budget.alert_cost_usd)
        ),
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_micros": 0,
        "reserved_tokens": 0,
        "reserved_cost_micros": 0,
        "alerted": False,
        "area_id": run.area_id,
        "hour": run.hour.timestamp() if run.hour is not None else None,
    }


def run_of_row(row: Any) -> Run:
    """The handle of a run from its control-store row."""
    return Run(
        run_id=row.run_id,
        role=row.role,
        initiator_id=row.initiator_id,
        goal_text=row.goal_text,
        conversation_id=row.conversation_id,
        started_at=datetime.fromtimestamp(row.started_at, UTC),
        budget=RunBudget(
            max_tokens=row.max_tokens,
            max_cost_usd=None if row.max_cost_micros is None else row.max_cost_micros / 1e6,
            max_seconds=row.max_seconds,
            alert_cost_usd=None if row.alert_cost_micros is None else row.alert_cost_micros / 1e6,
        ),
        area_id=row.area_id,
        hour=None if row.hour is None else datetime.fromtimestamp(row.hour, UTC),
    )


def step_record(
    *,
    step_id: str,
    run_id: str,
    tool_name: str,
    risk_level: str,
    args_hash: str | None,
    summary: str,
    latency_ms: float | None,
    retries: int,
    status: str,
    gate_id: str | None,
) -> dict[str, Any]:
    """The fields of a ledger ``step`` record (INTERFACES.md section 5), in ledger order."""
    return {
        "step_id": step_id,
        "run_id": run_id,
        "tool_name": tool_name,
        "risk_level": risk_level,
        "args_hash": args_hash,
        "result_summary": summary,
        "latency_ms": latency_ms,
        "retries": retries,
        "status": status,
        "approval_gate_id": gate_id,
    }


def step_detail_record(
    *,
    step_id: str,
    run_id: str,
    phase: str,
    tool_name: str,
    requester_id: str,
    idempotency_key: str,
    audit_args: dict[str, Any],
    usage: Usage | None,
    reason: str | None,
) -> dict[str, Any]:
    """The fields of a ``step_detail`` record: audit fields in clear, usage and reason."""
    return {
        "step_detail_id": step_id,
        "run_id": run_id,
        "phase": phase,
        "tool_name": tool_name,
        "requester_id": requester_id,
        "idempotency_key": idempotency_key,
        "audit_args": audit_args,
        "input_tokens": usage.input_tokens if usage else 0,
        "output_tokens": usage.output_tokens if usage else 0,
        "cost_usd": usage.cost_usd if usage else 0.0,
        "reason": reason,
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class PlaneParts:
    """What the parts of the control plane share (``ControlPlane`` builds it once)."""

    registry: ToolRegistry
    ledger: RunLedger
    clock: Clock
    store: ControlStore
    budgets: Budgets
    gates: GateStore
    scorer: Scorer


class RunRecorder:
    """Builds and appends the control plane's ledger records.

    The base of the plane's parts (:class:`~.executor.Executor`, :class:`~.approvals.Approvals`,
    :class:`~.rollback.Rollback`): each writes the same records the same way.
    """

    def __init__(self, parts: PlaneParts) -> None:
        self.registry = parts.registry
        self.ledger = parts.ledger
        self.clock = parts.clock
        self.store = parts.store
        self.budgets = parts.budgets
        self.gates = parts.gates
        self.scorer = parts.scorer

    def get_run(self, run_id: str) -> Run:
        """Rebuild the handle of a run (in any process).

        Raises:
            NotFoundError: no such run.
        """
        with self.store.read() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).one_or_none()
        if row is None:
            raise NotFoundError(f"unknown run {run_id!r}")
        return run_of_row(row)

    def _step_result(self, call: Call, attempt: Attempt) -> StepResult:
        """What :meth:`ControlPlane.execute` returns for ``call`` after ``attempt``."""
        return StepResult(
            outcome=attempt.outcome,
            run_id=call.run.run_id,
            step_id=call.step_id,
            tool_name=call.tool_name,
            value=attempt.value if attempt.outcome is StepOutcome.EXECUTED else None,
            gate_id=attempt.gate.gate_id if attempt.gate else call.gate_id,
            reason=attempt.reason,
            retries=attempt.retries,
            latency_ms=attempt.latency_ms,
        )

    def _payload_row(self, call: Call, attempt: Attempt) -> dict[str, Any] | None:
        """The stored arguments and result of an executed step that can be rolled back."""
        policy = call.policy
        if attempt.outcome is not StepOutcome.EXECUTED or policy is None:
            return None
        if policy.rollback_strategy is None:
            return None
        return {
            "step_id": call.step_id,
            "run_id": call.run.run_id,
            "tool_name": call.tool_name,
            "args_json": canonical_json(dict(call.args)),
            "result_json": json.dumps(jsonable(attempt.value)),
        }

    def _final_records(self, call: Call, attempt: Attempt) -> list[tuple[str, Mapping[str, Any]]]:
        """The final ``step`` and ``step_detail`` of a call that executed or was stopped."""
        if attempt.outcome is StepOutcome.EXECUTED:
            # A resumed call is ``executed`` with its approval_gate_id; ``approved`` is the
            # step's state between the approval and the resumption.
            status = "executed"
            summary = attempt.summary or summarize(attempt.value)
        else:
            status = STOPPED_STATUS[attempt.outcome]
            summary = "error" if status == "error" else (attempt.reason or status).split(":")[0]
        return [
            ("step", self._step_fields(call, status, summary, attempt)),
            ("step_detail", self._step_detail(call, attempt, phase="final")),
        ]

    def _pending_gate_records(self, gate: PendingCall) -> list[tuple[str, Mapping[str, Any]]]:
        """The ``step`` (pending_approval), ``gate`` (pending) and ``gate_detail`` records of a
        newly opened gate.

        The step comes first so that every id a record names is already in the ledger when
        the record is written: the gate names the step, and the step's later records name the
        gate (this first one leaves ``approval_gate_id`` empty, as the gate is not written yet).
        """
        step = step_record(
            step_id=gate.step_id,
            run_id=gate.run_id,
            tool_name=gate.tool_name,
            risk_level=gate.risk_level,
            args_hash=args_hash(gate.args),
            summary="awaiting_approval",
            latency_ms=None,
            retries=0,
            status=PENDING_APPROVAL_STATUS,
            gate_id=None,
        )
        return [
            ("step", step),
            ("gate", self._gate_fields(gate, "pending", decided_by=None, decided_at=None)),
            (
                "gate_detail",
                {
                    "gate_detail_id": gate.gate_id,
                    "run_id": gate.run_id,
                    "requester_id": gate.requester_id,
                    "args_hash": args_hash(gate.args),
                    "audit_args": self._audit_args(gate.tool_name, gate.args),
                    "expires_at": format_ts(gate.expires_at) if gate.expires_at else None,
                },
            ),
        ]

    def write_alert(self, run: Run, totals: RunTotals) -> None:
        """Append the cost ``alert`` record of a run that passed its threshold."""
        self._append([self._alert_record(run, totals)])

    def _alert_record(self, run: Run, totals: RunTotals) -> tuple[str, Mapping[str, Any]]:
        return (
            "alert",
            {
                "alert_id": new_id("alert"),
                "run_id": run.run_id,
                "metric": "run_cost_usd",
                "value": totals.cost_usd,
                "threshold": run.budget.alert_cost_usd,
                "role": run.role,
                "initiator_id": run.initiator_id,
                "raised_at": format_ts(self.clock.now()),
                "message": (
                    f"run {run.run_id} cost ${totals.cost_usd:.4f} passed the alert "
                    f"threshold ${run.budget.alert_cost_usd}"
                ),
            },
        )

    def _append(self, records: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        try:
            self.ledger.append_many(records)
        except LedgerError:
            raise
        except TailguardError as exc:
            raise LedgerError(f"the ledger refused a record: {exc.message}") from exc
        except Exception as exc:  # a database failure inside the ledger
            raise LedgerError(f"the ledger could not be written: {exc}") from exc

    @contextmanager
    def _batch_tx(self) -> Iterator[Any]:
        """One ledger transaction (records + control rows); database errors: LedgerError."""
        try:
            with self.ledger.transaction() as tx:
                yield tx
        except (LedgerError, TailguardError):
            raise
        except sa.exc.DBAPIError as exc:
            raise LedgerError(f"the batch could not be recorded: {exc.orig or exc}") from exc

    def _audit_args(self, tool_name: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if tool_name not in self.registry:
            return {}
        fields = self.registry.policy(tool_name).audit_fields
        return {k: args[k] for k in fields if k in args}

    def _step_fields(
        self, call: Call, status: str, summary: str, attempt: Attempt
    ) -> dict[str, Any]:
        try:
            hashed: str | None = args_hash(call.args)
        except (TypeError, ValueError):
            hashed = None
        policy: Policy | None = call.policy
        return step_record(
            step_id=call.step_id,
            run_id=call.run.run_id,
            tool_name=call.tool_name,
            # An unknown tool is treated as the riskiest kind: fail closed in the evidence too.
            risk_level=policy.risk_level.value if policy else RiskLevel.EXECUTE_HIGH.value,
            args_hash=hashed,
            summary=summary,
            latency_ms=attempt.latency_ms,
            retries=attempt.retries,
            status=status,
            gate_id=call.gate_id,
        )

    def _step_detail(self, call: Call, attempt: Attempt | None, *, phase: str) -> dict[str, Any]:
        return step_detail_record(
            step_id=call.step_id,
            run_id=call.run.run_id,
            phase=phase,
            tool_name=call.tool_name,
            requester_id=call.requester_id,
            idempotency_key=call.idempotency_key,
            audit_args=self._audit_args(call.tool_name, call.args),
            usage=attempt.usage if attempt is not None else None,
            reason=attempt.reason if attempt is not None else None,
        )

    def _stopped_step_records(
        self, call: PendingCall, status: str, reason: str
    ) -> list[tuple[str, Mapping[str, Any]]]:
        step = step_record(
            step_id=call.step_id,
            run_id=call.run_id,
            tool_name=call.tool_name,
            risk_level=call.risk_level,
            args_hash=args_hash(call.args),
            summary=reason.split(":")[0],
            latency_ms=None,
            retries=0,
            status=status,
            gate_id=call.gate_id,
        )
        detail = step_detail_record(
            step_id=call.step_id,
            run_id=call.run_id,
            phase="final",
            tool_name=call.tool_name,
            requester_id=call.requester_id,
            idempotency_key=call.idempotency_key,
            audit_args=self._audit_args(call.tool_name, call.args),
            usage=None,
            reason=reason,
        )
        return [("step", step), ("step_detail", detail)]

    def _gate_fields(
        self,
        call: PendingCall,
        decision: str,
        *,
        decided_by: str | None,
        decided_at: datetime | None,
    ) -> dict[str, Any]:
        return {
            "gate_id": call.gate_id,
            "run_id": call.run_id,
            "step_id": call.step_id,
            "tool_name": call.tool_name,
            "reason": call.reason,
            "risk_level": call.risk_level,
            "presented_at": format_ts(call.presented_at),
            "decision": decision,
            "decided_by": decided_by,
            "decided_at": format_ts(decided_at) if decided_at else None,
        }

    def _closing(
        self,
        run: Run,
        status: str,
        steps: Sequence[Mapping[str, Any]],
        gates: Sequence[Mapping[str, Any]],
        *,
        totals: RunTotals,
        now: datetime,
        follow_up: bool | None = None,
        user_feedback: str | None = None,
    ) -> tuple[dict[str, Any], RunOutcome]:
        """The final ``run`` fields of a closing run and its evaluated outcome (one run or a
        batch of them close the same way)."""
        run_fields = self._run_fields(
            run, status, steps_count=len(steps), totals=totals, completed_at=now
        )
        evaluation = self.scorer.score(
            RunView(
                run=run_fields,
                steps=tuple(steps),
                gates=tuple(gates),
                follow_up=follow_up,
                user_feedback=user_feedback,
            )
        )
        return run_fields, RunOutcome(
            outcome_id=new_id("out"),
            run_id=run.run_id,
            status=status,
            quality_score=float(evaluation.quality_score),
            objective_met=evaluation.objective_met,
            follow_up_tasks=tuple(evaluation.follow_up_tasks),
            outcome_deltas=dict(evaluation.outcome_deltas),
        )

    def _run_fields(
        self,
        run: Run,
        status: str,
        *,
        steps_count: int | None = None,
        totals: RunTotals | None = None,
        completed_at: datetime | None = None,
    ) -> dict[str, Any]:
        totals = totals or self.budgets.totals(run.run_id)
        if steps_count is None:
            steps_count = len(self._latest_of_run(run.run_id)[0])
        max_seconds = run.budget.max_seconds
        return {
            "run_id": run.run_id,
            "conversation_id": run.conversation_id,
            "initiator_id": run.initiator_id,
            "role": run.role,
            "goal_text": run.goal_text,
            "status": status,
            "total_tokens": totals.total_tokens,
            "total_cost_usd": totals.cost_usd,
            "steps_count": steps_count,
            "started_at": format_ts(run.started_at),
            "completed_at": format_ts(completed_at) if completed_at else None,
            # The run's time budget (its SLA), when it has one.
            "sla_ms": max_seconds * 1000.0 if max_seconds is not None else None,
        }

    def _latest_of_run(self, run_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        steps: dict[str, dict[str, Any]] = {}
        gates: dict[str, dict[str, Any]] = {}
        try:
            for record in self.ledger.records(run_id=run_id):
                if record.kind == "step":
                    steps[record.record_id] = dict(record.fields)
                elif record.kind == "gate":
                    gates[record.record_id] = dict(record.fields)
        except TailguardError:
            raise
        except Exception as exc:
            raise LedgerError(f"the ledger could not be read: {exc}") from exc
        return list(steps.values()), list(gates.values())
