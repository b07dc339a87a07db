"""Families of similar tactics: formed only when their lifts agree, estimated on the pooled
adopters, never tagged for a local test."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from tailguard.crowd.exchange import (
    ExchangeResult,
    ExchangeSettings,
    TacticLift,
    estimate_lifts,
)
from tailguard.crowd.families import family_keys, heterogeneity_p
from tailguard.errors import InvalidInputError

AREAS = [f"PA-{i:04d}" for i in range(36)]
CLUSTERS = dict.fromkeys(AREAS, "C1")
GROUPED = ExchangeSettings(group_similar=True)


def _world(effects: dict[str, float], seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """12 weeks of FTF for 36 areas; each tactic adopted by its own 12 areas at weeks 3-9
    (the last 12 areas never adopt), with the given true effect (no ramp)."""
    rng = np.random.default_rng(seed)
    periods = np.arange(1, 13)
    y = 75 + rng.normal(0, 2, size=(len(AREAS), 1)) + rng.normal(0, 0.5, (len(AREAS), 12))
    adoptions = []
    for k, (tactic, effect) in enumerate(effects.items()):
        for i in range(12 * k, 12 * k + 12):
            g = 3 + i % 7
            y[i] += effect * (periods >= g)
            adoptions.append(
                {"area_id": AREAS[i], "tactic": tactic, "kpi": "ftf_pct", "adopted_period": g}
            )
    kpis = pl.DataFrame(
        {
            "area_id": np.repeat(AREAS, 12).tolist(),
            "kpi": ["ftf_pct"] * (len(AREAS) * 12),
            "period": np.tile(periods, len(AREAS)).tolist(),
            "value": y.ravel().tolist(),
        }
    )
    return kpis, pl.DataFrame(adoptions)


def test_two_levels_with_the_same_effect_form_a_family_with_every_adopter() -> None:
    """Two levels of one entry, both +2 points: the family ``boost[*]`` pools their 24
    adopters, estimates about +2 with a smaller SE than either level alone, and enters the
    FDR pool (discovered)."""
    kpis, adoptions = _world({"boost[w=1]": 2.0, "boost[w=2]": 2.0})
    lifts = estimate_lifts(kpis, adoptions, CLUSTERS, GROUPED)
    singles = {x.tactic: x for x in lifts if not x.members}
    [family] = [x for x in lifts if x.members]
    assert family.tactic == "boost[*]"
    assert family.members == ("boost[w=1]", "boost[w=2]")
    assert family.adopters == 24
    assert abs(family.lift - 2.0) < 0.3
    assert family.se < min(x.se for x in singles.values())
    assert family.discovered
    assert not [
        x for x in estimate_lifts(kpis, adoptions, CLUSTERS, ExchangeSettings()) if x.members
    ]


def test_levels_whose_lifts_disagree_are_not_grouped() -> None:
    """+2 and -2 points: the heterogeneity test rejects, no family."""
    kpis, adoptions = _world({"boost[w=1]": 2.0, "boost[w=2]": -2.0})
    lifts = estimate_lifts(kpis, adoptions, CLUSTERS, GROUPED)
    assert len(lifts) == 2
    assert not [x for x in lifts if x.members]


def test_entries_of_one_kind_form_a_kind_family_and_are_never_tested_locally() -> None:
    """Two entries of kind ``shadow`` with the same effect group as ``kind:shadow[*]``; the
    family is discovered but not proven elsewhere (no single arm to test), its members are."""
    kpis, adoptions = _world({"shadow_a[c=1]": 2.0, "shadow_b[c=1]": 2.0})
    kinds = {"shadow_a": "shadow", "shadow_b": "shadow"}
    lifts = estimate_lifts(kpis, adoptions, CLUSTERS, GROUPED, kinds=kinds)
    [family] = [x for x in lifts if x.members]
    assert family.tactic == "kind:shadow[*]"
    assert family.discovered
    result = ExchangeResult(clusters=CLUSTERS, lifts=tuple(lifts), settings=GROUPED)
    never = AREAS[-1]
    proven = {x.tactic for x in result.proven_elsewhere(never)}
    assert proven == {"shadow_a[c=1]", "shadow_b[c=1]"}
    assert "kind:shadow[*]" in {t["tactic"] for t in result.top(never)["top"]}


def _lift(value: float, se: float) -> TacticLift:
    return TacticLift(
        tactic="t",
        kpi="ftf_pct",
        cluster="C1",
        lift=value,
        se=se,
        ci95=(value - 2 * se, value + 2 * se),
        adopters=5,
        adopter_areas=(),
        p_uplift=1.0,
    )


def test_cochran_q_on_hand_numbers() -> None:
    """1.0 and 1.5 with SE 0.1: Q = 12.5 on 1 df; equal lifts give p = 1; one lift is no test."""
    p = heterogeneity_p([_lift(1.0, 0.1), _lift(1.5, 0.1)])
    assert math.isclose(p, math.erfc(math.sqrt(12.5 / 2)), rel_tol=1e-9)
    assert heterogeneity_p([_lift(1.0, 0.1), _lift(1.0, 0.3)]) == pytest.approx(1.0)
    assert heterogeneity_p([_lift(1.0, 0.1)]) == 1.0
    assert family_keys("a[x=1]", {"a": "k"}) == ["a[*]", "kind:k[*]"]
    assert family_keys("a", {}) == ["a[*]"]
    with pytest.raises(InvalidInputError):
        ExchangeSettings(family_alpha=0.0)


def test_a_family_that_adds_no_adopter_is_not_repeated() -> None:
    """The second level was adopted by the same areas in the same weeks: the two lifts agree
    exactly (Q = 0), but pooling gives the first level's own adoptions, so no family repeats
    its estimate."""
    kpis, adoptions = _world({"boost[w=1]": 2.0})
    same = adoptions.with_columns(pl.lit("boost[w=2]").alias("tactic"))
    lifts = estimate_lifts(kpis, pl.concat([adoptions, same]), CLUSTERS, GROUPED)
    assert {x.tactic for x in lifts} == {"boost[w=1]", "boost[w=2]"}
    assert heterogeneity_p(lifts) == pytest.approx(1.0)
