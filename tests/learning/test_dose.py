"""The dose-response model: the catalogue's doses, the slopes' fit and pooling, choosing by them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.agents.catalogue import default_catalogue
from tailguard.learning.dose import ArmInfo, DosePriors, fit_slopes
from tailguard.learning.policy import LearningConfig, ThompsonModel, fit_thompson

NOW = datetime(2026, 3, 30, tzinfo=UTC)
ARMS = {
    "boost": ArmInfo(entry="boost", group="g", dose=1.0, cost_usd=0.0),
    "boost@1": ArmInfo(entry="boost", group="g", dose=0.5, cost_usd=0.0),
    "boost@2": ArmInfo(entry="boost", group="g", dose=2.0, cost_usd=0.0),
}
OFFERED = ["boost", "boost@1", "boost@2", "hold:g"]


def _decisions(
    slope_by_type: dict[str, float], *, per_arm: int, noise: float, seed: int, tenure: str = "-"
) -> pl.DataFrame:
    """Measured decisions of one group: reward = dose x slope(area type) + noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for area_type, slope in slope_by_type.items():
        for arm in OFFERED:
            dose = 0.0 if arm.startswith("hold:") else ARMS[arm].dose
            for i in range(per_arm):
                rows.append(
                    {
                        "decision_id": f"{area_type}-{arm}-{i}",
                        "group": "g",
                        "bucket": f"{area_type}|{tenure}",
                        "arm": arm,
                        "reward": dose * slope + noise * float(rng.standard_normal()),
                        "acted": not arm.startswith("hold:"),
                        "decided_at": NOW - timedelta(hours=1),
                    }
                )
    return pl.DataFrame(rows, schema_overrides={"decided_at": pl.Datetime("us", "UTC")})


def test_the_catalogue_declares_each_levels_dose_by_its_arguments() -> None:
    """A level's dose is its first differing numeric argument over the entry's own; an entry
    without alternative levels is dose 1; costs are the levels' own."""
    info = default_catalogue().arm_info()
    assert info["late_zip_routing_boost"].dose == 1.0
    assert info["late_zip_routing_boost@1"].dose == pytest.approx(0.08 / 0.15)
    assert info["late_zip_routing_boost@2"].dose == pytest.approx(0.25 / 0.15)
    assert info["detractor_apology_credit@2"].dose == pytest.approx(2.0)
    assert info["detractor_apology_credit@2"].cost_usd == 250.0
    assert info["recall_tech_shadow"].dose == 1.0
    assert info["low_earner_nearby_jobs@1"].group == "low_earner"
    assert info["low_earner_nearby_jobs@1"].dose == pytest.approx(1.5)


def test_with_flat_priors_the_slope_is_the_difference_of_means_over_the_dose() -> None:
    """Hand-computed case: one bucket, holds averaging 0.2 and an arm at dose 2 averaging 1.0:
    under nearly flat priors the slope is (1.0 - 0.2) / 2 = 0.4, with variance
    sigma^2 (1/n_arm + 1/n_hold) / dose^2."""
    rows = [("urban|-", "hold:g", 100.0, 100.0 * 0.2), ("urban|-", "boost@2", 400.0, 400.0 * 1.0)]
    data = pl.DataFrame(
        {
            "group": ["g"] * 2,
            "bucket": [r[0] for r in rows],
            "learn_arm": [r[1] for r in rows],
            "reward": [r[3] / r[2] for r in rows],
            "w": [r[2] for r in rows],
        }
    )
    by_bucket, _ = fit_slopes(
        data,
        ARMS,
        noise={"g": 1.0},
        priors=DosePriors(entry_mean=0.0, entry_sd=1e4, between_sd=1e-4, intercept_sd=1e4),
    )
    post = by_bucket[("g", "urban|-")]
    assert post.entries == ("boost",)
    assert post.mean[0] == pytest.approx(0.4, abs=1e-4)
    assert post.cov[0][0] == pytest.approx((1 / 400 + 1 / 100) / 4, rel=1e-3)


def test_slopes_are_learnt_by_context_and_pooled_by_area_type() -> None:
    """Dose x +0.5 in cities, dose x -0.5 in rural areas: the fitted slopes have those signs, and
    a rural bucket without any decisions (veterans) borrows the rural evidence."""
    data = _decisions({"urban": 0.5, "rural": -0.5}, per_arm=120, noise=1.0, seed=3).with_columns(
        pl.col("arm").alias("learn_arm"), pl.lit(1.0).alias("w")
    )
    by_bucket, fallback = fit_slopes(
        data,
        ARMS,
        noise={"g": 1.0},
        priors=DosePriors(entry_mean=0.1, entry_sd=1.0, between_sd=0.35),
    )
    urban, rural = by_bucket[("g", "urban|-")], by_bucket[("g", "rural|-")]
    assert urban.mean[0] > 0.3
    assert rural.mean[0] < -0.3
    unseen = by_bucket[("g", "rural|veteran")]
    assert unseen.mean[0] < -0.1
    assert unseen.cov[0][0] > rural.cov[0][0]  # less sure where it has no decisions of its own
    assert fallback["g"].cov[0][0] > unseen.cov[0][0]


