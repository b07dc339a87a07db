"""The playbook picks one lever per category with intervals; measured outcomes move effects."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tailguard.learning import Decision, SelfLearnStore, StatusUpdate
from tailguard.ledger import Ledger
from tailguard.weekly import load_library
from tailguard.weekly.library import CATEGORIES
from tailguard.weekly.playbook import (
    AreaContext,
    choose,
    learned_effects,
    posterior,
    simulate_lever,
)

LIB = load_library()
T0 = datetime(2026, 1, 19, tzinfo=UTC)


def _ctx(**overrides: dict[str, float]) -> AreaContext:
    bench = {
        "nps_p10": {"value": 5.0, "percentile": 10.0, "rank": 9, "n": 10},
        "lateness_p90_min": {"value": 45.0, "percentile": 5.0, "rank": 10, "n": 10},
        "earnings_p10_week": {"value": 560.0, "percentile": 20.0, "rank": 8, "n": 10},
        "ftf_pct": {"value": 75.0, "percentile": 60.0, "rank": 4, "n": 10},
        "jobs_per_week": {"value": 2000.0, "percentile": 50.0, "rank": 5, "n": 10},
        "parts_lead_time_p95_days": {"value": 6.0, "percentile": 20.0, "rank": 8, "n": 10},
        **overrides,
    }
    return AreaContext(
        area_id="PA-0001",
        week_of="2026-01-19",
        bench=bench,
        revenue_week=400_000.0,
        gp_week=150_000.0,
    )


def test_one_lever_per_category_with_80_percent_intervals() -> None:
    """Exactly three plays, one per category, each reporting mean inside its 80 % interval."""
    plays = choose(LIB, _ctx())
    assert [p.lever.category for p in plays] == list(CATEGORIES)
    for p in plays:
        for iv in (p.revenue_lift, p.gp_lift, p.cost, p.net_gp):
            assert iv.p10 <= iv.mean <= iv.p90
        assert p.gp_lift.p10 < p.gp_lift.p90  # uncertainty, never a bare point
        assert p.relevant
        assert p.why
        d = p.to_dict()
        assert set(d["revenue_lift"]) == {"mean", "p10", "p90"}
        assert "hours" in d["cost"]


def test_the_choice_follows_the_preconditions() -> None:
    """A late area gets a lateness lever; the same area on time does not."""
    late = {p.lever.category: p.lever for p in choose(LIB, _ctx())}
    # by hand: NPS P10 percentile 10 and lateness percentile 5 make these customer levers relevant
    assert late["customer"].id in {
        "cx_detractor_apology",
        "cx_late_zip_routing",
        "cx_rookie_shadow",
        "cx_surge_cover",
    }
    assert late["technician"].id in {
        "tech_low_earner_nearby_jobs",
        "tech_low_earner_surge_shift",
        "tech_dormant_recruiting",
    }
    on_time = _ctx(
        lateness_p90_min={"value": 5.0, "percentile": 95.0, "rank": 1, "n": 10},
        eta_adherence_pct={"value": 99.0, "percentile": 95.0, "rank": 1, "n": 10},
    )
    for p in choose(LIB, on_time):
        if p.lever.category == "customer":
            assert p.lever.id not in {"cx_late_zip_routing", "cx_surge_cover", "cx_eta_promise"}


def test_monte_carlo_is_reproducible_and_matches_the_value_model() -> None:
    """Same area and week give the same draws; the mean revenue lift follows the value model."""
    lever = LIB.levers["cx_late_zip_routing"]
    a = simulate_lever(lever, _ctx(), LIB)
    b = simulate_lever(lever, _ctx(), LIB)
    assert a["revenue_lift"] == b["revenue_lift"]
    vm = LIB.value_model
    expected = (
        400_000.0
        / 100
        * sum(e.mean * vm[e.kpi].revenue_pct_per_unit for e in lever.effects if not e.relative)
    )
    sd = (
        400_000.0
        / 100
        * math.sqrt(sum((e.sd * vm[e.kpi].revenue_pct_per_unit) ** 2 for e in lever.effects))
    )
    assert a["revenue_lift"].mean == pytest.approx(expected, abs=4 * sd / math.sqrt(4000))
    # the 80 % interval of a normal is mean +- 1.2816 sd
    assert a["revenue_lift"].p90 - a["revenue_lift"].p10 == pytest.approx(2 * 1.2816 * sd, rel=0.08)


def test_posterior_is_the_precision_weighted_mean() -> None:
    """Prior N(40, 20^2) and observations 10, 14 (sample var 8) combine by precision."""
    post = posterior(40.0, 20.0, [10.0, 14.0])
    precision = 1 / 400 + 2 / 8
    assert post.mean == pytest.approx((40 / 400 + 24 / 8) / precision)
    assert post.sd == pytest.approx(math.sqrt(1 / precision))
    assert post.n == 2
    assert posterior(1.0, 2.0, []).mean == 1.0


def _decision(i: int, kind: str, outcome_kpi: str) -> Decision:
    return Decision(
        decision_id=f"d{i}",
        area_id="PA-0001",
        entry_id="e",
        kind=kind,
        tool_name="t",
        trigger="low_earnings_tail",
        target_type="tech",
        target_id=f"T{i:06d}",
        args={},
        propensity=0.5,
        policy_version="v1",
        decided_at=T0 - timedelta(days=3),
        outcome_kpi=outcome_kpi,
        baseline_value=500.0,
        horizon_at=T0 - timedelta(days=1),
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_measured_outcomes_update_the_effect_estimate(
    backend: str, tmp_path: object, request: pytest.FixtureRequest
) -> None:
    """Executed nearby-job offers that raised earnings by ~$200 pull the lever's effect up."""
    url = f"sqlite:///{tmp_path}/l.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    with Ledger.open(url) as ledger:
        store = SelfLearnStore(ledger.engine)
        decisions = [_decision(i, "nearby_job_offer", "earnings_week") for i in range(6)]
        decisions.append(_decision(99, "nearby_job_offer", "earnings_week"))  # stays undecided
        store.record_decisions(decisions)
        store.update_status(StatusUpdate(decision_id=f"d{i}", status="executed") for i in range(6))
        store.record_outcomes([(f"d{i}", 700.0 + 10 * i) for i in range(6)], measured_at=T0)
        rows = store.list_interventions(limit=100)
    learned = learned_effects(LIB, rows)
    eff = learned["tech_low_earner_nearby_jobs"]["earnings_p10_week"]
    deltas = np.array([200.0 + 10 * i for i in range(6)]) * 0.5
    assert eff.n == 6
    assert eff.prior_mean == 45.0
    assert 45.0 < eff.mean <= deltas.mean()
    assert eff.sd < 25.0
    plays = choose(LIB, _ctx(), learned)
    tech = next(p for p in plays if p.lever.category == "technician")
    if tech.lever.id == "tech_low_earner_nearby_jobs":
        assert "measured outcome" in tech.why


def test_no_measured_outcomes_leave_the_library_as_is() -> None:
    """Rows not executed or not measured teach nothing."""
    rows = [
        {
            "kind": "nearby_job_offer",
            "status": "rejected",
            "outcome_kpi": "earnings_week",
            "outcome_delta": 5.0,
        },
        {
            "kind": "nearby_job_offer",
            "status": "executed",
            "outcome_kpi": "earnings_week",
            "outcome_delta": None,
        },
    ]
    assert learned_effects(LIB, rows) == {}
