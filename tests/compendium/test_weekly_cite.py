"""The weekly OKR cites the compendium's cards behind each lever, as of the week's end."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tailguard.clock import FakeClock, format_ts
from tailguard.compendium import Card, Compendium, Effect, default_dir, render_cards
from tailguard.weekly.cite import cite, ops_cards


def _card(cid: str, status: str, mean: float, when: str) -> Card:
    return Card(
        card_id=cid,
        title=f"title {cid}",
        status=status,
        context="c",
        effect=Effect(measure="jobs_change", mean=mean, lo=mean - 1, hi=mean + 1, n=30),
        evidence=("step-1",),
        evidence_total=30,
        last_updated=when,
    )


def test_each_lever_gets_its_kinds_live_cards_most_relevant_first(tmp_path: Path) -> None:
    """Cards of the lever's kinds are cited, proven first; retired cards, cards of other kinds
    and cards written more than a day after the week's end are not."""
    clock = FakeClock()
    as_of = clock.now()
    before, after = (
        format_ts(as_of - timedelta(days=1)),
        format_ts(as_of + timedelta(days=1, hours=1)),
    )
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    comp = Compendium(default_dir(url))
    rel = comp.path("ops-surge-pay-window/patterns/effects.md")
    rel.parent.mkdir(parents=True)
    rel.write_text(
        render_cards(
            "Measured effects",
            "",
            [
                _card("ops-surge-pay-window/a", "suspected", 5.0, before),
                _card("ops-surge-pay-window/b", "proven", 2.0, before),
                _card("ops-surge-pay-window/c", "retired", 9.0, before),
                _card("ops-surge-pay-window/d", "proven", 9.0, after),
            ],
        )
    )
    other = comp.path("ops-apology-credit/patterns/effects.md")
    other.parent.mkdir(parents=True)
    other.write_text(render_cards("E", "", [_card("ops-apology-credit/x", "proven", 3.0, before)]))
    okr = {
        "levers": [
            {"lever_id": "L1", "interventions": [{"kind": "surge_pay_window"}]},
            {"lever_id": "L2", "interventions": [{"kind": "locker_buffer"}]},
        ]
    }
    cite(okr, ops_cards(url, as_of))
    assert [c["card_id"] for c in okr["levers"][0]["cards"]] == [
        "ops-surge-pay-window/b",
        "ops-surge-pay-window/a",
    ]
    assert (
        okr["levers"][0]["cards"][0]["effect"] == "jobs_change +2.00 (95% CI +1.00 to +3.00, n=30)"
    )
    assert okr["levers"][1]["cards"] == []
