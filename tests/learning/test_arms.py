"""Arms, buckets and rewards: what a logged decision teaches."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from tailguard.learning.arms import (
    RewardConfig,
    arm_id,
    bucket_of,
    decision_frame,
    hold_arm,
    is_hold,
    rewards,
    split_arm,
)

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _store_rows(rows: list[dict[str, object]]) -> pl.DataFrame:
    base: dict[str, object] = {
        "status": "executed",
        "outcome_kpi": "earnings_week",
        "cost_usd": 0.0,
        "decided_at": T0,
        "measured_at": T0,
        "context": "{}",
        "entry_id": "low_earner_surge_shift",
    }
    return pl.DataFrame([{**base, **r} for r in rows])


def test_arm_names_round_trip() -> None:
    """An entry's levels and its group's hold arm have stable names."""
    assert arm_id("e", 0) == "e"
    assert split_arm(arm_id("e", 2)) == ("e", 2)
    assert is_hold(hold_arm("g"))
    assert not is_hold("e@1")


@pytest.mark.parametrize(
    ("area_type", "unit", "bucket"),
    [
        ("urban", {"zip": "10001"}, "urban|-"),
        ("rural", {"tenure_days": 100.0}, "rural|rookie"),
        ("rural", {"tenure_days": 900.0}, "rural|veteran"),
        (None, {"tenure_days": None}, "unknown|unknown"),
    ],
)
def test_buckets_name_area_type_and_tenure(
    area_type: str | None, unit: dict[str, object], bucket: str
) -> None:
    """The context a decision is judged in: area type, and tenure for technician targets."""
    assert bucket_of(area_type, unit) == bucket


def test_old_decisions_read_as_their_entry_in_its_group() -> None:
    """A decision logged before arms existed is its entry's own level, bucket unknown."""
    frame = decision_frame(
        _store_rows([{"context": '{"kpis": {}}', "entry_id": "low_earner_nearby_jobs"}]),
        {"low_earner_nearby_jobs": "low_earner"},
    )
    row = frame.row(0, named=True)
    assert (row["arm"], row["group"], row["bucket"], row["arms"]) == (
        "low_earner_nearby_jobs",
        "low_earner",
        "unknown|-",
        [],
    )


def test_rewards_are_signed_so_that_better_is_positive() -> None:
    """Lateness falling is good; earnings falling is bad; unmeasured decisions are left out."""
    frame = _store_rows(
        [
            {"outcome_kpi": "lateness_p90_min", "baseline_value": 40.0, "outcome_value": 30.0},
            {"outcome_kpi": "lateness_p90_min", "baseline_value": 40.0, "outcome_value": 50.0},
            {"baseline_value": 600.0, "outcome_value": 500.0},
            {"baseline_value": 600.0, "outcome_value": 700.0},
            {"baseline_value": 600.0, "outcome_value": None},
            {"status": "failed", "baseline_value": 600.0, "outcome_value": 900.0},
        ]
    )
    out = rewards(decision_frame(frame, {}))
    assert out.height == 4
    assert out["raw_delta"].to_list() == [10.0, -10.0, -100.0, 100.0]
    assert out["reward"].to_list()[0] > 0 > out["reward"].to_list()[1]


def test_the_baseline_adjustment_removes_regression_to_the_mean_but_not_the_arm_effect() -> None:
    """Deltas that depend on the baseline lose that slope; the arms' difference stays."""
    rng = np.random.default_rng(0)
    baseline = rng.uniform(300, 700, 400)
    effect = np.where(np.arange(400) % 2 == 0, 20.0, 0.0)  # arm a adds 20 to earnings
    outcome = baseline + 0.6 * (500.0 - baseline) + effect + rng.normal(0, 5, 400)
    frame = _store_rows(
        [
            {
                "baseline_value": float(b),
                "outcome_value": float(o),
                "context": f'{{"arm": "{"a" if i % 2 == 0 else "b"}", "group": "g"}}',
            }
            for i, (b, o) in enumerate(zip(baseline, outcome, strict=True))
        ]
    )
    out = rewards(decision_frame(frame, {}))
    corr_raw = np.corrcoef(out["baseline_value"], out["raw_delta"])[0, 1]
    corr_adj = np.corrcoef(out["baseline_value"], out["delta"])[0, 1]
    assert corr_raw < -0.9
    assert abs(corr_adj) < 0.05
    by_arm = out.group_by("arm").agg(pl.col("delta").mean()).sort("arm")["delta"].to_list()
    assert by_arm[0] - by_arm[1] == pytest.approx(20.0, abs=2.0)
    assert out["delta"].std() < 0.2 * out["raw_delta"].std()


