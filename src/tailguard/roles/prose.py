"""A model provider as the compendium curator's prose writer (words only, never numbers).

:func:`provider_prose` turns any :class:`~tailguard.roles.providers.ModelProvider` into a
:data:`tailguard.compendium.ProseWriter`: one call per new or changed card, shown the card's
title, status and context (not its figures) and asked for a short paragraph without digits.
The curator reserves and settles the call against its run's budget like any model call, and
refuses a paragraph that holds a digit or a heading, so a card's numbers only ever come from
the ledger and the self-learn store.
"""

from __future__ import annotations

from tailguard.compendium import Card, ProseWriter
from tailguard.control import Usage
from tailguard.roles.providers import ChatMessage, ModelProvider

SYSTEM = (
    "You write one short paragraph of plain prose for an operations team about a pattern card "
    "in their knowledge compendium: when it applies and what to watch for. Never write a "
    "number or a digit (the card's measured figures are shown beside your words), no "
    "headings, at most sixty words."
)


def provider_prose(provider: ModelProvider) -> ProseWriter:
    """A prose writer calling ``provider`` once per card."""

    def write(card: Card) -> tuple[str, Usage]:
        ask = (
            f"Card: {card.title}\nStatus: {card.status}\nContext: {card.context}\n"
            "Write the paragraph."
        )
        turn = provider.complete(SYSTEM, [ChatMessage(role="user", text=ask)], [])
        usage = Usage(
            input_tokens=turn.usage.input_tokens,
            output_tokens=turn.usage.output_tokens,
            cost_usd=turn.cost_usd,
        )
        return turn.text.strip(), usage

    return write
