"""Interventions that hurt: an arm worse than holding in its context, and whether it stopped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from tailguard.demo.harm import explain, harm_section, harmful_interventions

START = datetime(2026, 1, 5, tzinfo=UTC)
GROUP = "late_zip_routing_boost"


def _decisions(effects: dict[tuple[str, str], float], *, weeks: int = 2) -> pl.DataFrame:
    """Rural boosts hurt, urban ones help; the boost's share of rural decisions falls from about
    70 % in week 1 to 10 % in week 2 (a policy stopping it)."""
    rng = np.random.default_rng(5)
    rows = []
    i = 0
    for week in range(weeks):
        for bucket in ("rural|-", "urban|-"):
            for _ in range(60):
                act_p = 0.7 if week == 0 or bucket == "urban|-" else 0.1
                arm = GROUP if rng.uniform() < act_p else f"hold:{GROUP}"
                effect = effects[(bucket, arm)]
                decided = START + timedelta(days=7 * week + int(rng.integers(0, 7)))
                rows.append(
                    {
                        "decision_id": f"d{i}",
                        "entry_id": GROUP,
                        "status": "executed" if arm == GROUP else "held",
                        "outcome_kpi": "lateness_p90_min",
                        "baseline_value": 40.0,
                        # lower lateness is better: a helpful arm lowers it
                        "outcome_value": 40.0 - effect + float(rng.normal(0, 1.0)),
                        "cost_usd": 0.0,
                        "decided_at": decided,
                        "measured_at": decided + timedelta(days=2),
                        "context": json.dumps({"arm": arm, "group": GROUP, "bucket": bucket}),
                    }
                )
                i += 1
    return pl.DataFrame(rows)


EFFECTS = {
    ("rural|-", GROUP): -2.0,
    ("rural|-", f"hold:{GROUP}"): 0.0,
    ("urban|-", GROUP): 1.0,
    ("urban|-", f"hold:{GROUP}"): 0.0,
}


def test_an_arm_worse_than_holding_is_found_and_its_stop_is_shown() -> None:
    """Only the rural boost is harmful; its share fell, so the policy stopped it."""
    found = harmful_interventions(
        _decisions(EFFECTS), {GROUP: GROUP}, start=START, end=START + timedelta(days=14)
    )
    assert found["comparable"]
    assert found["judged"] == 2
    [item] = found["harmful"]
    assert (item["arm"], item["bucket"], item["kpi"]) == (GROUP, "rural|-", "lateness_p90_min")
    assert item["effect"] < 0
    assert item["ci95"][1] < 0
    assert item["share_first_week"] > 0.5 > 0.25 > item["share_last_week"]
    assert item["stopped"] is True
    text = explain(item)
    assert "in rural areas" in text
    assert "the policy stopped it" in text


def test_nothing_is_flagged_where_no_arm_hurts() -> None:
    """Equal effects everywhere: no arm's interval lies below zero."""
    flat = dict.fromkeys(EFFECTS, 0.0)
    found = harmful_interventions(
        _decisions(flat), {GROUP: GROUP}, start=START, end=START + timedelta(days=14)
    )
    assert found["comparable"]
    assert found["harmful"] == []
    assert found["judged"] == 2


def test_without_holds_nothing_can_be_judged() -> None:
    """The fixed weights never hold: no comparison, said plainly."""
    acted = _decisions(EFFECTS).filter(pl.col("status") == "executed")
    found = harmful_interventions(
        acted, {GROUP: GROUP}, start=START, end=START + timedelta(days=14)
    )
    assert found == {"comparable": False, "harmful": [], "judged": 0}
    section = harm_section({"business": {"harmful_interventions": found}})
    assert section == {"comparable": False, "entries": [], "judged": 0}
    assert harm_section({}) is None


@pytest.mark.parametrize("min_decisions", [1000])
def test_too_few_decisions_are_not_judged(min_decisions: int) -> None:
    """Below the minimum on either side, an intervention-context is left out."""
    found = harmful_interventions(
        _decisions(EFFECTS),
        {GROUP: GROUP},
        start=START,
        end=START + timedelta(days=14),
        min_decisions=min_decisions,
    )
    assert found["judged"] == 0
    assert found["harmful"] == []
