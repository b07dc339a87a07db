"""The recruiting tools as governed control-plane tools, each with its policy and roles."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from tailguard.control import Policy, RiskLevel, Tool, ToolContext, ToolOutput, ToolRegistry
from tailguard.control import builtin_policies as control_builtin_policies
from tailguard.errors import PermissionDeniedError, PolicyError
from tailguard.roles.providers import ToolSpec
from tailguard.roles.recruiting.catalog import TOOLS, tools_for_role
from tailguard.roles.recruiting.env import CallEnv, ToolDef
from tailguard.roles.recruiting.store import RecruitingStore
from tailguard.roles.recruiting.world import (
    DatasetParking,
    DatasetRoadConditions,
    ParkingSource,
    RoadConditionsSource,
)


def _read(metric: str) -> Policy:
    return Policy(risk_level=RiskLevel.READ, rate_limit=30, success_metric=metric, idempotent=True)


#: Policies of tools the control plane's built-in table lacks: the cross-role intelligence
#: mesh's five, and the admin's get_agent_kpis (added by the product document's J4).
EXTRA_POLICIES: dict[str, Policy] = {
    "get_agent_kpis": _read("result_returned"),
    "get_market_intel": _read("result_returned && recruiter_used_in_outreach"),
    "get_lane_demand": _read("result_returned"),
    "get_compensation_benchmarks": _read("result_returned"),
    "get_hiring_benchmarks": _read("result_returned"),
    "get_conversion_insights": _read("result_returned"),
}


def recruiting_policies(base: Mapping[str, Policy] | None = None) -> dict[str, Policy]:
    """Every recruiting tool's policy, restricted to the roles that are offered the tool.

    ``base`` defaults to the control plane's built-in table (the product document's). A tool's
    role list is added only when its policy has none, so an operator's stricter file wins.
    """
    policies = dict(control_builtin_policies() if base is None else base)
    policies = {**EXTRA_POLICIES, **policies}
    out = {}
    for tool in TOOLS:
        policy = policies.get(tool.name)
        if policy is None:
            raise PolicyError(f"recruiting tool {tool.name!r} has no policy")
        if policy.risk_level.value != tool.risk_level:
            raise PolicyError(
                f"{tool.name}: policy says {policy.risk_level.value}, the product document "
                f"says {tool.risk_level}"
            )
        if policy.roles is None:
            policy = dataclasses.replace(policy, roles=tool.roles)
        out[tool.name] = policy
    return out


def _handler(
    tool: ToolDef,
    store: RecruitingStore,
    roads: RoadConditionsSource,
    parking: ParkingSource,
    health: Mapping[str, Callable[[], Mapping[str, Any]]],
    kpis: Callable[[], Mapping[str, Any]] | None,
) -> Callable[[Mapping[str, Any], ToolContext], ToolOutput]:
    def handle(args: Mapping[str, Any], ctx: ToolContext) -> ToolOutput:
        user = store.user(ctx.requester_id)
        if user.role not in (ctx.role, "admin"):
            raise PermissionDeniedError(
                f"{ctx.requester_id} is a {user.role}; this is a {ctx.role} run"
            )
        env = CallEnv(
            store=store,
            user=user,
            roads=roads,
            parking=parking,
            idempotency_key=ctx.idempotency_key,
            compensating=ctx.compensates.result if ctx.compensates else None,
            health=health,
            kpis=kpis,
        )
        result = dict(tool.handler(env, args))
        ledger_summary = result.pop("ledger_summary", None)
        return ToolOutput(value=result, summary=str(ledger_summary or result.get("summary", "")))

    return handle


def build_registry(
    store: RecruitingStore,
    *,
    policies: Mapping[str, Policy] | None = None,
    roads: RoadConditionsSource | None = None,
    parking: ParkingSource | None = None,
    health: Mapping[str, Callable[[], Mapping[str, Any]]] | None = None,
    kpis: Callable[[], Mapping[str, Any]] | None = None,
) -> ToolRegistry:
    """A :class:`ToolRegistry` holding every recruiting tool on ``store``.

    Args:
        store: the recruiting dataset.
        policies: base policies (default: the control plane's built-in table).
        roads: road-conditions source (default: the dataset).
        parking: truck-parking source (default: the dataset).
        health: extra probes reported by ``get_system_health``.
        kpis: the KPI source of ``get_agent_kpis``.
    """
    table = recruiting_policies(policies)
    registry = ToolRegistry()
    for tool in TOOLS:
        registry.register(
            Tool(
                name=tool.name,
                description=tool.description,
                parameters=tool.parameters,
                handler=_handler(
                    tool,
                    store,
                    roads or DatasetRoadConditions(store=store),
                    parking or DatasetParking(store=store),
                    dict(health or {}),
                    kpis,
                ),
                policy=table[tool.name],
            )
        )
    return registry


def tool_specs(role: str) -> list[ToolSpec]:
    """What a role's model is shown: its tools' names, descriptions and argument schemas.

    The compensating tool is left out: rollbacks are started by people, not by the model.
    """
    return [
        ToolSpec(name=t.name, description=t.description, parameters=t.parameters)
        for t in tools_for_role(role)
        if t.name != "revert_to_previous_status"
    ]
