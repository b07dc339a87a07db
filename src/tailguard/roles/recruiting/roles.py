"""The four roles of the reference deployment: who they serve, their prompt and their caps."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from tailguard.errors import InvalidInputError
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.crossrole import market_summary
from tailguard.roles.recruiting.store import RecruitingStore

_COMMON = (
    "Use the tools to answer from data; never invent numbers. Actions marked as waiting for "
    "approval only happen after a person approves them; say so plainly. Keep answers short."
)


@dataclass(frozen=True, kw_only=True, slots=True)
class RoleSpec:
    """One role's agent settings.

    Attributes:
        name: driver, recruiter, carrier or admin.
        base_prompt: the system prompt (an admin can replace it with ``manage_prompts``,
            prompt id ``<role>_system``).
        default_user: the dataset user the CLI speaks as when none is given.
        max_tokens: per-run token cap (the product document's default is 10,000).
        max_seconds: per-run time cap on agent work (time waiting at a gate not counted).
        max_model_turns: model calls per run.
        alert_cost_usd: a run costing more than this writes an ``alert`` record.
    """

    name: str
    base_prompt: str
    default_user: str
    max_tokens: int = 10_000
    max_seconds: float = 30.0
    max_model_turns: int = 5
    alert_cost_usd: float = 0.50


ROLE_SPECS: dict[str, RoleSpec] = {
    "driver": RoleSpec(
        name="driver",
        default_user="drv-0001",
        base_prompt=(
            "You help a professional truck driver find carriers and jobs that fit: pay per "
            "mile, home time, equipment, safety record. You can also check road conditions "
            "and truck parking."
        ),
    ),
    "recruiter": RoleSpec(
        name="recruiter",
        default_user="rec-001",
        base_prompt=(
            "You help a carrier's driver recruiter work their pipeline from lead to hire: find "
            "drivers, update candidate stages, log calls, message candidates and book "
            "interviews, using market intelligence from the carrier side."
        ),
    ),
    "carrier": RoleSpec(
        name="carrier",
        default_user="acct-001",
        base_prompt=(
            "You help a carrier account (a B2B customer) understand its market signals, "
            "opportunities and hiring performance against the network."
        ),
    ),
    "admin": RoleSpec(
        name="admin",
        default_user="admin",
        base_prompt=(
            "You help the platform administrator watch system health and agent KPIs and "
            "manage the role agents' prompts."
        ),
    ),
}


def role_spec(role: str) -> RoleSpec:
    """The spec of ``role``; an unknown role is an input error listing the known ones."""
    try:
        return ROLE_SPECS[role]
    except KeyError:
        raise InvalidInputError(
            f"unknown role {role!r}: one of {', '.join(sorted(ROLE_SPECS))}"
        ) from None


def system_prompt(role: str, store: RecruitingStore) -> str:
    """The role's system prompt: the managed prompt if an admin saved one, plus live context.

    The recruiter's prompt carries the carrier-side market summary (cross-role intelligence).
    """
    spec = role_spec(role)
    managed = store.rows(
        sa.select(t.prompts.c.text)
        .where(t.prompts.c.prompt_id == f"{role}_system")
        .order_by(t.prompts.c.version.desc())
        .limit(1)
    )
    text = managed[0]["text"] if managed else spec.base_prompt
    parts = [text, _COMMON]
    if role == "recruiter":
        parts.append("Market context from carrier data: " + market_summary(store))
    return "\n\n".join(parts)
