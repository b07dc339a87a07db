"""Runs, steps, gates and outcomes: read from the ledger; runs started and stepped through the
control plane (the caller's key name is the run's initiator)."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request

from tailguard.control import StepOutcome, StepResult
from tailguard.control.engagement import acknowledge_step
from tailguard.control.rollback_requests import request_rollback
from tailguard.errors import BudgetExceededError, NotFoundError, RateLimitedError
from tailguard.ledger.kinds import GATE_DECISIONS, OBJECTIVE_MET, RUN_STATUSES, STEP_STATUSES
from tailguard.service import queries
from tailguard.service.api.deps import Operator, State, Timestamp, Viewer, record_dict, utc
from tailguard.service.api.models import (
    AckOut,
    EntityOut,
    ExecuteIn,
    FinishRunIn,
    GateOut,
    OutcomeOut,
    RollbackIn,
    RunDetail,
    RunOut,
    StartRunIn,
    StepOut,
    StepResultOut,
)
from tailguard.service.errors import ERROR_RESPONSES, responses
from tailguard.service.pagination import (
    CursorParam,
    LimitParam,
    Page,
    decode_cursor,
    encode_cursor,
)

router = APIRouter(prefix="/v1", tags=["runs"], responses=ERROR_RESPONSES)

RunStatus = Literal["running", "completed", "failed", "aborted", "waiting_approval"]
StepStatus = Literal[
    "executed", "approved", "rejected", "skipped", "error", "rolled_back", "pending_approval"
]
GateDecisionQ = Literal["pending", "approved", "rejected", "timeout"]
ObjectiveMet = Literal["yes", "partial", "no", "unknown"]
assert set(RunStatus.__args__) == set(RUN_STATUSES)  # type: ignore[attr-defined]
assert set(StepStatus.__args__) == set(STEP_STATUSES)  # type: ignore[attr-defined]
assert set(GateDecisionQ.__args__) == set(GATE_DECISIONS)  # type: ignore[attr-defined]
assert set(ObjectiveMet.__args__) == set(OBJECTIVE_MET)  # type: ignore[attr-defined]

RunIdPath = Annotated[str, Path(min_length=1, max_length=255)]
SinceQ = Annotated[
    Timestamp | None, Query(description="Only entities first recorded at or after this time.")
]
UntilQ = Annotated[Timestamp | None, Query(description="Only entities first recorded before it.")]
RunIdQ = Annotated[str | None, Query(max_length=255, description="Only this run's entities.")]
NameQ = Annotated[str | None, Query(max_length=255)]


def _page(
    state: State,
    kind: str,
    *,
    limit: int,
    cursor: str | None,
    run_id: str | None = None,
    equals: dict[str, str | None] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[queries.EntityRow], str | None]:
    key = decode_cursor(kind, cursor, 1)
    if key is not None and not isinstance(key[0], int):
        key = None
    rows = queries.latest_entities(
        state.ledger,
        kind,
        limit=limit + 1,
        before_seq=key[0] if key else None,
        run_id=run_id,
        equals={k: v for k, v in (equals or {}).items() if v is not None},
        since=utc(since),
        until=utc(until),
    )
    next_cursor = encode_cursor(kind, [rows[limit - 1].first_seq]) if len(rows) > limit else None
    return rows[:limit], next_cursor


@router.get("/runs", summary="List runs, newest first")
def list_runs(
    state: State,
    _: Viewer,
    role: NameQ = None,
    status: RunStatus | None = None,
    initiator_id: NameQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[RunOut]:
    """Runs in their current state; filter by role, status, initiator and start time."""
    rows, nxt = _page(
        state,
        "run",
        limit=limit,
        cursor=cursor,
        equals={"role": role, "status": status, "initiator_id": initiator_id},
        since=since,
        until=until,
    )
    return Page[RunOut](items=[RunOut(**record_dict(r.record)) for r in rows], next_cursor=nxt)


@router.get(
    "/runs/{run_id}", summary="A run with its steps, gates and outcome", responses=responses(404)
)
def get_run(state: State, _: Viewer, run_id: RunIdPath, request: Request) -> RunDetail:
    """The run's current state and everything recorded under it."""
    request.state.run_id = run_id
    found = queries.run_records(state.ledger, run_id)
    if found is None:
        raise NotFoundError(f"unknown run {run_id!r}")
    gates = []
    for gate in found.gates:
        detail = found.details.get(gate.record_id, {})
        gates.append(
            GateOut(
                **record_dict(gate),
                requester_id=detail.get("requester_id"),
                decision_reason=detail.get("decision_reason"),
                audit_args=detail.get("edited_audit_args") or detail.get("audit_args"),
            )
        )
    return RunDetail(
        run=RunOut(**record_dict(found.run)),
        steps=[StepOut(**record_dict(s)) for s in found.steps],
        gates=gates,
        outcome=OutcomeOut(**record_dict(found.outcome)) if found.outcome else None,
    )


