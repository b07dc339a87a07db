"""The catalogue of governed remedies the reliability agent may propose.

Every remedy is a tool of the control plane with an ``execute_high`` policy: it waits at an
approval gate until a person (the drill's scripted approver) decides, runs exactly once when
approved (the gate's claim), never when rejected or timed out, and leaves its step in the
ledger. The handlers turn the deployment's switches (:class:`~tailguard.ops.store.OpsStore`)
or roll back a policy version (:class:`~tailguard.learning.versions.PolicyStore`); none runs
a command or reaches outside the database.

| tool | what it does | undone by |
|---|---|---|
| ``ops_pause_intervention_kind`` | the area agents stop choosing one intervention kind | ``ops_resume_intervention_kind`` |
| ``ops_rollback_policy_version`` | the previous policy version is active again | a new version |
| ``ops_open_circuit_breaker`` | hold the breaker toward one downstream agent open (jobs held) | ``ops_reset_circuit_breaker`` |
| ``ops_reset_circuit_breaker`` | close it again (jobs flow) | - |
| ``ops_raise_budget`` | raise a daily budget, never above its cap | - |
| ``ops_restart_worker`` | drain and restart a worker (the approvals worker) | - |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tailguard.clock import Clock, format_ts
from tailguard.control import Policy, RiskLevel, Tool, ToolContext, ToolRegistry
from tailguard.errors import ConflictError, InvalidInputError
from tailguard.learning.versions import PolicyStore
from tailguard.ops.store import OpsStore

#: The role of the reliability agent's runs (and of operators acting by hand).
ROLES: Final = frozenset({"reliability_agent", "operator"})

PAUSE: Final = "ops_pause_intervention_kind"
RESUME: Final = "ops_resume_intervention_kind"
ROLLBACK_POLICY: Final = "ops_rollback_policy_version"
OPEN_BREAKER: Final = "ops_open_circuit_breaker"
RESET_BREAKER: Final = "ops_reset_circuit_breaker"
RAISE_BUDGET: Final = "ops_raise_budget"
RESTART_WORKER: Final = "ops_restart_worker"

#: The workers a remedy may restart.
WORKERS: Final = ("approvals",)

_NAME = {"type": "string", "minLength": 1, "maxLength": 120, "pattern": "^[A-Za-z0-9_.:-]+$"}
_REASON = {"type": "string", "maxLength": 400}


def _gated(*audit: str, rollback: str | None = None) -> Policy:
    return Policy(
        risk_level=RiskLevel.EXECUTE_HIGH,
        requires_approval=True,
        rate_limit=30,
        success_metric="the incident's signal is back inside its threshold at verification",
        rollback_strategy=rollback,
        audit_fields=(*audit, "reason", "incident_id"),
        idempotent=True,
        approval_timeout=3600,
        roles=ROLES,
    )


def _schema(props: Mapping[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**props, "reason": _REASON, "incident_id": _NAME},
        "required": [*required, "reason"],
        "additionalProperties": False,
    }


def paused_key(kind: str) -> str:
    """The switch that pauses intervention kind ``kind``."""
    return f"paused:{kind}"


def breaker_key(agent: str) -> str:
    """The switch that holds the breaker toward downstream agent ``agent`` open."""
    return f"breaker:{agent}"


def budget_key(name: str) -> str:
    """The switch with the daily budget ``name`` (``{"daily_usd", "cap_usd"}``)."""
    return f"budget:{name}"


def worker_key(name: str) -> str:
    """The switch with worker ``name``'s state (``{"state", "restarts"}``)."""
    return f"worker:{name}"


@dataclass(frozen=True, kw_only=True, slots=True)
class RemedyContext:
    """What the remedy handlers act on."""

    ops: OpsStore
    policies: PolicyStore
    clock: Clock


