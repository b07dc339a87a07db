"""The learning policy: floor, burn-in, pooling, decay, persistence, and the fixed weights."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.errors import InvalidInputError
from tailguard.learning.policy import (
    FixedPolicy,
    LearningConfig,
    ThompsonModel,
    UniformPolicy,
    apply_floor,
    fit_thompson,
)

NOW = datetime(2026, 3, 30, tzinfo=UTC)


def _observations(
    spec: list[tuple[str, str, float, int]], *, age_days: float = 1.0, group: str = "g"
) -> pl.DataFrame:
    """(bucket, arm, reward, count) -> rewarded decisions, all ``age_days`` old."""
    rows = [
        {
            "decision_id": f"{bucket}-{arm}-{i}-{age_days}",
            "area_id": f"A{i % 7}",
            "group": group,
            "bucket": bucket,
            "arm": arm,
            "reward": reward + (0.05 if i % 2 else -0.05),
            "acted": not arm.startswith("hold:"),
            "decided_at": NOW - timedelta(days=age_days),
        }
        for bucket, arm, reward, count in spec
        for i in range(count)
    ]
    return pl.DataFrame(rows, schema_overrides={"decided_at": pl.Datetime("us", "UTC")})


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12), st.floats(0.001, 0.08))
def test_the_floor_keeps_every_arm_possible(raw: list[float], floor: float) -> None:
    """After the floor, probabilities sum to 1 and none is below the floor (when K x floor <= 1)."""
    p = np.array(raw) + 1e-9
    out = apply_floor(p, floor)
    assert out.sum() == pytest.approx(1.0)
    assert out.min() >= min(floor, 1.0 / len(raw)) - 1e-12


def test_a_new_network_starts_on_the_catalogues_arms_and_explores_the_rest() -> None:
    """Before any arm is trusted, the burn-in share is spread over every arm and the rest stays
    on the catalogue's own arms (not uniform choice: a new network starts near the fixed
    weights); without the conservative baseline, it is uniform."""
    model = ThompsonModel(version="v0")
    p = model.probabilities("g", "urban|-", ["a", "b@1", "hold:g"], None)
    share = LearningConfig().burn_in_share
    assert p == pytest.approx([share / 3 + (1 - share), share / 3, share / 3])
    plain = ThompsonModel(version="v0", config=LearningConfig(conservative=False))
    assert plain.probabilities("g", "urban|-", ["a", "b@1", "hold:g"], None) == pytest.approx(
        [1 / 3, 1 / 3, 1 / 3]
    )


def test_the_policy_learns_the_best_arm_and_keeps_the_floor() -> None:
    """Clear evidence: the good arm gets almost everything, the others exactly the floor."""
    data = _observations([("urban|-", "a", -1.0, 60), ("urban|-", "b", 1.0, 60),
                          ("urban|-", "hold:g", 0.0, 60)])  # fmt: skip
    model = fit_thompson(data, now=NOW, version="v1")
    p = model.probabilities("g", "urban|-", ["a", "b", "hold:g"], np.random.default_rng(0))
    assert p[1] == pytest.approx(1 - 2 * 0.01, abs=1e-9)
    assert p[0] == pytest.approx(0.01)
    assert p[2] == pytest.approx(0.01)


def test_an_untrusted_arm_gets_its_burn_in_share() -> None:
    """An arm below the burn-in count is explored with min(u/K, burn_in_share) of the
    decisions even if the others look good."""
    data = _observations([("urban|-", "a", 1.0, 60), ("urban|-", "b", -1.0, 3)])
    model = fit_thompson(data, now=NOW, version="v1", config=LearningConfig(burn_in=8))
    p = model.probabilities("g", "urban|-", ["a", "b"], np.random.default_rng(1))
    assert p[1] >= min(1 / 2, LearningConfig().burn_in_share) - 1e-9
    wide = LearningConfig(burn_in=8, burn_in_share=1.0)
    p = fit_thompson(data, now=NOW, version="v1", config=wide).probabilities(
        "g", "urban|-", ["a", "b"], np.random.default_rng(1)
    )
    assert p[1] >= 0.5 - 1e-9
    assert p.sum() == pytest.approx(1.0)


def test_context_matters_where_the_data_say_so() -> None:
    """Routing helps in cities and hurts rural areas: each bucket learns its own best arm."""
    data = _observations(
        [
            ("urban|-", "boost", 1.0, 80),
            ("urban|-", "hold:g", 0.0, 80),
            ("rural|-", "boost", -1.0, 80),
            ("rural|-", "hold:g", 0.0, 80),
        ]
    )
    model = fit_thompson(data, now=NOW, version="v1")
    rng = np.random.default_rng(2)
    assert model.probabilities("g", "urban|-", ["boost", "hold:g"], rng)[0] > 0.9
    assert model.probabilities("g", "rural|-", ["boost", "hold:g"], rng)[1] > 0.9


def test_the_catalogue_choice_stands_until_an_alternative_is_credibly_better() -> None:
    """Conservative: a level that looks a little better on little data keeps only a quarter of
    its Thompson share (the catalogue's arm gets the rest); with strong evidence it takes over."""
    arms = ["boost", "boost@2", "hold:g"]
    weak = _observations(
        [("urban|-", "boost", 0.0, 12), ("urban|-", "boost@2", 0.08, 12),
         ("urban|-", "hold:g", -0.5, 12)]
    )  # fmt: skip
    rng = np.random.default_rng(3)
    free = fit_thompson(
        weak, now=NOW, version="v", config=LearningConfig(conservative=False)
    ).probabilities("g", "urban|-", arms, np.random.default_rng(3))
    guarded = fit_thompson(weak, now=NOW, version="v").probabilities(
        "g", "urban|-", arms, np.random.default_rng(3)
    )
    strict = fit_thompson(
        weak, now=NOW, version="v", config=LearningConfig(keep_exploring=0.0)
    ).probabilities("g", "urban|-", arms, np.random.default_rng(3))
    assert free[1] > free[0]
    assert guarded[1] == pytest.approx(0.01 + 0.97 * 0.25 * (free[1] - 0.01) / 0.97, abs=1e-9)
    assert guarded[0] > 0.7
    assert strict[1] == pytest.approx(0.01)
    assert strict[0] == pytest.approx(0.98)
    strong = _observations(
        [("urban|-", "boost", 0.0, 80), ("urban|-", "boost@2", 1.0, 80),
         ("urban|-", "hold:g", -0.5, 80)]
    )  # fmt: skip
    p = fit_thompson(strong, now=NOW, version="v").probabilities("g", "urban|-", arms, rng)
    assert p[1] == pytest.approx(0.98, abs=1e-9)
    # Holding is an alternative like any other: it wins where acting credibly hurts.
    harm = _observations([("rural|-", "boost", -1.0, 80), ("rural|-", "hold:g", 0.0, 80)])
    p = fit_thompson(harm, now=NOW, version="v").probabilities("g", "rural|-", arms[::2], rng)
    assert p[1] == pytest.approx(0.99, abs=1e-9)


def test_a_bucket_without_data_borrows_from_the_pool() -> None:
    """Pooling: an arm's mean in an unseen bucket sits near its mean over all buckets."""
    data = _observations([("urban|-", "a", 1.0, 100), ("suburban|-", "a", 1.0, 100)])
    model = fit_thompson(data, now=NOW, version="v1")
    mean, sd, n = model.posterior("g", "rural|-", "a")
    assert mean == pytest.approx(1.0, abs=0.05)
    assert n == pytest.approx(200 * 0.5 ** (1 / 14), rel=1e-6)
    lone_mean, lone_sd, _ = ThompsonModel(version="x").posterior("g", "rural|-", "a")
    assert lone_mean == pytest.approx(LearningConfig().default_prior)
    assert sd < lone_sd
    assert ThompsonModel(version="x").posterior("g", "rural|-", "hold:g")[0] == 0.0


def test_old_evidence_decays() -> None:
    """An arm that was good two months ago and bad this week is judged on this week."""
    old = _observations([("urban|-", "a", 1.0, 100)], age_days=60)
    new = _observations([("urban|-", "a", -1.0, 30)], age_days=1)
    model = fit_thompson(pl.concat([old, new]), now=NOW, version="v1")
    assert model.posterior("g", "urban|-", "a")[0] < 0
    stale = fit_thompson(
        pl.concat([old, new]), now=NOW, version="v2", config=LearningConfig(half_life_days=1e6)
    )
    assert stale.posterior("g", "urban|-", "a")[0] > 0


def test_decisions_after_now_are_not_used() -> None:
    """The fit sees only what was known at ``now``."""
    data = _observations([("urban|-", "a", 1.0, 10)], age_days=-1)
    assert fit_thompson(data, now=NOW, version="v").pooled == {}


def test_rejected_and_held_decisions_teach_the_hold_arm() -> None:
    """A refused action did not happen: its outcome is evidence about doing nothing."""
    data = _observations([("urban|-", "a", 0.5, 20)]).with_columns(pl.lit(False).alias("acted"))
    model = fit_thompson(data, now=NOW, version="v")
    assert ("g", "hold:g") in model.pooled
    assert ("g", "a") not in model.pooled


def test_a_model_survives_its_json_round_trip() -> None:
    """What a version stores is exactly the model that chooses."""
    data = _observations([("urban|-", "a", 1.0, 30), ("rural|rookie", "b", -0.5, 20)])
    model = fit_thompson(data, now=NOW, version="v9")
    again = ThompsonModel.from_json(model.to_json())
    assert again.to_json() == model.to_json()
    arms = ["a", "b"]
    assert np.array_equal(
        again.probabilities("g", "urban|-", arms, None),
        model.probabilities("g", "urban|-", arms, None),
    )


def test_fixed_weights_choose_only_the_entries_own_levels() -> None:
    """The fixed policy is today's: weight / sum over entries, never a level or hold."""
    policy = FixedPolicy(weights={"a": 1.0, "b": 3.0})
    p = policy.probabilities("g", "x", ["a", "a@1", "b", "hold:g"], None)
    assert p == pytest.approx([0.25, 0.0, 0.75, 0.0])
    assert UniformPolicy().probabilities("g", "x", ["a", "b"], None) == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize(
    "bad", [{"floor": 0.6}, {"half_life_days": 0}, {"draws": 1}, {"prior_sd": -1}]
)
def test_bad_settings_are_refused(bad: dict[str, float]) -> None:
    """Settings that would break the floor or the posterior are refused."""
    with pytest.raises(InvalidInputError):
        LearningConfig(**bad)  # type: ignore[arg-type]


@settings(deadline=None)  # each example fits a model with Polars: slow on a busy machine
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "hold:g"]), st.floats(-3, 3), st.integers(0, 12)),
        max_size=8,
    ),
    st.integers(2, 4),
)
def test_choice_probabilities_are_always_a_distribution(
    spec: list[tuple[str, float, int]], k: int
) -> None:
    """Whatever the evidence (trusted, untrusted, none), the vector is >= floor and sums to 1."""
    data = _observations([("urban|-", arm, r, n) for arm, r, n in spec if n > 0])
    model = fit_thompson(data, now=NOW, version="v") if data.height else ThompsonModel(version="v")
    arms = ["a", "b", "c", "hold:g"][:k]
    p = model.probabilities("g", "urban|-", arms, np.random.default_rng(0))
    assert p.sum() == pytest.approx(1.0)
    assert p.min() >= 0.01 - 1e-12


