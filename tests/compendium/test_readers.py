"""Readers: the role agents' prompts carry their department's cards; search_compendium runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tailguard.clock import FakeClock
from tailguard.compendium import Compendium, curate, prompt_section, search
from tailguard.roles.providers import ScriptedProvider
from tailguard.roles.recruiting.script import RECRUITING_RULES
from tailguard.roles.session import assemble_chat, open_chat


class RecordingProvider(ScriptedProvider):
    """The scripted provider, keeping every system prompt it was given."""

    def __init__(self) -> None:
        super().__init__(RECRUITING_RULES)
        self.systems: list[str] = []

    def complete(self, system: str, messages: Sequence[Any], tools: Sequence[Any]) -> Any:
        """Record the system prompt, then answer as the scripted provider does."""
        self.systems.append(system)
        return super().complete(system, messages, tools)


def test_role_agents_get_their_cards_in_the_prompt_and_can_search(tmp_path: Path) -> None:
    """After recruiter runs are curated, the recruiter's system prompt lists its cards (and the
    driver's does not), and "search the compendium about get_pipeline" runs the read tool."""
    clock = FakeClock()
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    first = open_chat(url, clock=clock)
    for _ in range(3):
        reply = first.agent.send(role="recruiter", user_id="rec-001", message="show my pipeline")
        assert reply.status == "completed"
    comp = Compendium(tmp_path / "compendium")
    curate(first.control, comp)
    section = prompt_section(comp, "recruiter")
    assert "get_pipeline in recruiter runs" in section

    provider = RecordingProvider()
    stack = assemble_chat(
        ledger=first.ledger,
        store=first.store,
        approvers=first.control.approvers,  # type: ignore[arg-type]
        clock=clock,
        provider=provider,
        compendium=comp,
    )
    reply = stack.agent.send(
        role="recruiter", user_id="rec-001", message="search the compendium about get_pipeline"
    )
    assert section in provider.systems[0]
    assert [a.tool_name for a in reply.tool_calls] == ["search_compendium"]
    assert reply.tool_calls[0].outcome == "executed"
    stack.agent.send(role="driver", user_id="drv-0001", message="my stats")
    assert "Knowledge compendium" not in provider.systems[-1]
    first.close()


def test_the_prompt_section_keeps_to_its_token_budget_most_relevant_first(tmp_path: Path) -> None:
    """With a budget for two lines, the two proven cards come before the suspected one."""
    comp = Compendium(tmp_path)
    rel = comp.path("admin/patterns/x.md")
    rel.parent.mkdir(parents=True)
    from tailguard.compendium import Card, Effect, render_cards

    def card(cid: str, status: str, mean: float) -> Card:
        return Card(
            card_id=cid,
            title=f"card {cid}",
            status=status,
            context="c",
            effect=Effect(measure="m", mean=mean, lo=mean - 1, hi=mean + 1, n=20),
            evidence=("step-1",),
            evidence_total=1,
            last_updated="2026-01-05T00:00:00Z",
        )

    cards = [card("a", "suspected", 9.0), card("b", "proven", 2.0), card("c", "proven", 5.0)]
    rel.write_text(render_cards("P", "", cards))
    full = prompt_section(comp, "admin", max_tokens=10_000).splitlines()
    assert [line.split("]")[0] for line in full[1:]] == ["- [proven", "- [proven", "- [suspected"]
    assert "card c" in full[1]
    short = prompt_section(comp, "admin", max_tokens=len("\n".join(full[:3])) // 4 + 1)
    assert short.splitlines() == full[:3]
    assert [h.found.card.card_id for h in search(comp, "card")] == ["c", "b", "a"]
