"""The governed tools of gamification: every reward that moves money waits for a person.

* ``set_gamification_reward`` (execute_high, approval): set an area's reward parameter (the fix
  bonus per recorded first-time fix, the parts-kit streak prize, the co-op bonus). It commits
  future pay, so it is gated like a surge window.
* ``award_kit_bonus`` (execute_high, approval): send a technician the mystery bonus kit their
  parts-kit streak earned.
* ``withhold_fix_bonus`` (execute_low): stop paying one technician the fix bonus because their
  fixes look gamed. It spends nothing and is logged with its evidence (the flag's q-value).

The handlers are the caller's (:func:`gamification_tools` takes one ``act(kind, area_id, args)``
that hands the job to whoever carries it out: the simulator in the demo, a payroll or field
app's REST agent in production), so this package stays below the agents and the service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from tailguard.control import Policy, RiskLevel, Tool, ToolContext, ToolOutput

#: ``act(kind, area_id, args, idempotency_key)``: carry a job out once; returns what happened
#: (``status``, ``detail``, ``cost_usd``); a status other than ``executed`` fails the step.
Act = Callable[[str, str, Mapping[str, Any], str], Mapping[str, Any]]

PARAMETERS: Final = ("ftf_bonus_usd", "kit_streak_value_usd", "coop_bonus_usd")

_AREA: Final = {"type": "string", "pattern": "^PA-[0-9]{4,}$"}
_TECH: Final = {"type": "string", "minLength": 1, "maxLength": 64}


class RewardRefused(Exception):
    """The downstream system did not carry the reward out (the step is recorded as an error)."""


def gamification_tools(act: Act) -> list[Tool]:
    """The three governed tools, each calling ``act`` with its intervention kind."""

    def handler(kind: str, area_arg: str | None) -> Callable[[Mapping[str, Any], ToolContext], Any]:
        def handle(args: Mapping[str, Any], ctx: ToolContext) -> ToolOutput:
            area = str(args[area_arg]) if area_arg else ctx.initiator_id.split(":", 1)[-1]
            # What the downstream acts on; the rest (evidence, the streak) is for the ledger.
            sent = {k: v for k, v in args.items() if k not in ("area_id", "evidence", "streak")}
            if kind == "gamification_reward":
                sent["area_id"] = area
            result = act(kind, area, sent, ctx.idempotency_key)
            if result.get("status") != "executed":
                raise RewardRefused(f"{kind} {result.get('status')}: {result.get('detail')}")
            cost = float(result.get("cost_usd") or 0.0)
            return ToolOutput(
                value={**result, "cost_usd": cost},
                summary=f"{kind} executed: cost ${cost:.2f}",
            )

        return handle

    return [
        Tool(
            name="set_gamification_reward",
            description=(
                "Set an area's gamification reward: the bonus per recorded first-time fix, the "
                "prize of a parts-kit streak, or the co-op bonus (0 switches it off)."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "area_id": _AREA,
                    "parameter": {"type": "string", "enum": list(PARAMETERS)},
                    "value": {"type": "number", "minimum": 0, "maximum": 500},
                },
                "required": ["area_id", "parameter", "value"],
                "additionalProperties": False,
            },
            handler=handler("gamification_reward", "area_id"),
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_HIGH,
                requires_approval=True,
                audit_fields=("area_id", "parameter", "value"),
                idempotent=True,
                approval_timeout=86_400,
                success_metric="the targeted tail improves without gamed fixes",
            ),
        ),
        Tool(
            name="award_kit_bonus",
            description="Send a technician the mystery bonus parts kit their streak earned.",
            parameters={
                "type": "object",
                "properties": {
                    "tech_id": _TECH,
                    "value_usd": {"type": "number", "exclusiveMinimum": 0, "maximum": 500},
                    "streak": {"type": "integer", "minimum": 2},
                },
                "required": ["tech_id", "value_usd"],
                "additionalProperties": False,
            },
            handler=handler("kit_bonus", None),
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_HIGH,
                requires_approval=True,
                audit_fields=("tech_id", "value_usd", "streak"),
                idempotent=True,
                approval_timeout=86_400,
                success_metric="pre-staged parts fully used",
            ),
        ),
        Tool(
            name="withhold_fix_bonus",
            description=(
                "Stop paying a technician the bonus on recorded first-time fixes: their fixes "
                "come back as recalls far more than their own past explains."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "tech_id": _TECH,
                    "evidence": {"type": "string", "maxLength": 200},
                },
                "required": ["tech_id"],
                "additionalProperties": False,
            },
            handler=handler("withhold_fix_bonus", None),
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_LOW,
                audit_fields=("tech_id", "evidence"),
                idempotent=True,
                success_metric="the tech's recalls fall back to their baseline",
            ),
        ),
    ]
