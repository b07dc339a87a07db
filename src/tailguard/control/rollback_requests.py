"""Rollback asked for by a person, approval-gated like any high-risk action.

:meth:`ControlPlane.rollback` undoes an executed step with its policy's compensating tool at
once. A person's request goes through the plane instead: :func:`request_rollback` checks the
step can be undone (it executed, its tool has a rollback strategy whose compensating tool is
registered here), opens an ``operator`` run in the requester's name and calls the governed
``rollback_step`` tool in it. That tool is ``execute_high`` with approval, so the call waits at
a gate in the approvals inbox; another person approves (the requester cannot approve their own
gate), and the resumed call rolls the step back: the step is recorded ``rolled_back`` (and so
counted in the control-plane KPIs' rollback rate), the request's own step ``executed``, both in
the ledger with their correlation ids. A rejected or expired gate undoes nothing.

The API (``POST /v1/steps/{id}/rollback``), the run monitor's button and
``tailguard ledger rollback`` all call :func:`request_rollback`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from tailguard.control.policy import Policy, RiskLevel
from tailguard.control.results import StepOutcome, StepResult
from tailguard.control.tools import Tool, ToolContext, ToolOutput
from tailguard.errors import ConflictError, InvalidInputError, NotFoundError, PolicyError

if TYPE_CHECKING:
    from tailguard.control.plane import ControlPlane

ROLLBACK_TOOL: Final = "rollback_step"
ROLE: Final = "operator"
MAX_REASON: Final = 500

ROLLBACK_POLICY: Final = Policy(
    risk_level=RiskLevel.EXECUTE_HIGH,
    requires_approval=True,
    success_metric="the step is recorded rolled_back by its compensating tool",
    audit_fields=("step_id", "reason"),
    idempotent=False,
    approval_timeout=24 * 3600.0,
)

_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "step_id": {"type": "string", "minLength": 1, "maxLength": 255},
        "reason": {"type": "string", "maxLength": MAX_REASON},
    },
    "required": ["step_id"],
    "additionalProperties": False,
}


class RollbackFailed(ConflictError):
    """The compensating tool did not undo the step (the request's step is an error)."""

    code = "rollback_failed"


def rollback_tool(plane: ControlPlane) -> Tool:
    """The governed ``rollback_step`` tool of ``plane``."""

    def handle(args: Mapping[str, Any], ctx: ToolContext) -> ToolOutput:
        step_id = str(args["step_id"])
        done = plane.rollback(step_id, requested_by=ctx.requester_id, reason=args.get("reason"))
        if done.outcome is not StepOutcome.EXECUTED:
            raise RollbackFailed(f"{done.tool_name} did not undo {step_id}: {done.reason}")
        return ToolOutput(
            value={"rolled_back": step_id, "compensated_by": done.tool_name},
            summary=f"rolled back {step_id} with {done.tool_name}",
        )

    return Tool(
        name=ROLLBACK_TOOL,
        description="Undo an executed step with its tool's compensating tool (a person asked).",
        parameters=_SCHEMA,
        handler=handle,
        policy=ROLLBACK_POLICY,
    )


def ensure_rollback_tool(plane: ControlPlane) -> None:
    """Register ``rollback_step`` in the plane's registry unless it is there."""
    if ROLLBACK_TOOL not in plane.registry:
        plane.registry.register(rollback_tool(plane))


def check_rollback(
    plane: ControlPlane, step_id: str, policies: Mapping[str, Policy] | None = None
) -> dict[str, Any]:
    """The step's latest record when it can be rolled back.

    The step's policy is the registry's when its tool is registered in this process, else
    ``policies``' (the deployment's policy table: the tool's own process, which holds its
    handler and the compensating tool, runs the rollback once the gate is approved).

    Raises:
        NotFoundError: no such step.
        ConflictError: it did not execute, or was already rolled back.
        PolicyError: its tool has no rollback strategy, or no known policy.
    """
    record = plane.ledger.latest("step", step_id)
    if record is None:
        raise NotFoundError(f"unknown step {step_id!r}")
    fields = dict(record.fields)
    status = fields.get("status")
    if status == "rolled_back":
        raise ConflictError(f"step {step_id} was already rolled back")
    if status not in ("executed", "approved"):
        raise ConflictError(f"step {step_id} is {status}; there is nothing to undo")
    tool = str(fields.get("tool_name"))
    if tool == ROLLBACK_TOOL:
        raise PolicyError("a rollback cannot itself be rolled back")
    if tool in plane.registry:
        policy: Policy | None = plane.registry.policy(tool)
    else:
        policy = (policies or {}).get(tool)
    if policy is None:
        raise PolicyError(f"{tool} has no known policy here; it cannot be rolled back")
    if policy.rollback_strategy is None:
        raise PolicyError(f"{tool} has no rollback strategy")
    return fields


def request_rollback(
    plane: ControlPlane,
    step_id: str,
    *,
    requested_by: str,
    reason: str | None = None,
    policies: Mapping[str, Policy] | None = None,
) -> StepResult:
    """Ask for a step's rollback: a gated ``rollback_step`` call in a new operator run.

    Returns the call's result: ``pending_approval`` with its gate (the usual case),
    ``rejected`` when no approver is configured (fail closed). ``policies``: see
    :func:`check_rollback`.

    Raises:
        InvalidInputError: an empty requester or a reason over 500 characters.
        NotFoundError, ConflictError, PolicyError: see :func:`check_rollback`.
    """
    if not requested_by:
        raise InvalidInputError("a rollback needs the name of who asks for it")
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInputError(f"the reason must be at most {MAX_REASON} characters")
    check_rollback(plane, step_id, policies)
    ensure_rollback_tool(plane)
    run = plane.start_run(ROLE, requested_by, f"roll back step {step_id}")
    args: dict[str, Any] = {"step_id": step_id}
    if reason:
        args["reason"] = reason
    return plane.execute(run, ROLLBACK_TOOL, args, requester_id=requested_by)
