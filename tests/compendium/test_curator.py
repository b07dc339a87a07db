"""The curator: cards from the ledger and the self-learn store, flags, summary, idempotence."""

from __future__ import annotations

import math
import statistics
from datetime import timedelta
from pathlib import Path

from tailguard.clock import FakeClock
from tailguard.compendium import Compendium, curate, parse_cards, verify
from tailguard.compendium.history import changes
from tailguard.control import ControlPlane
from tailguard.learning import SelfLearnStore
from tailguard.ledger import Ledger

from ._world import add_decisions, add_runs


def _ci(values: list[float]) -> str:
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values))
    return f"{mean:+.2f} (95% CI {mean - half:+.2f} to {mean + half:+.2f}, n={len(values)})"


def test_cards_carry_the_numbers_of_the_ledger_and_the_store(
    plane: ControlPlane, ledger: Ledger, clock: FakeClock, tmp_path: Path
) -> None:
    """A recruiter tool card and an intervention-kind card hold the mean, interval, count and
    ledger ids computed afresh from the records."""
    qualities = [70.0, 80.0, 75.0, 90.0, 65.0, 85.0, 72.0, 88.0, 79.0, 81.0, 77.0]
    add_runs(plane, "recruiter", "lookup", qualities)
    store = SelfLearnStore(ledger.engine)
    deltas = [5.0, 7.5, 3.0, 9.0, 6.0, 4.5, 8.0, 5.5, 7.0, 6.5, 5.0, 4.0]
    add_decisions(plane, store, clock, kind="surge_shift_offer", kpi="earnings_week", deltas=deltas)
    comp = Compendium(tmp_path / "comp")
    report = curate(plane, comp, store)
    assert report.cards_written >= 3
    assert report.problems == []

    recruiter = parse_cards(comp.read("recruiter/patterns/tool-outcomes.md") or "")
    card = {c.card_id: c for c in recruiter}["role-recruiter/lookup"]
    # Recompute from the ledger: the outcomes of recruiter runs that executed lookup.
    runs = {r.record_id for r in ledger.records(kind="run") if r.fields["role"] == "recruiter"}
    used = {
        r.fields["run_id"]
        for r in ledger.records(kind="step")
        if r.fields["tool_name"] == "lookup" and r.fields["status"] == "executed"
    }
    outcomes = [r for r in ledger.records(kind="outcome") if r.fields["run_id"] in runs & used]
    scores = [float(r.fields["quality_score"]) for r in outcomes]
    assert sorted(scores) == sorted(qualities)
    assert card.effect.render() == "quality_score " + _ci(scores)
    assert card.status == "proven"
    assert card.evidence_total == len(outcomes)
    assert set(card.evidence) <= {r.record_id for r in outcomes}

    ops = {
        c.card_id: c
        for c in parse_cards(comp.read("ops-surge-shift-offer/patterns/effects.md") or "")
    }
    kind_card = ops["ops-surge-shift-offer/earnings_week"]
    rows = store.list_interventions(kind="surge_shift_offer", limit=1000)
    measured = [r["outcome_value"] - r["baseline_value"] for r in rows]
    assert kind_card.effect.render() == "earnings_week_change " + _ci(measured)
    steps = {r.record_id for r in ledger.records(kind="step")}
    assert set(kind_card.evidence) <= steps
    assert kind_card.evidence_total == len(rows)
    cluster = parse_cards(comp.read("cluster-urban/patterns/kind-effects.md") or "")
    assert cluster[0].effect == kind_card.effect


def test_curating_again_changes_nothing_and_the_history_verifies(
    plane: ControlPlane, ledger: Ledger, tmp_path: Path
) -> None:
    """The second curation over the same records writes no file; every file's hash is the
    last one the ledger recorded, and a hand edit is then caught by verify."""
    add_runs(plane, "carrier", "lookup", [40.0, 45.0, 42.0])
    comp = Compendium(tmp_path / "comp")
    first = curate(plane, comp)
    assert first.files_changed
    assert {"carrier/INDEX.md", "admin/metrics/weekly-summary.md"} <= set(first.files_changed)
    n = len(changes(ledger))
    second = curate(plane, comp)
    assert second.files_changed == []
    assert (second.cards_written, second.cards_updated) == (0, 0)
    assert len(changes(ledger)) == n
    assert verify(ledger, comp).ok, verify(ledger, comp).problems
    for c in changes(ledger):
        assert c.hash_after is None or len(c.hash_after) == 64
    path = comp.path("carrier/patterns/tool-outcomes.md")
    path.write_text(path.read_text() + "\nhand note\n")
    result = verify(ledger, comp)
    assert not result.ok
    assert any("carrier/patterns/tool-outcomes.md" in p for p in result.problems)


def test_a_role_whose_quality_drops_below_50_is_flagged(
    plane: ControlPlane, clock: FakeClock, tmp_path: Path
) -> None:
    """Good recruiter runs, then a week of bad ones: the rolling quality falls under 50 and the
    curator flags it in its output, the admin summary and the department's postmortems."""
    comp = Compendium(tmp_path / "comp")
    add_runs(plane, "recruiter", "lookup", [80.0] * 5)
    assert curate(plane, comp).regressions == []
    clock.advance(timedelta(days=8))
    add_runs(plane, "recruiter", "lookup", [30.0, 35.0, 40.0, 20.0])
    flags = curate(plane, comp).regressions
    assert [(f["type"], f["subject"], f["value"]) for f in flags] == [
        ("role_quality", "recruiter", 31.25)
    ]
    assert "role_quality of recruiter (31.25)" in (
        comp.read("admin/metrics/weekly-summary.md") or ""
    )
    assert "role_quality of recruiter" in (comp.read("recruiter/postmortems/regressions.md") or "")


def test_an_effect_turning_negative_is_flagged(
    plane: ControlPlane, ledger: Ledger, clock: FakeClock, tmp_path: Path
) -> None:
    """A kind that improved its KPI and then, within the window, worsens it is flagged."""
    store = SelfLearnStore(ledger.engine)
    add_decisions(
        plane, store, clock, kind="apology_credit", kpi="nps_mean", deltas=[1, 2, 1.5], prefix="a"
    )
    clock.advance(timedelta(days=10))
    add_decisions(
        plane,
        store,
        clock,
        kind="apology_credit",
        kpi="nps_mean",
        deltas=[-1, -2, -0.5],
        prefix="b",
    )
    clock.advance(timedelta(days=2))
    flags = curate(plane, Compendium(tmp_path / "c"), store).regressions
    assert [(f["type"], f["subject"]) for f in flags] == [
        ("effect_negative", "apology_credit on nps_mean")
    ]
    assert flags[0]["value"] < 0 < flags[0]["previous"]
