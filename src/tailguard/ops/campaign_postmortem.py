"""The recruiter autopilot's postmortem card: one per finished campaign, in
``recruiting/patterns/campaigns.md``, with the reply rate and its Wilson 95 % interval over the
contacted candidates, and the funnel after it (interviews, no-shows, hires against the
objective)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from tailguard.clock import format_ts
from tailguard.compendium.cards import Card, Effect, parse_cards, render_cards
from tailguard.ops.campaign_store import CampaignRow

CARDS_FILE: Final = "recruiting/patterns/campaigns.md"


def wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson 95 % interval of k successes in n, in percent ((0, 0) when n is 0)."""
    if n == 0:
        return (0.0, 0.0)
    p, z = k / n, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (100 * (centre - half), 100 * (centre + half))


def render(current: str | None, row: CampaignRow, summary: Mapping[str, Any]) -> str:
    """The cards file with this campaign's card added or replaced (a pure function)."""
    cards = parse_cards(current, CARDS_FILE) if current else []
    card_id = f"campaign/{row.campaign_id}"
    n, k = int(summary["contacted"]), int(summary["replied"])
    lo, hi = wilson(k, n)
    profile = row.spec["profile"]
    iv = summary.get("interviews") or {}
    funnel = (
        f"; interviews booked {iv.get('booked', 0)}, attended {iv.get('attended', 0)}, "
        f"no-shows {iv.get('no_shows', 0)} ({iv.get('rescheduled', 0)} rescheduled), "
        f"hires {summary.get('hires', 0)} of {row.spec['target_hires']} wanted"
    )
    card = Card(
        card_id=card_id,
        title=f"Campaign {row.campaign_id}: {row.spec['objective'][:80]}",
        status="suspected",
        context=(
            f"{summary['status']} campaign of {row.recruiter_id}; channels "
            f"{', '.join(profile['channels'])}, {profile['touches']} "
            f"touches every {profile['cadence_hours']} h; spent "
            f"${summary['spend_usd']:.2f} of ${profile['budget_usd']:.2f}; "
            f"{len(summary['exceptions'])} exceptions{funnel}"
        ),
        effect=Effect(measure="reply_rate_pct", mean=100 * k / n if n else 0.0, lo=lo, hi=hi, n=n),
        evidence=(row.campaign_id,),
        evidence_total=1,
        last_updated=format_ts(row.updated_at),
    )
    others = [c for c in cards if c.card_id != card_id]
    return render_cards(
        "Recruiting: campaign postmortems",
        "One card per finished campaign of the recruiter autopilot (docs/operations.md).",
        [*others, card],
    )
