"""The pattern card: one fixed Markdown shape, rendered and parsed here and nowhere else.

A card is an H2 section of a ``patterns/*.md`` file::

    ## surge_shift_offer raises earnings_week (urban areas)
    <!-- card: ops-surge_shift_offer/earnings_week -->
    - status: proven
    - context: executed surge_shift_offer decisions in urban areas, outcome on earnings_week
    - effect: earnings_week +41.2 (95% CI +12.0 to +70.4, n=38)
    - evidence: step-3f2a..., step-9c01... (38 in all)
    - last updated: 2026-03-02T00:00:00Z

    Optional prose, any number of paragraphs, up to the next H2.

Field order is fixed; ``status`` is ``proven``, ``suspected`` or ``retired``; the effect names
its measure, a signed mean, its 95 % interval and the count it rests on; evidence lists ledger
ids (the ``step`` records of the decisions or the ``outcome`` records of the runs) and, when
more exist than are listed, ``(N in all)``. :func:`parse_cards` reads a file back and reports
the first line that breaks the shape (:class:`CardFormatError`, with file and line), so a
hand edit that breaks a card is named and the curator leaves that file alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from tailguard.clock import parse_ts
from tailguard.errors import InvalidInputError

STATUSES: Final = ("proven", "suspected", "retired")
FIELDS: Final = ("status", "context", "effect", "evidence", "last updated")
_MARKER = re.compile(r"^<!-- card: (?P<id>[A-Za-z0-9_.:/|-]{1,200}) -->$")
_FIELD = re.compile(r"^- (?P<name>[a-z ]+): (?P<value>.*)$")
_NUM = r"[+-]?\d+(?:\.\d+)?"
_EFFECT = re.compile(
    rf"^(?P<measure>[A-Za-z0-9_.-]+) (?P<mean>{_NUM}) \(95% CI (?P<lo>{_NUM}) to "
    rf"(?P<hi>{_NUM}), n=(?P<n>\d+)\)$"
)
_EVIDENCE = re.compile(
    r"^(?P<ids>[A-Za-z0-9_-]+(?:, [A-Za-z0-9_-]+)*)(?: \((?P<all>\d+) in all\))?$"
)
_NONE = re.compile(r"^none(?: \((?P<all>\d+) in all\))?$")
_TITLE_BAD = re.compile(r"[\r\n]")


class CardFormatError(InvalidInputError):
    """A card that breaks the documented shape; ``path`` and ``line`` say where."""

    code = "invalid_card"

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True, kw_only=True, slots=True)
class Effect:
    """A measured effect: ``measure`` mean with its 95 % interval over ``n`` observations."""

    measure: str
    mean: float
    lo: float
    hi: float
    n: int

    def render(self) -> str:
        """``measure +1.2 (95% CI +0.3 to +2.1, n=40)``, two decimals, signs always shown."""
        return (
            f"{self.measure} {self.mean:+.2f} (95% CI {self.lo:+.2f} to {self.hi:+.2f}, n={self.n})"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Card:
    """One pattern card (see the module docstring for its Markdown)."""

    card_id: str
    title: str
    status: str
    context: str
    effect: Effect
    evidence: tuple[str, ...]
    evidence_total: int
    last_updated: str
    prose: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise InvalidInputError(f"card status must be one of {STATUSES}, not {self.status!r}")
        if not _MARKER.match(f"<!-- card: {self.card_id} -->"):
            raise InvalidInputError(f"bad card id {self.card_id!r}")
        if not self.title or _TITLE_BAD.search(self.title):
            raise InvalidInputError("a card title is one non-empty line")
        if self.evidence_total < len(self.evidence):
            raise InvalidInputError("evidence_total is below the ids listed")
        if any(line.lstrip().startswith("#") for line in self.prose.splitlines()):
            raise InvalidInputError("a card's prose may not hold headings")

    def numbers(self) -> tuple[str, str, str]:
        """What the curator owns and compares: status, effect line and evidence line."""
        return (self.status, self.effect.render(), self.evidence_line())

    def evidence_line(self) -> str:
        """The evidence ids, with ``(N in all)`` when more exist than are listed."""
        text = ", ".join(self.evidence) if self.evidence else "none"
        return text + (
            f" ({self.evidence_total} in all)" if self.evidence_total > len(self.evidence) else ""
        )

    def render(self) -> str:
        """The card's Markdown, ending with a newline."""
        lines = [
            f"## {self.title}",
            f"<!-- card: {self.card_id} -->",
            f"- status: {self.status}",
            f"- context: {' '.join(self.context.split())}",
            f"- effect: {self.effect.render()}",
            f"- evidence: {self.evidence_line()}",
            f"- last updated: {self.last_updated}",
        ]
        if self.prose.strip():
            lines += ["", self.prose.strip()]
        return "\n".join(lines) + "\n"


