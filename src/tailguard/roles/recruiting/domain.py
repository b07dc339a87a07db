"""The recruiting domain as the loop sees it: roles, prompts, tools and users."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tailguard.compendium import Compendium, prompt_section
from tailguard.compendium.tools import SEARCH_DESCRIPTION, SEARCH_PARAMETERS, SEARCH_TOOL
from tailguard.roles.providers import ToolSpec
from tailguard.roles.recruiting.registry import tool_specs
from tailguard.roles.recruiting.roles import RoleSpec, role_spec, system_prompt
from tailguard.roles.recruiting.store import RecruitingStore


@dataclass(frozen=True, kw_only=True, slots=True)
class RecruitingDomain:
    """The reference deployment's four roles on a recruiting store."""

    store: RecruitingStore
    compendium: Compendium | None = None
    compendium_tokens: int = 600

    def limits(self, role: str) -> RoleSpec:
        """The role's caps (its :class:`RoleSpec`)."""
        return role_spec(role)

    def system_prompt(self, role: str) -> str:
        """The role's system prompt with live context and its department's compendium cards."""
        text = system_prompt(role, self.store)
        if self.compendium is None:
            return text
        cards = prompt_section(self.compendium, role, max_tokens=self.compendium_tokens)
        return f"{text}\n\n{cards}" if cards else text

    def tool_specs(self, role: str) -> Sequence[ToolSpec]:
        """The tools offered to the role's model."""
        role_spec(role)
        specs = tool_specs(role)
        if self.compendium is not None:
            specs.append(_SEARCH_SPEC)
        return specs

    def check_user(self, user_id: str, role: str) -> None:
        """The user must exist and hold ``role``."""
        self.store.user(user_id, role=role)


_SEARCH_SPEC = ToolSpec(
    name=SEARCH_TOOL, description=SEARCH_DESCRIPTION, parameters=SEARCH_PARAMETERS
)