def remedy_tools(ctx: RemedyContext) -> list[Tool]:
    """The remedy tools bound to one deployment's stores."""
    ops, clock = ctx.ops, ctx.clock

    def pause(args: Mapping[str, Any], tc: ToolContext) -> Any:
        before = ops.set_switch(paused_key(args["kind"]), True, now=clock.now())
        return {"kind": args["kind"], "paused": True, "was_paused": bool(before)}

    def resume(args: Mapping[str, Any], tc: ToolContext) -> Any:
        kind = args.get("kind") or (tc.compensates.args["kind"] if tc.compensates else None)
        if not kind:
            raise InvalidInputError("resume needs the kind")
        ops.set_switch(paused_key(str(kind)), False, now=clock.now())
        return {"kind": kind, "paused": False}

    def rollback_policy(args: Mapping[str, Any], tc: ToolContext) -> Any:
        active = ctx.policies.state().active
        if active != args["version_id"]:
            # Approved against one version; another took over since: do not roll that one back.
            raise ConflictError(
                f"policy version {args['version_id']} is no longer active (active: {active})"
            )
        now_active = ctx.policies.rollback(
            clock.now(), by=tc.requester_id, reason=str(args["reason"])[:400]
        )
        return {"rolled_back": args["version_id"], "active": now_active}

    def open_breaker(args: Mapping[str, Any], tc: ToolContext) -> Any:
        ops.set_switch(
            breaker_key(args["agent"]),
            {"state": "open", "since": format_ts(clock.now())},
            now=clock.now(),
        )
        return {"agent": args["agent"], "breaker": "open"}

    def reset_breaker(args: Mapping[str, Any], tc: ToolContext) -> Any:
        agent = args.get("agent") or (tc.compensates.args["agent"] if tc.compensates else None)
        if not agent:
            raise InvalidInputError("reset needs the agent")
        ops.set_switch(
            breaker_key(str(agent)),
            {"state": "closed", "since": format_ts(clock.now())},
            now=clock.now(),
        )
        return {"agent": agent, "breaker": "closed"}

    def raise_budget(args: Mapping[str, Any], tc: ToolContext) -> Any:
        key = budget_key(args["name"])
        current = ops.switch(key)
        if current is None:
            raise InvalidInputError(f"no budget named {args['name']!r}")
        new = float(args["daily_usd"])
        if new <= float(current["daily_usd"]):
            raise InvalidInputError(
                f"{args['name']}: {new:.2f} does not raise the budget ({current['daily_usd']:.2f})"
            )
        if new > float(current["cap_usd"]):
            raise InvalidInputError(
                f"{args['name']}: {new:.2f} is above the cap of {current['cap_usd']:.2f}"
            )
        ops.set_switch(key, {**current, "daily_usd": new}, now=clock.now())
        return {"name": args["name"], "daily_usd": new, "previous": current["daily_usd"]}

    def restart_worker(args: Mapping[str, Any], tc: ToolContext) -> Any:
        key = worker_key(args["worker"])
        current = ops.switch(key) or {"state": "running", "restarts": 0}
        # Drain: the worker takes no new work, then starts fresh; its restarts are counted.
        ops.set_switch(key, {**current, "state": "draining"}, now=clock.now())
        restarts = int(current.get("restarts", 0)) + 1
        ops.set_switch(key, {"state": "running", "restarts": restarts}, now=clock.now())
        return {"worker": args["worker"], "state": "running", "restarts": restarts}

    return [
        Tool(
            name=PAUSE,
            description="Stop the area agents from choosing one intervention kind.",
            parameters=_schema({"kind": _NAME}, ["kind"]),
            handler=pause,
            policy=_gated("kind", rollback=RESUME),
        ),
        _undo(
            RESUME, "Let the area agents choose a paused intervention kind again.", "kind", resume
        ),
        Tool(
            name=ROLLBACK_POLICY,
            description="Make the previous policy version active again (the harmful one retires).",
            parameters=_schema({"version_id": _NAME}, ["version_id"]),
            handler=rollback_policy,
            policy=_gated("version_id"),
        ),
        Tool(
            name=OPEN_BREAKER,
            description="Hold the circuit breaker toward one downstream agent open.",
            parameters=_schema({"agent": _NAME}, ["agent"]),
            handler=open_breaker,
            policy=_gated("agent", rollback=RESET_BREAKER),
        ),
        _undo(
            RESET_BREAKER,
            "Close the circuit breaker toward one downstream agent again.",
            "agent",
            reset_breaker,
        ),
        Tool(
            name=RAISE_BUDGET,
            description="Raise a daily budget, never above its cap.",
            parameters=_schema(
                {"name": _NAME, "daily_usd": {"type": "number", "minimum": 0, "maximum": 1e9}},
                ["name", "daily_usd"],
            ),
            handler=raise_budget,
            policy=_gated("name", "daily_usd"),
        ),
        Tool(
            name=RESTART_WORKER,
            description="Drain and restart a worker of the deployment.",
            parameters=_schema({"worker": {"enum": list(WORKERS)}}, ["worker"]),
            handler=restart_worker,
            policy=_gated("worker"),
        ),
    ]


def _undo(name: str, description: str, field: str, handler: Any) -> Tool:
    """A remedy's undo (resume a kind, reset a breaker): low risk, idempotent, its one
    argument optional, no gate."""
    return Tool(
        name=name,
        description=description,
        parameters={**_schema({field: _NAME}, []), "required": []},
        handler=handler,
        policy=Policy(
            risk_level=RiskLevel.EXECUTE_LOW,
            audit_fields=(field, "reason"),
            idempotent=True,
            roles=ROLES,
        ),
    )


def register_remedies(registry: ToolRegistry, ctx: RemedyContext) -> None:
    """Add the remedy tools to ``registry`` (those it lacks)."""
    for tool in remedy_tools(ctx):
        if tool.name not in registry:
            registry.register(tool)
