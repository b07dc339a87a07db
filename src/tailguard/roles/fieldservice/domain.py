"""The field-service domain as the chat loop sees it: the operations roles, their prompts,
tools and caps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tailguard.errors import InvalidInputError
from tailguard.roles.fieldservice.registry import OPS_ANALYST, OPS_MANAGER, tool_specs
from tailguard.roles.providers import ToolSpec

_PROMPT = (
    "You help the operations manager of a field-service network (technicians, planning areas, "
    "first-time fix, NPS, lateness). Answer from the tools: the pulse (current KPIs), the tails "
    "(areas breaching), the interventions the area agents took with their trigger, approval and "
    "measured outcome, the OKRs and the approvals waiting. Say why an intervention happened "
    "from its trigger and reason, and whether it worked from its outcome against the baseline; "
    "never invent numbers. Deciding an approval goes through the control plane like every "
    "action: say what was decided, or why it was refused."
)


@dataclass(frozen=True, kw_only=True, slots=True)
class OpsRoleSpec:
    """One operations role's caps (the loop's ``RoleLimits``)."""

    name: str
    max_tokens: int = 10_000
    max_seconds: float = 30.0
    max_model_turns: int = 5
    alert_cost_usd: float = 0.50


ROLE_SPECS = {
    OPS_MANAGER: OpsRoleSpec(name=OPS_MANAGER),
    OPS_ANALYST: OpsRoleSpec(name=OPS_ANALYST),
}


def ops_role(role: str) -> OpsRoleSpec:
    """The spec of ``role``; an unknown role is an input error naming the known ones."""
    try:
        return ROLE_SPECS[role]
    except KeyError:
        raise InvalidInputError(
            f"unknown operations role {role!r}: one of {', '.join(sorted(ROLE_SPECS))}"
        ) from None


@dataclass(frozen=True, kw_only=True, slots=True)
class OperationsDomain:
    """The operations roles; any named user may speak (the deployment's sign-in says who)."""

    def limits(self, role: str) -> OpsRoleSpec:
        """The role's caps."""
        return ops_role(role)

    def system_prompt(self, role: str) -> str:
        """The role's system prompt."""
        ops_role(role)
        if role == OPS_ANALYST:
            return _PROMPT + " You may read everything but decide nothing."
        return _PROMPT

    def tool_specs(self, role: str) -> Sequence[ToolSpec]:
        """The tools offered to the role's model (the analyst gets no decide tool)."""
        ops_role(role)
        return tool_specs(role)

    def check_user(self, user_id: str, role: str) -> None:
        """The role must be an operations role and the user named."""
        ops_role(role)
        if not str(user_id).strip():
            raise InvalidInputError("a user id is required")
