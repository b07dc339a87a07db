"""Pydantic models of what enters and leaves the HTTP API (its OpenAPI schema).

Ledger records keep the field names of INTERFACES.md section 5 and add ``seq`` and
``recorded_at`` (where the record sits in the chain, and when it was written).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tailguard.service.errors import ErrorBody


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")

    seq: int = Field(description="The current record's position in the ledger chain.")
    recorded_at: str = Field(description="When the current record was appended (RFC 3339).")


class RunOut(_Record):
    """A run in its current state (its newest ``run`` record)."""

    run_id: str
    conversation_id: str | None = None
    initiator_id: str
    role: str
    goal_text: str | None = None
    status: str
    total_tokens: float | None = None
    total_cost_usd: float | None = None
    steps_count: int | None = None
    started_at: str | None = None
    completed_at: str | None = None
    sla_ms: float | None = None


class StepOut(_Record):
    """A step in its current state."""

    step_id: str
    run_id: str
    tool_name: str
    risk_level: str
    args_hash: str | None = None
    result_summary: str | None = None
    latency_ms: float | None = None
    retries: int | None = None
    status: str
    approval_gate_id: str | None = None


class GateOut(_Record):
    """An approval gate in its current state (``decided_by`` says who decided)."""

    gate_id: str
    run_id: str
    step_id: str
    tool_name: str
    reason: str | None = None
    risk_level: str
    presented_at: str
    decision: str
    decided_by: str | None = None
    decided_at: str | None = None
    requester_id: str | None = Field(default=None, description="Who asked for the call.")
    decision_reason: str | None = Field(default=None, description="Why it was decided so.")
    audit_args: dict[str, Any] | None = Field(
        default=None, description="The policy's audit fields of the arguments, in clear."
    )


class OutcomeOut(_Record):
    """The evaluated outcome of a finished run."""

    outcome_id: str
    run_id: str
    objective_met: str
    quality_score: float | None = None
    user_feedback: str | None = None
    follow_up_tasks: list[Any] = Field(default_factory=list)
    outcome_deltas: dict[str, Any] = Field(default_factory=dict)
    evaluated_at: str | None = None


class RunDetail(BaseModel):
    """A run with its steps, gates and outcome."""

    run: RunOut
    steps: list[StepOut]
    gates: list[GateOut]
    outcome: OutcomeOut | None = None


class EntityOut(BaseModel):
    """Any other ledger entity (an OKR, an alert, ...) in its current state."""

    kind: str
    id: str
    run_id: str | None = None
    seq: int
    recorded_at: str
    fields: dict[str, Any]


class PendingApproval(BaseModel):
    """A call waiting at an approval gate: what an approver sees in the inbox."""

    gate_id: str
    run_id: str
    step_id: str
    tool_name: str
    risk_level: str
    reason: str
    requester_id: str
    initiator_id: str
    presented_at: str
    expires_at: str | None = None
    age_s: float = Field(description="Seconds since the gate opened.")
    audit_args: dict[str, Any] = Field(
        description="The arguments the policy names as audit fields, in clear."
    )
    args: dict[str, Any] | None = Field(
        default=None,
        description="All arguments (for editing); only shown to approver and admin keys.",
    )
    status: Literal["pending", "awaiting_execution"] = Field(
        default="pending",
        description="pending: waiting for a decision; awaiting_execution: approved, but the "
        "call has not run (the process that approved it stopped first): resume or cancel it.",
    )
    decided_by: str | None = None
    decided_at: str | None = None


class CancelIn(BaseModel):
    """Cancel an approved call that has not run."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000, description="Why (recorded).")


