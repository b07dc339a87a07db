"""The field-service tools with their policies: reads for both operations roles, deciding an
approval for the operations manager only.

Policies are written like the recruiting ones (risk level, roles, rate limit, audit fields,
success metric), so the control plane governs these calls as it governs every other: each is a
run in the ledger, refused for a role the policy does not name, rate-limited per user.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tailguard.control import Policy, RiskLevel, Tool, ToolContext, ToolRegistry
from tailguard.errors import InvalidInputError, PermissionDeniedError
from tailguard.roles.fieldservice import reads
from tailguard.roles.fieldservice.sources import OpsSources
from tailguard.roles.providers import ToolSpec

#: The operations manager: reads everything, decides approvals.
OPS_MANAGER = "ops_manager"
#: The operations analyst: reads everything, decides nothing.
OPS_ANALYST = "ops_analyst"
OPS_ROLES = frozenset({OPS_MANAGER, OPS_ANALYST})

_AREA = {
    "type": "string",
    "pattern": "^[A-Za-z]{2}-[0-9]{1,6}$",
    "description": "area id, e.g. PA-0004",
}
_DAYS = {"type": "integer", "minimum": 1, "maximum": 90, "description": "look-back in days"}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 500}


def _schema(properties: Mapping[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(required),
        "additionalProperties": False,
    }


def decide(src: OpsSources, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Approve or reject a waiting gate as the caller (the control plane checks that they may
    decide it, and that they did not request it themselves)."""
    if ctx.role not in (OPS_MANAGER, "mcp"):
        raise PermissionDeniedError(f"role {ctx.role} may not decide approvals")
    decision = str(args["decision"])
    if decision not in ("approve", "reject"):
        raise InvalidInputError("decision must be approve or reject")
    control = src.need_control()
    result = control.decide(
        str(args["gate_id"]), decision, ctx.requester_id, reason=args.get("reason")
    )
    return {
        "gate_id": result.gate_id,
        "decision": result.decision,
        "decided_by": ctx.requester_id,
        "summary": f"gate {result.gate_id} {result.decision} by {ctx.requester_id}",
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class OpsTool:
    """One field-service tool: its wire description, schema, handler and policy."""

    name: str
    description: str
    parameters: dict[str, Any]
    handler: Callable[[OpsSources, Mapping[str, Any], ToolContext], Any]
    policy: Policy


def _read(metric: str, *audit: str) -> Policy:
    return Policy(
        risk_level=RiskLevel.READ,
        rate_limit=120,
        idempotent=True,
        success_metric=metric,
        audit_fields=audit,
        roles=OPS_ROLES,
    )


TOOLS: tuple[OpsTool, ...] = (
    OpsTool(
        name="fs_pulse",
        description="Latest KPIs (first-time fix, NPS, lateness, ...) of one area or of every area.",
        parameters=_schema({"area_id": _AREA, "limit": _LIMIT}),
        handler=reads.pulse,
        policy=_read("the manager sees the current KPIs", "area_id"),
    ),
    OpsTool(
        name="fs_tails",
        description="Areas in the tail: tail rules firing at the pulse's latest tick.",
        parameters=_schema({"area_id": _AREA}),
        handler=reads.tails,
        policy=_read("breaching areas named", "area_id"),
    ),
    OpsTool(
        name="fs_area_scorecard",
        description="One area's KPIs tick by tick over the last days (from the pulse).",
        parameters=_schema({"area_id": _AREA, "days": _DAYS}, ("area_id",)),
        handler=reads.scorecard,
        policy=_read("the area's trend shown", "area_id", "days"),
    ),
    OpsTool(
        name="fs_interventions",
        description="Interventions the area agents took (one area or all) with their status, "
        "approval and measured outcome against the baseline.",
        parameters=_schema(
            {
                "area_id": _AREA,
                "days": _DAYS,
                "kind": {"type": "string", "maxLength": 64},
                "limit": _LIMIT,
            }
        ),
        handler=reads.interventions,
        policy=_read("interventions and outcomes listed", "area_id", "days", "kind"),
    ),
    OpsTool(
        name="fs_explain_intervention",
        description="Why an area got its interventions on a day (trigger, reason, run, who "
        "approved) and whether they worked (outcome vs baseline). day: today, yesterday, "
        "'N days ago' or YYYY-MM-DD; kind narrows it (e.g. surge).",
        parameters=_schema(
            {
                "area_id": _AREA,
                "day": {"type": "string", "maxLength": 20, "pattern": "^[A-Za-z0-9 -]+$"},
                "kind": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z_ ]*$"},
            },
            ("area_id",),
        ),
        handler=reads.explain,
        policy=_read(
            "the why and the outcome of one decision explained from the records",
            "area_id",
            "day",
            "kind",
        ),
    ),
    OpsTool(
        name="fs_okrs",
        description="The weekly OKRs committed per area and their scores (from the ledger).",
        parameters=_schema({"area_id": _AREA, "limit": _LIMIT}),
        handler=reads.okrs,
        policy=_read("OKRs shown", "area_id"),
    ),
    OpsTool(
        name="fs_approvals",
        description="Approvals waiting for a person's decision, oldest first.",
        parameters=_schema({"limit": _LIMIT}),
        handler=reads.approvals,
        policy=_read("the queue shown"),
    ),
    OpsTool(
        name="fs_decide_approval",
        description="Approve or reject a waiting approval gate (operations manager only; you "
        "cannot decide a call you requested).",
        parameters=_schema(
            {
                "gate_id": {"type": "string", "minLength": 1, "maxLength": 64},
                "decision": {"type": "string", "enum": ["approve", "reject"]},
                "reason": {"type": "string", "maxLength": 500},
            },
            ("gate_id", "decision"),
        ),
        handler=decide,
        policy=Policy(
            risk_level=RiskLevel.EXECUTE_LOW,
            rate_limit=30,
            success_metric="the gate decided by an authorised person",
            audit_fields=("gate_id", "decision", "reason"),
            roles=frozenset({OPS_MANAGER}),
        ),
    ),
)


def build_ops_registry(src: OpsSources) -> ToolRegistry:
    """Every field-service tool bound to ``src``."""
    registry = ToolRegistry()
    for tool in TOOLS:
        registry.register(
            Tool(
                name=tool.name,
                description=tool.description,
                parameters=tool.parameters,
                handler=functools.partial(tool.handler, src),
                policy=tool.policy,
            )
        )
    return registry


def tool_specs(role: str) -> list[ToolSpec]:
    """The tools offered to ``role``'s model."""
    return [
        ToolSpec(name=t.name, description=t.description, parameters=t.parameters)
        for t in TOOLS
        if t.policy.roles is None or role in t.policy.roles
    ]
