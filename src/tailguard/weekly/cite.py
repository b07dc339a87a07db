"""The compendium's cards behind each lever of an OKR: what the curator has measured so far.

For each chosen lever, :func:`cite` lists the live pattern cards (proven before suspected,
then the stronger evidence) of the ``ops-<kind>`` departments of the lever's intervention
kinds, at most ``limit``, as ``levers[].cards`` of ``okr.json`` and a line under the lever in
``okr.html``. The cards are those the compendium holds when the cycle computes (the demo
curates at each week's end, just before it starts that week's cycle); cards last updated more
than a day after the week's end are left out, so a rerun long after cites about what it cited
then. No compendium directory (``tailguard compendium curate`` writes it beside a SQLite
ledger): no citations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from tailguard.clock import parse_ts
from tailguard.compendium import Compendium, default_dir, department_cards
from tailguard.compendium.readers import FoundCard, relevance
from tailguard.compendium.tree import ops_department


def ops_cards(ledger_url: str, as_of: datetime) -> dict[str, list[FoundCard]]:
    """Live cards of the ``ops-`` departments as of ``as_of``, most relevant first."""
    comp = Compendium(default_dir(ledger_url))
    out: dict[str, list[FoundCard]] = defaultdict(list)
    for found in department_cards(comp):
        card = found.card
        if not found.department.startswith("ops-") or card.status == "retired":
            continue
        if parse_ts(card.last_updated) > as_of + timedelta(days=1):
            continue
        out[found.department].append(found)
    for cards in out.values():
        cards.sort(key=lambda f: (tuple(-x for x in relevance(f.card)), f.card.card_id))
    return dict(out)


def cite(okr: dict[str, Any], cards: Mapping[str, list[FoundCard]], limit: int = 3) -> None:
    """Add ``cards`` (card id, title, status, effect, path) to each lever of ``okr``."""
    for lever in okr.get("levers", []):
        found: list[FoundCard] = []
        for iv in lever.get("interventions", []):
            found += cards.get(ops_department(str(iv["kind"])), [])
        found.sort(key=lambda f: (tuple(-x for x in relevance(f.card)), f.card.card_id))
        lever["cards"] = [
            {
                "card_id": f.card.card_id,
                "title": f.card.title,
                "status": f.card.status,
                "effect": f.card.effect.render(),
                "path": f.path,
            }
            for f in found[:limit]
        ]
