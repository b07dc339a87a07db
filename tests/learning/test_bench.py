"""The learning benchmark's scoring against the simulator's hidden truth, on hand-made logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from tailguard.agents.catalogue import default_catalogue
from tailguard.demo.learnbench import (
    BenchConfig,
    OraclePolicy,
    full_arms,
    ope_check,
    score_decisions,
    summarise,
    truth_of,
)
from tailguard.errors import InvalidInputError
from tailguard.sim.truth import AREA_TYPES, expected_effect, normalised

CAT = default_catalogue()
T0 = datetime(2026, 1, 12, tzinfo=UTC)
ROUTING = "late_zip_routing_boost"


def test_routing_helps_cities_and_hurts_rural_areas_in_truth() -> None:
    """Arrivals move earlier by weight x (1 + saving / 0.15): later in rural areas."""
    urban, suburban, rural = (
        expected_effect("routing_weight_boost", {"weight": 0.15}, a, "-") for a in AREA_TYPES
    )
    assert urban == pytest.approx(0.25)
    assert suburban == pytest.approx(0.20)
    assert rural == pytest.approx(-0.10)
    assert truth_of(CAT, f"{ROUTING}@2", "urban|-") == pytest.approx(1.0)  # the best case
    assert truth_of(CAT, f"hold:{ROUTING}", "rural|-") == 0.0


def test_the_shadow_is_read_through_the_decisions_outcome() -> None:
    """Rookies gain on every outcome; veterans hurt NPS and recalls, and gain no skill."""
    for entry, veteran in (
        ("detractor_cluster_shadow", -0.5),
        ("recall_tech_shadow", -0.10 / 0.35),
        ("parts_overspend_shadow", 0.0),
    ):
        assert truth_of(CAT, entry, "urban|rookie") == pytest.approx(1.0)
        assert truth_of(CAT, entry, "urban|veteran") == pytest.approx(veteran)


def test_every_catalogue_arm_is_on_the_unit_scale() -> None:
    """Normalised effects never exceed 1 in size, in any context, at any level."""
    for entry in CAT.entries:
        kpi = entry.outcome.kpi if entry.outcome is not None else None
        for level in range(len(entry.levels) + 1):
            for area in (*AREA_TYPES, "unknown"):
                for tenure in ("rookie", "veteran", "unknown", "-"):
                    value = normalised(entry.kind, entry.level_args(level), area, tenure, kpi)
                    assert -1.0 - 1e-9 <= value <= 1.0 + 1e-9, (entry.id, level, area, tenure)


def _log(rows: list[tuple[str, str, list[str]]]) -> pl.DataFrame:
    """(arm, bucket, offered arms) -> a self-learn frame as the store gives it."""
    return pl.DataFrame(
        {
            "decision_id": [f"d{i}" for i in range(len(rows))],
            "entry_id": [ROUTING] * len(rows),
            "context": [
                json.dumps({"arm": arm, "group": ROUTING, "bucket": bucket, "arms": arms})
                for arm, bucket, arms in rows
            ],
        }
    )


def test_regret_and_harm_are_scored_against_the_best_arm_of_every_level() -> None:
    """Hand case: a rural boost (harmful), an urban default boost, an urban hold."""
    offered = [ROUTING, f"hold:{ROUTING}"]
    assert full_arms(CAT, offered, ROUTING) == [
        ROUTING,
        f"{ROUTING}@1",
        f"{ROUTING}@2",
        f"hold:{ROUTING}",
    ]
    log = _log(
        [
            (ROUTING, "rural|-", offered),  # best is hold (0); played -0.24
            (ROUTING, "urban|-", offered),  # best is @2 (1.0); played 0.6
            (f"hold:{ROUTING}", "urban|-", offered),  # best 1.0; played 0
        ]
    )
    rural = truth_of(CAT, ROUTING, "rural|-")
    urban = truth_of(CAT, ROUTING, "urban|-")
    assert rural == pytest.approx(-0.24)
    assert urban == pytest.approx(0.6)
    score = score_decisions(CAT, log)
    assert score["decisions"] == 3
    assert score["regret"] == pytest.approx(0.24 + 0.4 + 1.0)
    assert score["harmful_pct"] == pytest.approx(100 / 3, abs=1e-3)
    assert score["held_pct"] == pytest.approx(100 / 3, abs=1e-3)


def test_regret_and_harm_are_also_scored_week_by_week() -> None:
    """The harmful rural boost in week 1, the urban hold in week 2: each week scores its own."""
    from datetime import UTC, datetime, timedelta

    from tailguard.demo.learnbench import score_by_week

    offered = [ROUTING, f"hold:{ROUTING}"]
    start = datetime(2026, 3, 2, tzinfo=UTC)
    log = _log(
        [
            (ROUTING, "rural|-", offered),
            (ROUTING, "urban|-", offered),
            (f"hold:{ROUTING}", "urban|-", offered),
        ]
    ).with_columns(pl.Series("decided_at", [start + timedelta(days=d) for d in (1, 6, 9)]))
    weeks = score_by_week(CAT, log, start, 3)
    assert [w["decisions"] for w in weeks] == [2, 1, 0]
    assert weeks[0]["harmful_pct"] == pytest.approx(50.0)
    assert weeks[0]["regret"] == pytest.approx(0.24 + 0.4)
    assert weeks[1]["regret"] == pytest.approx(1.0)
    assert weeks[1]["held_pct"] == pytest.approx(100.0)


def test_the_oracle_plays_the_truly_best_arm() -> None:
    """Hold in rural areas, the strongest boost in cities."""
    oracle = OraclePolicy(catalogue=CAT)
    arms = [ROUTING, f"{ROUTING}@1", f"{ROUTING}@2", f"hold:{ROUTING}"]
    assert oracle.probabilities(ROUTING, "rural|-", arms, None).tolist() == [0, 0, 0, 1]
    assert oracle.probabilities(ROUTING, "urban|-", arms, None).tolist() == [0, 0, 1, 0]


def _runs() -> list[dict[str, Any]]:
    bands = ("lateness", "nps", "earnings", "churn", "recall", "parts_cost", "gross_profit")
    weekly = [{"all": 10.0, **dict.fromkeys(bands, 50.0)}]
    out: list[dict[str, Any]] = []
    for seed, lift in ((1, 1.0), (2, 2.0), (3, 3.0)):
        for policy, base in (("fixed", 10.0), ("learning", 10.0 + lift), ("off", 8.0)):
            week = dict(weekly[0], all=base)
            run: dict[str, Any] = {"policy": policy, "seed": seed, "weekly": [week]}
            run["spend_usd"] = 0.0
            if policy != "off":
                run.update(regret=10.0 if policy == "fixed" else 5.0, harmful_pct=1.0)
                run.update(held_pct=0.0, decisions=100)
            out.append(run)
    return out


def test_the_summary_pairs_seeds_and_reports_the_regret_reduction() -> None:
    """Learning minus fixed is +2 on average over the seeds (t interval), regret halved."""
    config = BenchConfig(areas=2, weeks=1, seeds=3, policies=("off", "fixed", "learning"))
    summary = summarise(_runs(), config)
    paired = summary["paired"]["learning_minus_fixed"][0]
    assert paired["diff_points"] == pytest.approx(2.0)
    lo, hi = paired["ci95"]
    assert lo == pytest.approx(2.0 - 4.303 * 1.0 / np.sqrt(3), abs=1e-3)
    assert hi == pytest.approx(2.0 + 4.303 * 1.0 / np.sqrt(3), abs=1e-3)
    assert summary["regret_reduction_vs_fixed_pct"] == pytest.approx(50.0)
    assert "regret" not in summary["policies"]["off"]


def _store_log(arms: list[str], deltas: list[float], probs: list[float]) -> pl.DataFrame:
    n = len(arms)
    offered = [ROUTING, f"hold:{ROUTING}"]
    return pl.DataFrame(
        {
            "decision_id": [f"x{i}-{arms[i]}" for i in range(n)],
            "area_id": [f"PA-{i % 4:04d}" for i in range(n)],
            "entry_id": [ROUTING] * n,
            "status": ["executed" if not a.startswith("hold:") else "held" for a in arms],
            "outcome_kpi": ["lateness_p90_min"] * n,
            "baseline_value": [30.0] * n,
            "outcome_value": [30.0 - d for d in deltas],
            "cost_usd": [0.0] * n,
            "propensity": probs,
            "decided_at": [T0 + timedelta(hours=i) for i in range(n)],
            "measured_at": [T0 + timedelta(hours=i + 48) for i in range(n)],
            "context": [
                json.dumps(
                    {
                        "arm": a,
                        "group": ROUTING,
                        "bucket": "urban|-",
                        "arms": offered,
                        "probs": [0.5, 0.5] if p == 0.5 else [1.0, 0.0],
                    }
                )
                for a, p in zip(arms, probs, strict=True)
            ],
        },
        schema_overrides={
            "decided_at": pl.Datetime("us", "UTC"),
            "measured_at": pl.Datetime("us", "UTC"),
        },
    )


def test_the_estimators_check_recovers_the_fixed_weights_on_policy_value() -> None:
    """A uniform log where acting gains 2 minutes and holding none: the fixed weights (always
    act) are estimated from it at the on-policy value of a fixed log whose decisions gained what
    the uniform log's acting decisions did: SNIPS is then exactly the on-policy mean."""
    rng = np.random.default_rng(0)
    noise = list(rng.normal(0, 0.1, 40))
    uniform_arms = [ROUTING if i % 2 else f"hold:{ROUTING}" for i in range(40)]
    uniform = _store_log(
        uniform_arms,
        [(2.0 if a == ROUTING else 0.0) + e for a, e in zip(uniform_arms, noise, strict=True)],
        [0.5] * 40,
    )
    acted = [2.0 + e for a, e in zip(uniform_arms, noise, strict=True) if a == ROUTING]
    fixed = _store_log([ROUTING] * 20, acted, [1.0] * 20)
    runs = [
        {"policy": "uniform", "seed": 4, "log": uniform},
        {"policy": "fixed", "seed": 4, "log": fixed},
        {"policy": "learning", "seed": 4},
    ]
    check = ope_check(runs, CAT, bootstrap=50)
    (row,) = check["seeds"]
    assert row["seed"] == 4
    assert row["snips"] == pytest.approx(row["on_policy"], abs=1e-3)
    assert row["dr"] == pytest.approx(row["on_policy"], abs=0.1)
    assert check["snips_coverage"] == 1.0
    assert ope_check(runs[1:], CAT) == {"seeds": []}


def test_bad_bench_settings_are_refused() -> None:
    """Sizes out of range and unknown policies name the problem."""
    with pytest.raises(InvalidInputError, match="--areas"):
        BenchConfig(areas=0)
    with pytest.raises(InvalidInputError, match="unknown policies"):
        BenchConfig(policies=("fixed", "greedy"))
    with pytest.raises(InvalidInputError, match="--structure"):
        BenchConfig(structure="cells")
