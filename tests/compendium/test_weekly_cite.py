"""The weekly OKR cites the compendium's cards behind each lever, as they stood at the week's end."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tailguard.clock import FakeClock
from tailguard.compendium import Compendium, curate
from tailguard.control import ControlPlane
from tailguard.learning import SelfLearnStore
from tailguard.ledger import Ledger
from tailguard.weekly.cite import ops_cards

from ._world import add_decisions


def _levers() -> dict[str, list[dict[str, object]]]:
    return {
        "levers": [
            {"lever_id": "L1", "interventions": [{"kind": "surge_pay_window"}]},
            {"lever_id": "L2", "interventions": [{"kind": "locker_buffer"}]},
        ]
    }


def test_levers_cite_their_kinds_cards_as_of_the_week_not_later(
    plane: ControlPlane, ledger: Ledger, clock: FakeClock, tmp_path: Path
) -> None:
    """A lever cites the cards of its kinds (not others'); a week cited later still gets the
    effect the compendium held then, and a week before the first curation cites nothing."""
    from tailguard.weekly.cite import cite

    store = SelfLearnStore(ledger.engine)
    comp = Compendium(tmp_path / "comp")
    add_decisions(plane, store, clock, kind="surge_pay_window", kpi="jobs", deltas=[1, 2, 3])
    add_decisions(plane, store, clock, kind="apology_credit", kpi="nps_mean", deltas=[1, 1.5])
    week1 = clock.now()
    curate(plane, comp, store)
    first = comp.read("ops-surge-pay-window/patterns/effects.md") or ""
    clock.advance(timedelta(days=8))
    add_decisions(
        plane, store, clock, kind="surge_pay_window", kpi="jobs", deltas=[9, 9], prefix="e"
    )
    curate(plane, comp, store)
    assert comp.read("ops-surge-pay-window/patterns/effects.md") != first

    okr = _levers()
    cite(okr, ops_cards(ledger, week1))
    (card,) = okr["levers"][0]["cards"]  # type: ignore[misc]
    assert card["card_id"] == "ops-surge-pay-window/jobs"  # type: ignore[index]
    assert card["effect"].startswith("jobs_change +2.00 (95% CI ")  # type: ignore[index]
    assert card["effect"].endswith(", n=3)")  # type: ignore[index]
    assert okr["levers"][1]["cards"] == []
    later = _levers()
    cite(later, ops_cards(ledger, clock.now()))
    assert later["levers"][0]["cards"][0]["effect"].endswith(", n=5)")  # type: ignore[index]
    early = _levers()
    cite(early, ops_cards(ledger, week1 - timedelta(days=2)))
    assert early["levers"][0]["cards"] == []
