"""The governed tools of gamification: every reward that moves money waits for a person.

* ``set_gamification_reward`` (execute_high, approval): set an area's reward parameter (the fix
  bonus per recorded first-time fix, the parts-kit streak prize, the co-op bonus). It commits
  future pay, so it is gated like a surge window.
* ``award_kit_bonus`` (execute_high, approval): send a technician the mystery bonus kit their
  parts-kit streak earned.
* ``award_team_bonus`` (execute_high, approval): pay an area's team the co-op bonus for a
  team goal met (a badge and a dollar bonus per member).
* ``assign_mission`` and ``grant_xp`` (execute_low): a sprint mission in the field app, and
  the XP of a completed one; neither moves money.
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
    """The governed tools, each calling ``act`` with its job kind (``gamification_reward``,
    ``kit_bonus``, ``tech_mission``, ``xp_grant``, ``withhold_fix_bonus``)."""

    def handler(kind: str, area_arg: str | None) -> Callable[[Mapping[str, Any], ToolContext], Any]:
        def handle(args: Mapping[str, Any], ctx: ToolContext) -> ToolOutput:
            area = str(args[area_arg]) if area_arg else ctx.initiator_id.split(":", 1)[-1]
            # What the downstream acts on; the rest (evidence, the streak) is for the ledger.
            sent = {
                k: v
                for k, v in args.items()
                if k
                not in (
                    "area_id",
                    "evidence",
                    "streak",
                    "text",
                    "mission_id",
                    "week",
                    "team_ftf_pct",
                )
            }
            if kind in ("gamification_reward", "team_bonus"):
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
            name="award_team_bonus",
            description=(
                "Pay every member of an area's team the co-op bonus for a team goal met this "
                "week (with the team's badge)."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "area_id": _AREA,
                    "usd_per_member": {"type": "number", "exclusiveMinimum": 0, "maximum": 500},
                    "members": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "week": {"type": "string", "format": "date"},
                    "team_ftf_pct": {"type": "number", "minimum": 0, "maximum": 100},
                },
                "required": ["area_id", "usd_per_member", "members"],
                "additionalProperties": False,
            },
            handler=handler("team_bonus", "area_id"),
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_HIGH,
                requires_approval=True,
                audit_fields=("area_id", "usd_per_member", "members", "week", "team_ftf_pct"),
                idempotent=True,
                approval_timeout=86_400,
                success_metric="the team's first-time fix stays above the goal",
            ),
        ),
        Tool(
            name="assign_mission",
            description=(
                "Give a technician a sprint mission aimed at their weakest metric (first-time "
                "fix or NPS) in the field app; it pays XP, not money."
            ),
            parameters={
                "type": "object",
                "properties": {
                    "tech_id": _TECH,
                    "metric": {"type": "string", "enum": ["fix", "nps"]},
                    "jobs": {"type": "integer", "minimum": 1, "maximum": 50},
                    "text": {"type": "string", "maxLength": 200},
                },
                "required": ["tech_id", "metric", "jobs"],
                "additionalProperties": False,
            },
            handler=handler("tech_mission", None),
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_LOW,
                audit_fields=("tech_id", "metric", "jobs", "text"),
                idempotent=True,
                success_metric="the mission's metric improves against the control techs",
            ),
        ),
        Tool(
            name="grant_xp",
            description="Credit a technician the XP of a completed mission (no money).",
            parameters={
                "type": "object",
                "properties": {
                    "tech_id": _TECH,
                    "xp": {"type": "integer", "minimum": 1, "maximum": 100000},
                    "mission_id": {"type": "string", "maxLength": 64},
                },
                "required": ["tech_id", "xp"],
                "additionalProperties": False,
            },
            handler=handler("xp_grant", None),
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_LOW,
                audit_fields=("tech_id", "xp", "mission_id"),
                idempotent=True,
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