class RollbackIn(BaseModel):
    """Ask for an executed step's rollback (approval-gated)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        default=None, max_length=500, pattern=r"^[^\x00]*$", description="Why (recorded)."
    )


class AckOut(BaseModel):
    """A downstream agent's acknowledgement of a job (the evaluator's engagement signal)."""

    run_id: str
    step_id: str
    recorded: bool = Field(
        description="An engagement record was written (false: the run had not finished, or "
        "finished more than 30 minutes before)."
    )
    quality_score: float | None = Field(
        description="The run's new score when this acknowledgement re-scored it (+20), else null."
    )


class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000, description="Why (recorded).")


class ApproveIn(_Decision):
    """Approve the call as it was asked for."""

    decision: Literal["approve"]


class RejectIn(_Decision):
    """Reject the call; it never runs."""

    decision: Literal["reject"]


class EditIn(_Decision):
    """Approve the call with edited arguments (checked against the tool's schema)."""

    decision: Literal["edit"]
    args: dict[str, Any] = Field(description="The arguments to run the call with instead.")


DecisionIn = Annotated[ApproveIn | RejectIn | EditIn, Field(discriminator="decision")]
"""A decision on a pending gate: approve, reject, or edit (approve with edited ``args``)."""


class _OnGate(BaseModel):
    gate_id: str = Field(min_length=1, max_length=64, description="The pending gate.")


class ApproveItemIn(_OnGate, ApproveIn):
    """Approve one gate of a batch as it was asked for."""


class RejectItemIn(_OnGate, RejectIn):
    """Reject one gate of a batch; its call never runs."""


class EditItemIn(_OnGate, EditIn):
    """Approve one gate of a batch with edited arguments."""


DecisionItemIn = Annotated[
    ApproveItemIn | RejectItemIn | EditItemIn, Field(discriminator="decision")
]
"""One decision of a batch: a :data:`DecisionIn` naming its ``gate_id``."""

MAX_DECISIONS = 500
"""The most decisions one ``POST /v1/approvals`` takes."""


class DecisionsIn(BaseModel):
    """Several decisions at once (an inbox's "decide the selected"), taken in one transaction."""

    model_config = ConfigDict(extra="forbid")

    decisions: list[DecisionItemIn] = Field(
        min_length=1,
        max_length=MAX_DECISIONS,
        description="Decided in this order, as one-by-one decisions would be.",
    )


class StepResultOut(BaseModel):
    """What a governed call came to."""

    outcome: str
    run_id: str
    step_id: str
    tool_name: str
    value: Any = None
    gate_id: str | None = None
    reason: str | None = None
    retries: int = 0
    latency_ms: float | None = None
    replayed: bool = False


class DecisionOut(BaseModel):
    """The recorded decision, and the resumed call when it was approved."""

    gate_id: str
    run_id: str
    step_id: str
    tool_name: str
    decision: str
    decided_by: str
    decided_at: str
    reason: str | None = None
    edited: bool
    resumed: StepResultOut | None = Field(
        default=None, description="The approved call, run once right after the decision."
    )
    resume_error: ErrorBody | None = Field(
        default=None, description="Why the approved call could not be resumed here."
    )
    resumes_elsewhere: bool = Field(
        default=False,
        description=(
            "The approved tool is not registered in this service (an area agent's "
            "intervention): the process holding it runs the call when it next checks its gates."
        ),
    )


class DecisionRefusedOut(BaseModel):
    """A decision of a batch that was refused (nothing was recorded for it)."""

    gate_id: str
    error: ErrorBody = Field(
        description=(
            "Why, with the code the single decision would give: its HTTP status would be "
            "404 not_found, 409 conflict, 403 permission_denied or 422 invalid_input."
        )
    )


class DecisionsOut(BaseModel):
    """The outcome of every decision of a batch, in request order."""

    results: list[DecisionOut | DecisionRefusedOut]


class StartRunIn(BaseModel):
    """A run to start; the caller's key name becomes its initiator."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=255)
    goal_text: str | None = Field(default=None, max_length=10_000)
    conversation_id: str | None = Field(default=None, max_length=255)


class ExecuteIn(BaseModel):
    """A governed call to make in a run."""

    model_config = ConfigDict(extra="forbid")

    tool_name: str = Field(min_length=1, max_length=255)
    args: dict[str, Any] = Field(default_factory=dict)


class FinishRunIn(BaseModel):
    """How a run ends."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["completed", "failed", "aborted"] = "completed"
    user_feedback: str | None = Field(default=None, max_length=10_000)


class ToolOut(BaseModel):
    """A governed tool and its policy."""

    tool: str
    registered: bool = Field(description="A handler for it is loaded in this service.")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    risk_level: str
    requires_approval: bool
    rate_limit: int | None = None
    success_metric: str | None = None
    rollback_strategy: str | None = None
    audit_fields: list[str]
    idempotent: bool
    approval_timeout: float | None = None
    roles: list[str] | None = None


class KpiReport(BaseModel):
    """Control-plane KPIs over a time range (see ``tailguard ledger kpis``)."""

    since: str | None = None
    until: str | None = None
    overall: dict[str, Any]
    per_role: dict[str, dict[str, Any]]
    per_tool: dict[str, dict[str, Any]]
    alerts: list[dict[str, Any]]


class PulseRow(BaseModel):
    """One area's KPIs at one tick."""

    area_id: str
    as_of: str
    kpis: dict[str, float | None]


class PulseLatest(BaseModel):
    """The latest row of every area."""

    areas: list[PulseRow]


class TailOut(BaseModel):
    """A tail rule breached by an area."""

    area_id: str
    rule: str
    kpi: str
    value: float | None = None
    threshold: float
    op: str
    severity: str
    state: str
    agent: str | None = None
    summary: str | None = None
    active_since: str


class TailsOut(BaseModel):
    """Tails at the pulse's latest tick."""

    as_of: str | None = Field(description="The pulse tick evaluated; null with no pulse data.")
    tails: list[TailOut]


class InterventionOut(BaseModel):
    """One intervention decision of an area agent, as the self-learn store holds it."""

    model_config = ConfigDict(extra="allow")

    seq: int
    decision_id: str
    area_id: str
    entry_id: str
    kind: str
    tool_name: str
    trigger: str
    target_type: str
    target_id: str
    args: dict[str, Any]
    context: dict[str, Any]
    propensity: float = Field(description="Probability with which the policy chose it.")
    policy_version: str
    decided_at: str
    status: str
    run_id: str | None = None
    step_id: str | None = None
    gate_id: str | None = None
    reason: str | None = None
    cost_usd: float | None = None
    executed_at: str | None = None
    horizon_at: str | None = None
    outcome_kpi: str | None = None
    baseline_value: float | None = None
    outcome_value: float | None = None
    outcome_delta: float | None = None
    measured_at: str | None = None


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    checks: dict[str, str] = Field(default_factory=dict)


class LedgerVerifyOut(BaseModel):
    """What verifying the ledger found (``tailguard ledger verify --format json``)."""

    ok: bool
    records: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    kind: str | None = None
    record_id: str | None = None
    message: str
    checkpoints: int = Field(description="How many checkpoints the ledger was checked against.")
