"""The benchmark's spread figures on a hand-made network: counted only after the proof."""

from __future__ import annotations

import polars as pl

from tailguard.crowd.bench import _after_proof
from tailguard.crowd.synth import Network

AREAS = ["a1", "a2", "a3", "a4"]


def _network(effect: float) -> Network:
    adoptions = pl.DataFrame(
        {"area_id": ["a1", "a2"], "tactic": ["t", "t"], "kpi": ["ftf_pct"] * 2},
    ).with_columns(adopted_period=pl.Series([2, 3], dtype=pl.Int64))
    effects = pl.DataFrame(
        {
            "tactic": ["t"] * 4,
            "kpi": ["ftf_pct"] * 4,
            "area_id": AREAS,
            "area_type": ["metro"] * 4,
            "effect": [effect] * 4,
        }
    )
    return Network(
        area_types=dict.fromkeys(AREAS, "metro"),
        kpis=pl.DataFrame(),
        adoptions=adoptions,
        effects=effects,
        weeks=6,
        ramp=2,
    )


def test_spread_after_proof_counts_the_weeks_after_discovery_with_and_without_imports() -> None:
    """Discovered at the end of week 3; a1 and a2 adopted on their own (weeks 2, 3), a3 after
    a local test (week 5): over weeks 4-6 of 4 areas, 6 of 12 area-weeks use it without the
    exchange and 8 with it; at the horizon 2 and 3 of the 4 areas."""
    clusters = dict.fromkeys(AREAS, "C1")
    imported = {("t", "a3"): 5, ("t", "a1"): 4}  # a1's import is later than its own adoption
    after_with, after_without, up_with, up_without = _after_proof(
        _network(1.0), clusters, imported, {("t", "ftf_pct", "C1"): 3}
    )
    assert after_without == [6 / 12]
    assert after_with == [8 / 12]
    assert (up_without, up_with) == ([0.5], [0.75])


def test_harmful_or_last_night_discoveries_do_not_count() -> None:
    """A truly harmful tactic, or one discovered on the horizon's last night, adds nothing."""
    clusters = dict.fromkeys(AREAS, "C1")
    harmful = _after_proof(_network(-1.0), clusters, {}, {("t", "ftf_pct", "C1"): 3})
    late = _after_proof(_network(1.0), clusters, {}, {("t", "ftf_pct", "C1"): 6})
    assert harmful == ([], [], [], [])
    assert late == ([], [], [], [])