def _model(data: pl.DataFrame, **config: object) -> ThompsonModel:
    return fit_thompson(
        data.with_columns(pl.lit(0.0).alias("cost_usd")),
        now=NOW,
        version="v-dose",
        # the rows' rewards are not taken within the day here (see the day-effects test)
        config=LearningConfig(burn_in=4.0, day_effects=None, **config),  # type: ignore[arg-type]
        arms=ARMS,
    )


def test_choice_moves_to_the_strongest_level_where_it_helps_and_holds_where_it_harms() -> None:
    """The levels of one entry move together: where the slope is surely positive the strongest
    level takes nearly every decision, where it is surely negative holding does; the floor
    keeps every arm possible."""
    model = _model(_decisions({"urban": 0.6, "rural": -0.6}, per_arm=150, noise=1.0, seed=5))
    assert model.uses_doses
    rng = np.random.default_rng(0)
    urban = model.probabilities("g", "urban|-", OFFERED, rng)
    rural = model.probabilities("g", "rural|-", OFFERED, rng)
    assert urban.argmax() == OFFERED.index("boost@2")
    assert urban.max() > 0.8
    assert rural.argmax() == OFFERED.index("hold:g")
    assert rural.max() > 0.8
    assert min(urban.min(), rural.min()) >= 0.01 - 1e-12
    assert urban.sum() == pytest.approx(1.0)
    assert rural.sum() == pytest.approx(1.0)


def test_the_cost_term_holds_back_a_dose_that_does_not_pay_for_itself() -> None:
    """Same slopes, but the strongest level costs $5,000: at 0.02 reward units per $100 it is
    worth 2 x 0.3 - 1.0 < 0, so the own level wins; the effect against holding says so."""
    data = _decisions({"urban": 0.3}, per_arm=300, noise=0.5, seed=7)
    arms = {**ARMS, "boost@2": ArmInfo(entry="boost", group="g", dose=2.0, cost_usd=5000.0)}
    model = fit_thompson(
        data.with_columns(pl.lit(0.0).alias("cost_usd")),
        now=NOW,
        version="v-cost",
        config=LearningConfig(burn_in=4.0, day_effects=None),
        arms=arms,
    )
    p = model.probabilities("g", "urban|-", OFFERED, np.random.default_rng(1))
    assert p[OFFERED.index("boost@2")] < 0.05
    own = model.effect_vs_hold("g", "urban|-", "boost")
    strong = model.effect_vs_hold("g", "urban|-", "boost@2")
    assert own is not None
    assert strong is not None
    post = model.slopes[("g", "urban|-")]
    assert own.mean == pytest.approx(post.mean[0])
    assert strong.mean == pytest.approx(2.0 * post.mean[0] - 0.02 * 5000.0 / 100.0)


def test_a_version_round_trips_through_json_and_chooses_the_same() -> None:
    """What the ledger stores (JSON) gives back a model with the same probabilities."""
    model = _model(_decisions({"suburban": 0.4}, per_arm=40, noise=1.0, seed=9))
    again = ThompsonModel.from_json(json.loads(json.dumps(model.to_json())))
    assert again.uses_doses
    for bucket in ("suburban|-", "urban|rookie", "nowhere|-"):
        a = model.probabilities("g", bucket, OFFERED, np.random.default_rng(2))
        b = again.probabilities("g", bucket, OFFERED, np.random.default_rng(2))
        assert np.allclose(a, b, atol=1e-6)


