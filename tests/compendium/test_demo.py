"""``tailguard demo`` runs the curator at each week's end; the cards' numbers match the records."""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

from tailguard.compendium import Compendium, department_cards, verify
from tailguard.demo.run import DemoConfig, run_demo
from tailguard.learning import SelfLearnStore
from tailguard.learning.arms import LOWER_IS_BETTER
from tailguard.ledger import Ledger


def _effect(values: list[float]) -> tuple[float, float, float, int]:
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return round(mean, 2), round(mean - half, 2), round(mean + half, 2), len(values)


def test_the_demo_curates_weekly_and_every_card_matches_the_ledger_and_store(
    tmp_path: Path,
) -> None:
    """Two demo weeks: two curations; every intervention-kind card's mean, interval, count and
    step ids are recomputed from the self-learn store and the ledger; the history verifies;
    the weekly OKRs cite cards behind their levers."""
    out = tmp_path / "demo"
    run_demo(DemoConfig(areas=4, weeks=2, seed=5, out=out, warmup_days=1))
    curations = [
        json.loads(line)
        for line in (out / "compendium" / "curations.jsonl").read_text().splitlines()
    ]
    assert len(curations) == 2
    assert curations[0]["cards_written"] > 0
    comp = Compendium(out / "compendium")
    with Ledger.open(f"sqlite:///{out / 'ledger.db'}", create=False) as ledger:
        assert verify(ledger, comp).ok
        steps = {r.record_id for r in ledger.records(kind="step")}
        rows = SelfLearnStore(ledger.engine).list_interventions(status="executed", limit=10_000)
    # The records as they stood at the last curation (the run went on a few hours after it
    # only if weeks do not end on the last hour; they do here).
    by_kind: dict[tuple[str, str], list[float]] = defaultdict(list)
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        if r["outcome_value"] is None or r["baseline_value"] is None or not r["measured_at"]:
            continue
        sign = -1.0 if r["outcome_kpi"] in LOWER_IS_BETTER else 1.0
        key = (r["kind"], r["outcome_kpi"])
        by_kind[key].append(sign * (r["outcome_value"] - r["baseline_value"]))
        ids[key].add(r["step_id"])
    cards = {f.card.card_id: f.card for f in department_cards(comp)}
    checked = 0
    for (kind, kpi), values in by_kind.items():
        card = cards[f"ops-{kind.replace('_', '-')}/{kpi}"]
        e = card.effect
        assert (e.mean, e.lo, e.hi, e.n) == _effect(values), (kind, kpi)
        assert set(card.evidence) <= ids[(kind, kpi)] <= steps
        checked += 1
    assert checked > 0
    assert (out / "compendium" / "admin" / "metrics" / "weekly-summary.md").is_file()
    assert (out / "compendium" / "recruiter" / "INDEX.md").is_file()
    okrs = [json.loads(p.read_text()) for p in sorted((out / "weeks").glob("*/*/okr.json"))]
    assert okrs
    cited = [c for okr in okrs for lever in okr["levers"] for c in lever["cards"]]
    assert cited
    assert {c["card_id"] for c in cited} <= set(cards)
    html = [p.read_text() for p in (out / "weeks").glob("*/*/okr.html")]
    assert any("<b>Compendium:</b>" in h for h in html)