def render_cards(title: str, intro: str, cards: Sequence[Card]) -> str:
    """A whole patterns file: an H1, an introduction, then the cards in the order given."""
    parts = [f"# {title}\n", f"{intro.strip()}\n" if intro.strip() else ""]
    parts += [card.render() for card in cards]
    return "\n".join(p for p in parts if p)


def parse_effect(text: str) -> Effect | None:
    """An effect line's value (``measure +m (95% CI ...)``), or None when it does not read so."""
    m = _EFFECT.match(text)
    if m is None:
        return None
    return Effect(
        measure=m.group("measure"),
        mean=float(m.group("mean")),
        lo=float(m.group("lo")),
        hi=float(m.group("hi")),
        n=int(m.group("n")),
    )


def _number(text: str) -> float:
    return float(text)


def parse_cards(text: str, path: str = "<text>") -> list[Card]:
    """Every card of a patterns file, in file order.

    An H2 section is a card when its next line is a ``<!-- card: id -->`` marker; other H2
    sections (notes someone wrote) are left alone.

    Raises:
        CardFormatError: the first line that breaks a card's shape, with ``path`` and line.
    """
    lines = text.splitlines()
    cards: list[Card] = []
    ids: set[str] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("## ") or i + 1 >= len(lines):
            i += 1
            continue
        marker = _MARKER.match(lines[i + 1])
        if marker is None:
            if lines[i + 1].startswith("<!-- card:"):
                raise CardFormatError(path, i + 2, "malformed card marker")
            i += 1
            continue
        card, i = _parse_one(lines, i, marker.group("id"), path)
        if card.card_id in ids:
            raise CardFormatError(path, i, f"card id {card.card_id!r} appears twice")
        ids.add(card.card_id)
        cards.append(card)
    return cards


def _parse_one(lines: list[str], start: int, card_id: str, path: str) -> tuple[Card, int]:
    title = lines[start][3:].strip()
    if not title:
        raise CardFormatError(path, start + 1, "a card needs a title after '## '")
    values: dict[str, str] = {}
    i = start + 2
    for name in FIELDS:
        if i >= len(lines):
            raise CardFormatError(path, i, f"the card ends before its {name!r} line")
        match = _FIELD.match(lines[i])
        if match is None or match.group("name") != name:
            raise CardFormatError(path, i + 1, f"expected '- {name}: ...', got {lines[i]!r}")
        values[name] = match.group("value").strip()
        i += 1
    line_of = {name: start + 3 + k for k, name in enumerate(FIELDS)}
    if values["status"] not in STATUSES:
        raise CardFormatError(
            path, line_of["status"], f"status must be one of {', '.join(STATUSES)}"
        )
    effect = _EFFECT.match(values["effect"])
    if effect is None:
        raise CardFormatError(
            path, line_of["effect"], "effect must read 'measure +m (95% CI +lo to +hi, n=N)'"
        )
    lo, mean, hi = (_number(effect.group(k)) for k in ("lo", "mean", "hi"))
    if not lo <= mean <= hi:
        raise CardFormatError(path, line_of["effect"], "the mean lies outside its interval")
    evidence: tuple[str, ...] = ()
    total = 0
    none = _NONE.match(values["evidence"])
    if none is not None:
        total = int(none.group("all") or 0)
    else:
        ev = _EVIDENCE.match(values["evidence"])
        if ev is None:
            raise CardFormatError(
                path, line_of["evidence"], "evidence must be ledger ids separated by ', '"
            )
        evidence = tuple(ev.group("ids").split(", "))
        total = int(ev.group("all")) if ev.group("all") else len(evidence)
        if total < len(evidence):
            raise CardFormatError(path, line_of["evidence"], "'in all' is below the ids listed")
    try:
        parse_ts(values["last updated"])
    except ValueError:
        raise CardFormatError(
            path, line_of["last updated"], "last updated must be an RFC 3339 timestamp"
        ) from None
    prose_lines: list[str] = []
    while i < len(lines) and not lines[i].startswith("## "):
        prose_lines.append(lines[i])
        i += 1
    card = Card(
        card_id=card_id,
        title=title,
        status=values["status"],
        context=values["context"],
        effect=Effect(
            measure=effect.group("measure"), mean=mean, lo=lo, hi=hi, n=int(effect.group("n"))
        ),
        evidence=evidence,
        evidence_total=total,
        last_updated=values["last updated"],
        prose="\n".join(prose_lines).strip(),
    )
    return card, i