def test_burn_in_counts_every_level_of_an_entry() -> None:
    """Under the dose model an arm is trusted on its entry's decisions at any level: a level
    never played is not held back in burn-in once its entry has enough evidence."""
    data = _decisions({"urban": 0.5}, per_arm=10, noise=1.0, seed=11).filter(
        pl.col("arm") != "boost@2"
    )
    model = _model(data)
    assert model.trust("g", "boost@2") == pytest.approx(model.trust("g", "boost"))
    assert model.trust("g", "boost@2") == pytest.approx(20, rel=0.01)  # 2 levels x 10, decayed
    arm_mode = _model(data, structure="arms")
    assert not arm_mode.uses_doses
    assert arm_mode.trust("g", "boost@2") == 0.0


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["urban|-", "rural|veteran", "x|y", "|"]),
            st.sampled_from([*OFFERED, "gone@3"]),
            st.floats(-5, 5),
            st.floats(0.0, 50.0),
        ),
        max_size=20,
    )
)
def test_any_data_gives_valid_probabilities(
    rows: list[tuple[str, str, float, float]],
) -> None:
    """Whatever the measured decisions (odd buckets, arms the catalogue no longer has, zero
    weights), the fit gives finite slopes and every choice is a probability vector."""
    data = pl.DataFrame(
        {
            "group": ["g"] * len(rows),
            "bucket": [r[0] for r in rows],
            "learn_arm": [r[1] for r in rows],
            "reward": [r[2] for r in rows],
            "w": [r[3] for r in rows],
        },
        schema={
            "group": pl.String,
            "bucket": pl.String,
            "learn_arm": pl.String,
            "reward": pl.Float64,
            "w": pl.Float64,
        },
    )
    by_bucket, fallback = fit_slopes(
        data,
        ARMS,
        noise={"g": 1.0},
        priors=DosePriors(entry_mean=0.1, entry_sd=1.0, between_sd=0.35),
    )
    assert all(np.isfinite(p.mean).all() for p in [*by_bucket.values(), *fallback.values()])
    model = ThompsonModel(version="v", arms=dict(ARMS), slopes=by_bucket, group_slopes=fallback)
    for bucket in ("urban|-", "x|y", "new|-"):
        p = model.probabilities("g", bucket, OFFERED, np.random.default_rng(0))
        assert p.sum() == pytest.approx(1.0)
        assert (p >= 0).all()


def test_the_operators_view_lists_every_level_and_the_departure_to_holding() -> None:
    """The learning page's behaviour table under the dose model: every catalogue level of the
    group (one never played included) and holding, values against holding, and the rural bucket
    departing from the catalogue to holding."""
    from tailguard.learning.view import behaviour

    data = _decisions({"urban": 0.6, "rural": -0.6}, per_arm=150, noise=1.0, seed=13).filter(
        pl.col("arm") != "boost@1"
    )
    rows = {r["bucket"]: r for r in behaviour(_model(data))}
    rural = rows["rural|-"]
    assert [a["arm"] for a in rural["arms"]] == ["boost", "boost@1", "boost@2", "hold:g"]
    assert rural["top"] == "hold:g"
    assert rural["departs"]
    hold = rural["arms"][-1]
    assert (hold["mean"], hold["sd"]) == (0.0, 0.0)
    assert rows["urban|-"]["top"] == "boost@2"
    assert rural["arms"][2]["mean"] < rural["arms"][0]["mean"] < 0  # twice the dose, twice the harm


def test_doses_are_taken_within_the_day_like_the_rewards() -> None:
    """Day 1 mixes holding and acting (true slope 0.5); on day 2 every decision acts. With the
    rewards taken within their day (exact fixed effects, shrinkage 0), day 2 says nothing about
    the slope: taking the doses within the day too keeps the estimate near 0.5, while leaving
    them as they are reads day 2's acting decisions as acting without effect (towards 0)."""
    rng = np.random.default_rng(17)
    rows = []
    for day, arms in ((1, ["hold:g", "boost"] * 150), (2, ["boost"] * 300)):
        for i, arm in enumerate(arms):
            dose = 0.0 if arm.startswith("hold:") else 1.0
            rows.append(
                {
                    "group": "g",
                    "bucket": "urban|-",
                    "learn_arm": arm,
                    "reward": 0.5 * dose + 2.0 * day + 0.3 * float(rng.standard_normal()),
                    "w": 1.0,
                    "decided_at": NOW - timedelta(days=3 - day, minutes=i),
                }
            )
    frame = pl.DataFrame(rows, schema_overrides={"decided_at": pl.Datetime("us", "UTC")})
    cell = pl.col("decided_at").dt.truncate("1d")
    within = frame.with_columns(pl.col("reward") - pl.col("reward").mean().over(cell))
    flat = DosePriors(entry_mean=0.0, entry_sd=100.0, between_sd=1e-3, intercept_sd=100.0)
    kept, _ = fit_slopes(within, ARMS, noise={"g": 0.3}, priors=flat, day_effects=0.0)
    naive, _ = fit_slopes(within, ARMS, noise={"g": 0.3}, priors=flat)
    assert kept[("g", "urban|-")].mean[0] == pytest.approx(0.5, abs=0.06)
    assert naive[("g", "urban|-")].mean[0] < 0.4  # about 1/3: attenuated by day 2