def test_the_cost_term_lowers_the_reward() -> None:
    """With a cost weight, $100 of cost takes that many reward units off."""
    frame = _store_rows([{"baseline_value": 1.0, "outcome_value": 2.0, "cost_usd": 200.0},
                         {"baseline_value": 1.0, "outcome_value": 2.0, "cost_usd": 0.0}])  # fmt: skip
    free = rewards(decision_frame(frame, {}))["reward"].to_list()
    paid = rewards(decision_frame(frame, {}), RewardConfig(cost_weight=0.5))["reward"].to_list()
    assert paid[0] == pytest.approx(free[0] - 1.0)
    assert paid[1] == pytest.approx(free[1])


def test_a_clipped_reward_caps_one_outlier_at_clip_spreads() -> None:
    """Winsorised: an hour-long jump counts as ``clip`` robust spreads, ordinary changes as is."""
    rows = [{"baseline_value": 10.0, "outcome_value": 10.0 + d} for d in (-1, 0, 1, 2, -2, 60)]
    frame = decision_frame(_store_rows(rows), {})
    plain = rewards(frame)["reward"].to_list()
    clipped = rewards(frame, RewardConfig(clip=3.0))["reward"].to_list()
    assert max(plain) > 3.0
    assert max(clipped) == pytest.approx(3.0)
    assert min(clipped) >= -3.0
    assert [c for p, c in zip(plain, clipped, strict=True) if abs(p) < 3] == [
        p for p in plain if abs(p) < 3
    ]


def test_day_effects_take_a_drift_out_of_the_comparison_of_arms() -> None:
    """An adaptive policy held mostly on a bad day and acted mostly on a good one: raw rewards
    credit the drift to the arms; within-day rewards recover the arms' true difference."""
    from datetime import timedelta

    rng = np.random.default_rng(3)
    rows = []
    for day, (shock, act_share) in enumerate([(-3.0, 0.2), (3.0, 0.8)] * 10):
        for i in range(40):
            acted = rng.uniform() < act_share
            effect = 0.5 if acted else 0.0  # acting truly adds half a unit
            rows.append(
                {
                    "baseline_value": 100.0,
                    "outcome_value": 100.0 + shock + effect + float(rng.normal(0, 1)),
                    "decided_at": T0 + timedelta(days=day, hours=i % 12),
                    "context": f'{{"arm": "{"a" if acted else "hold:g"}", "group": "g",'
                    ' "bucket": "urban|-"}',
                }
            )
    frame = decision_frame(_store_rows(rows), {})

    def gap(cfg: RewardConfig) -> float:
        out = rewards(frame, cfg)
        in_units = (pl.col("reward") * pl.col("scale")).mean()  # back in the KPI's units
        means = dict(out.group_by("arm").agg(in_units).iter_rows())
        return float(means["a"] - means["hold:g"])

    assert gap(RewardConfig()) > 2.0  # the drift, not the arm
    assert gap(RewardConfig(day_effects=0.0)) == pytest.approx(0.5, abs=0.25)
    with_shrink = rewards(frame, RewardConfig(day_effects=3.0))
    assert with_shrink.height == len(rows)


def test_day_effects_subtract_the_days_shrunk_mean() -> None:
    """Shrinkage: the day's mean is its sum over (decisions + day_effects), as documented."""
    frame = decision_frame(
        _store_rows([{"baseline_value": 1.0, "outcome_value": 1.0 + d} for d in (-1.0, 2.0)]), {}
    )
    plain = rewards(frame)["reward"].to_list()
    shrunk = rewards(frame, RewardConfig(day_effects=2.0))["reward"].to_list()
    day_mean = sum(plain) / (2 + 2.0)
    assert shrunk == pytest.approx([p - day_mean for p in plain])
