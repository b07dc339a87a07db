"""Reading the compendium: a department's cards, search, and the cards a role's prompt gets.

Relevance, used by search and by the prompt section: a proven card before a suspected one
(retired cards are never offered to an agent), then the stronger evidence (the effect's mean
over its interval's half width), then the larger count. Files whose cards break the format are
skipped here (and reported by :func:`problems`), never half-read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final

from tailguard.compendium.cards import Card, CardFormatError, Effect, parse_cards
from tailguard.compendium.tree import ARCHIVE, Compendium

_STATUS_RANK: Final = {"proven": 2, "suspected": 1, "retired": 0}
_WORD = re.compile(r"[a-z0-9_]+")
#: Characters per token for the prompt budget (the scripted provider's estimate).
CHARS_PER_TOKEN: Final = 4


@dataclass(frozen=True, kw_only=True, slots=True)
class FoundCard:
    """A card with where it lives."""

    path: str
    department: str
    card: Card


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchHit:
    """One search result."""

    found: FoundCard
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: card id, path, department, title, status, effect, context, evidence."""
        c = self.found.card
        return {
            "card_id": c.card_id,
            "path": self.found.path,
            "department": self.found.department,
            "title": c.title,
            "status": c.status,
            "effect": c.effect.render(),
            "context": c.context,
            "evidence": list(c.evidence),
            "last_updated": c.last_updated,
            "score": round(self.score, 4),
        }


def card_files(compendium: Compendium, department: str | None = None) -> list[str]:
    """The files that hold cards: ``*/patterns/**.md``, archived versions left out."""
    return [
        rel
        for rel in compendium.files(department)
        if "/patterns/" in f"/{rel}" and f"/{ARCHIVE}/" not in f"/{rel}"
    ]


def read_cards(compendium: Compendium, rel: str) -> list[Card]:
    """The cards of one file (an empty list when it does not exist).

    Raises:
        CardFormatError: the file holds a card that breaks the format.
    """
    text = compendium.read(rel)
    return [] if text is None else parse_cards(text, rel)


def department_cards(compendium: Compendium, department: str | None = None) -> list[FoundCard]:
    """Every readable card (of one department, or all), files with format errors skipped."""
    out = []
    for rel in card_files(compendium, department):
        try:
            cards = read_cards(compendium, rel)
        except CardFormatError:
            continue
        dept = rel.split("/", 1)[0]
        out += [FoundCard(path=rel, department=dept, card=c) for c in cards]
    return out


def problems(compendium: Compendium) -> list[CardFormatError]:
    """The card files that break the format, each with its file and line."""
    out = []
    for rel in card_files(compendium):
        try:
            read_cards(compendium, rel)
        except CardFormatError as exc:
            out.append(exc)
    return out


def strength(effect: Effect) -> float:
    """How sure an effect is: |mean| over the interval's half width (capped at 10)."""
    half = (effect.hi - effect.lo) / 2.0
    if half <= 0:
        return 0.0 if effect.mean == 0 else 10.0
    return min(abs(effect.mean) / half, 10.0)


def rank(status: str, effect: Effect) -> tuple[int, float, int]:
    """The sort key of "most relevant first" (larger is more relevant)."""
    return (_STATUS_RANK.get(status, 0), round(strength(effect), 6), effect.n)


def relevance(card: Card) -> tuple[int, float, int]:
    """:func:`rank` of a card."""
    return rank(card.status, card.effect)


def search(
    compendium: Compendium, query: str, *, department: str | None = None, limit: int = 5
) -> list[SearchHit]:
    """Cards matching the words of ``query`` (title, context, id, measure), best first.

    A card's score is the share of query words it contains, plus a small bonus for relevance;
    retired cards rank last. An empty query matches nothing.
    """
    words = set(_WORD.findall(query.lower()))
    if not words:
        return []
    hits = []
    for found in department_cards(compendium, department):
        c = found.card
        text = " ".join([c.title, c.context, c.card_id, c.effect.measure, found.path]).lower()
        have = set(_WORD.findall(text))
        # A query word matches a card word that starts with it (``surge`` finds surge_shift).
        matched = sum(1 for w in words if any(h == w or h.startswith(w) for h in have))
        if not matched:
            continue
        status_rank, power, n = relevance(c)
        score = matched / len(words) + 0.1 * status_rank + 0.01 * power + 0.001 * math.log1p(n)
        hits.append(SearchHit(found=found, score=score))
    hits.sort(key=lambda h: (-h.score, h.found.card.card_id))
    return hits[:limit]


def prompt_section(compendium: Compendium, department: str, *, max_tokens: int = 600) -> str:
    """The department's live cards for a system prompt, most relevant first, within budget.

    Each card is one line: title, status, effect. Cards are added while the section stays
    under ``max_tokens`` (estimated at :data:`CHARS_PER_TOKEN` characters a token); retired
    cards are left out. Empty when the department has no live card.
    """
    cards = [f.card for f in department_cards(compendium, department) if f.card.status != "retired"]
    cards.sort(key=lambda c: (tuple(-x for x in relevance(c)), c.card_id))
    head = f"Knowledge compendium ({department}), most relevant first:"
    lines = [head]
    budget = max_tokens * CHARS_PER_TOKEN
    used = len(head)
    for card in cards:
        line = f"- [{card.status}] {card.title}: {card.effect.render()} (card {card.card_id})"
        if used + len(line) + 1 > budget:
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines) if len(lines) > 1 else ""