@router.get("/steps", summary="List steps, newest first")
def list_steps(
    state: State,
    _: Viewer,
    run_id: RunIdQ = None,
    status: StepStatus | None = None,
    tool_name: NameQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[StepOut]:
    """Steps in their current state."""
    rows, nxt = _page(
        state,
        "step",
        limit=limit,
        cursor=cursor,
        run_id=run_id,
        equals={"status": status, "tool_name": tool_name},
        since=since,
        until=until,
    )
    return Page[StepOut](items=[StepOut(**record_dict(r.record)) for r in rows], next_cursor=nxt)


@router.get("/gates", summary="List approval gates, newest first")
def list_gates(
    state: State,
    _: Viewer,
    run_id: RunIdQ = None,
    decision: GateDecisionQ | None = None,
    tool_name: NameQ = None,
    decided_by: NameQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[GateOut]:
    """Gates in their current state: the approval audit log (who decided, when)."""
    rows, nxt = _page(
        state,
        "gate",
        limit=limit,
        cursor=cursor,
        run_id=run_id,
        equals={"decision": decision, "tool_name": tool_name, "decided_by": decided_by},
        since=since,
        until=until,
    )
    return Page[GateOut](items=[GateOut(**record_dict(r.record)) for r in rows], next_cursor=nxt)


@router.get("/outcomes", summary="List run outcomes, newest first")
def list_outcomes(
    state: State,
    _: Viewer,
    run_id: RunIdQ = None,
    objective_met: ObjectiveMet | None = None,
    since: SinceQ = None,
    until: UntilQ = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[OutcomeOut]:
    """Evaluated outcomes of finished runs."""
    rows, nxt = _page(
        state,
        "outcome",
        limit=limit,
        cursor=cursor,
        run_id=run_id,
        equals={"objective_met": objective_met},
        since=since,
        until=until,
    )
    return Page[OutcomeOut](
        items=[OutcomeOut(**record_dict(r.record)) for r in rows], next_cursor=nxt
    )


@router.get("/okrs", summary="List OKRs (written by the weekly cycle)")
def list_okrs(
    state: State,
    _: Viewer,
    area_id: NameQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[EntityOut]:
    """Ledger records of kind ``okr`` in their current state (empty until a weekly cycle ran)."""
    rows, nxt = _page(
        state,
        "okr",
        limit=limit,
        cursor=cursor,
        equals={"area_id": area_id},
        since=since,
        until=until,
    )
    return Page[EntityOut](items=[entity(r) for r in rows], next_cursor=nxt)


def entity(row: queries.EntityRow) -> EntityOut:
    """A generic ledger entity."""
    r = row.record
    return EntityOut(
        kind=r.kind,
        id=r.record_id,
        run_id=r.run_id,
        seq=r.seq,
        recorded_at=record_dict(r)["recorded_at"],
        fields=dict(r.fields),
    )


def step_result(result: StepResult) -> StepResultOut:
    """The API shape of a :class:`StepResult` (value made JSON-safe)."""
    return StepResultOut(
        outcome=result.outcome.value,
        run_id=result.run_id,
        step_id=result.step_id,
        tool_name=result.tool_name,
        value=json.loads(json.dumps(result.value, default=str)),
        gate_id=result.gate_id,
        reason=result.reason,
        retries=result.retries,
        latency_ms=result.latency_ms,
        replayed=result.replayed,
    )


@router.post("/runs", status_code=201, summary="Start a run", responses=responses(429))
def start_run(state: State, who: Operator, body: StartRunIn, request: Request) -> RunOut:
    """Open a run whose initiator is the caller (so they cannot approve its gates)."""
    run = state.plane.start_run(
        body.role, who.subject, body.goal_text, conversation_id=body.conversation_id
    )
    request.state.run_id = run.run_id
    record = state.ledger.latest("run", run.run_id)
    assert record is not None
    return RunOut(**record_dict(record))


@router.post(
    "/runs/{run_id}/steps",
    summary="Make a governed call in a run",
    responses=responses(404, 409, 429),
)
def execute_step(
    state: State, who: Operator, run_id: RunIdPath, body: ExecuteIn, request: Request
) -> StepResultOut:
    """Send one call through the control plane; a gated tool answers ``pending_approval``.

    A call stopped by a rate limit or a budget is recorded (a ``skipped`` step) and answered
    429 in the error shape, code ``rate_limited`` or ``budget_exceeded``, with the step's
    result in ``details.step`` (and ``Retry-After`` for a rate limit).
    """
    request.state.run_id = run_id
    run = state.plane.get_run(run_id)
    result = state.plane.execute(run, body.tool_name, body.args, requester_id=who.subject)
    if result.outcome in (StepOutcome.RATE_LIMITED, StepOutcome.BUDGET_EXCEEDED):
        raise refused_step(result)
    return step_result(result)


_RETRY_IN = re.compile(r"retry in ([0-9.]+)s")


def refused_step(result: StepResult) -> RateLimitedError | BudgetExceededError:
    """The 429 of a call stopped by a rate limit or a budget, with the recorded step."""
    details: dict[str, Any] = {"step": step_result(result).model_dump(mode="json")}
    message = result.reason or result.outcome.value
    if result.outcome is StepOutcome.BUDGET_EXCEEDED:
        return BudgetExceededError(message, details=details)
    match = _RETRY_IN.search(message)
    if match:
        details["retry_after_s"] = math.ceil(float(match.group(1)))
    return RateLimitedError(message, details=details)


@router.post(
    "/runs/{run_id}/finish",
    summary="Finish a run and evaluate its outcome",
    responses=responses(404, 409),
)
def finish_run(
    state: State, who: Operator, run_id: RunIdPath, body: FinishRunIn, request: Request
) -> OutcomeOut:
    """Close the run (completed, failed or aborted) and record its evaluated outcome."""
    del who
    request.state.run_id = run_id
    run = state.plane.get_run(run_id)
    outcome = state.plane.finish_run(run, body.status, user_feedback=body.user_feedback)
    record = state.ledger.latest("outcome", outcome.outcome_id)
    assert record is not None
    return OutcomeOut(**record_dict(record))


StepIdPath = Annotated[str, Path(min_length=1, max_length=255)]


@router.post(
    "/steps/{step_id}/rollback",
    summary="Ask for an executed step's rollback (approval-gated)",
    responses=responses(404, 409),
)
def rollback_step(
    state: State, who: Operator, step_id: StepIdPath, body: RollbackIn, request: Request
) -> StepResultOut:
    """Open an operator run whose ``rollback_step`` call waits at an approval gate.

    Another person approves it in the approvals inbox; the resumed call undoes the step with
    its tool's compensating tool and records it ``rolled_back``. 404 for an unknown step, 409
    for a step that did not execute or was rolled back already, 400 for a tool without a
    rollback strategy.
    """
    result = request_rollback(
        state.plane,
        step_id,
        requested_by=who.subject,
        reason=body.reason,
        policies=state.policies,
    )
    request.state.run_id = result.run_id
    return step_result(result)


@router.post(
    "/steps/{step_id}/ack",
    summary="A downstream agent acknowledges a job (the run's engagement signal)",
    responses=responses(404, 409),
)
def ack_step(state: State, who: Operator, step_id: StepIdPath, request: Request) -> AckOut:
    """The downstream agent that carried out a job (its ``job_id`` is the step id) confirms it
    landed. Within 30 minutes of the run's end this is the evaluator's follow-up signal: the
    run is re-scored once (+20) and an ``engagement`` record (``downstream_ack``) says why.
    404 for an unknown step, 409 for a step that did not execute.
    """
    done = acknowledge_step(state.plane, step_id, by=who.subject)
    request.state.run_id = done.run_id
    return AckOut(
        run_id=done.run_id,
        step_id=done.step_id,
        recorded=done.recorded,
        quality_score=done.quality_score,
    )