def test_holding_keeps_its_control_share_until_acting_is_known_to_beat_it() -> None:
    """With ``hold_share``, an undecided bucket holds at least that often; once acting clearly
    beats holding, holding falls back to the floor."""
    cfg = LearningConfig(hold_share=0.1, burn_in=1)
    arms = ["a", "hold:g"]
    unsure = _observations([("urban|-", "a", 0.05, 20), ("urban|-", "hold:g", 0.0, 20)])
    p = fit_thompson(unsure, now=NOW, version="v1", config=cfg).probabilities(
        "g", "urban|-", arms, np.random.default_rng(7)
    )
    assert p[1] >= 0.1 - 1e-9
    assert p.sum() == pytest.approx(1.0)
    clear = _observations([("urban|-", "a", 1.0, 200), ("urban|-", "hold:g", 0.0, 200)])
    p = fit_thompson(clear, now=NOW, version="v1", config=cfg).probabilities(
        "g", "urban|-", arms, np.random.default_rng(7)
    )
    assert p[1] == pytest.approx(0.01)


def test_a_version_states_what_an_arm_is_expected_to_do_against_holding() -> None:
    """Acting clearly beats holding here: the difference of the posteriors, a tight 80 %
    interval above zero, near-certain help; a hold arm has no expectation of its own."""
    data = _observations([("urban|-", "a", 1.0, 200), ("urban|-", "hold:g", 0.0, 200)])
    model = fit_thompson(data, now=NOW, version="v1")
    found = model.effect_vs_hold("g", "urban|-", "a")
    assert found is not None
    mean_a, sd_a, _ = model.posterior("g", "urban|-", "a")
    mean_h, sd_h, _ = model.posterior("g", "urban|-", "hold:g")
    assert found.mean == pytest.approx(mean_a - mean_h)
    assert found.mean == pytest.approx(1.0, abs=0.05)
    half = 1.2816 * float(np.hypot(sd_a, sd_h))
    assert (found.lo80, found.hi80) == pytest.approx((found.mean - half, found.mean + half))
    assert found.lo80 > 0
    assert found.p_helps > 0.99
    assert found.decisions == pytest.approx(200, rel=0.05)  # a day of decay on each
    assert model.effect_vs_hold("g", "urban|-", "hold:g") is None
    unknown = model.effect_vs_hold("g", "rural|-", "a")  # no data in the bucket: the pool
    assert unknown is not None
    assert unknown.lo80 < found.lo80
