"""The compendium's cards behind each lever of an OKR, as the compendium stood at the week's end.

For each chosen lever, :func:`cite` lists the live pattern cards (proven before suspected,
then the stronger evidence) of the ``ops-<kind>`` departments of the lever's intervention
kinds, at most ``limit``, as ``levers[].cards`` of ``okr.json`` and a line under the lever in
``okr.html``.

The cards are read from the compendium's history in the ledger (each ``compendium_change``
record lists the cards it wrote with their status and effect), not from the files: the state
of each card at the week's end plus a day's grace (the curator of ``tailguard demo`` runs in
the last hour of the week, after the cycle's midnight ``as_of``). So a cycle run again later
cites what it cited then, however the compendium changed since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tailguard.clock import parse_ts
from tailguard.compendium import changes
from tailguard.compendium.cards import Effect, parse_effect
from tailguard.compendium.readers import rank
from tailguard.compendium.tree import ops_department
from tailguard.ledger import Ledger

GRACE = timedelta(days=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class Cited:
    """A card as the compendium's history recorded it last before the cut-off."""

    card_id: str
    title: str
    status: str
    effect: Effect
    path: str

    def to_dict(self) -> dict[str, Any]:
        """The ``levers[].cards[]`` entry."""
        return {
            "card_id": self.card_id,
            "title": self.title,
            "status": self.status,
            "effect": self.effect.render(),
            "path": self.path,
        }


def ops_cards(ledger: Ledger, as_of: datetime) -> dict[str, list[Cited]]:
    """Department -> its live ``ops-`` cards at ``as_of`` + :data:`GRACE`, most relevant first."""
    cutoff = as_of + GRACE
    latest: dict[str, Cited | None] = {}
    for change in changes(ledger):
        if not change.path.startswith("ops-") or parse_ts(change.changed_at) > cutoff:
            continue
        for entry in change.cards:
            effect = parse_effect(str(entry.get("effect", "")))
            if effect is None or entry.get("status") == "retired":
                latest[str(entry.get("card_id"))] = None
                continue
            latest[str(entry["card_id"])] = Cited(
                card_id=str(entry["card_id"]),
                title=str(entry.get("title") or entry["card_id"]),
                status=str(entry["status"]),
                effect=effect,
                path=change.path,
            )
    out: dict[str, list[Cited]] = {}
    for cited in latest.values():
        if cited is not None:
            out.setdefault(cited.path.split("/", 1)[0], []).append(cited)
    for cards in out.values():
        cards.sort(key=_key)
    return out


def _key(c: Cited) -> tuple[Any, ...]:
    return (*(-x for x in rank(c.status, c.effect)), c.card_id)


def cite(okr: dict[str, Any], cards: Mapping[str, list[Cited]], limit: int = 3) -> None:
    """Add ``cards`` (card id, title, status, effect, path) to each lever of ``okr``."""
    for lever in okr.get("levers", []):
        found: list[Cited] = []
        for iv in lever.get("interventions", []):
            found += cards.get(ops_department(str(iv["kind"])), [])
        found.sort(key=_key)
        lever["cards"] = [c.to_dict() for c in found[:limit]]
