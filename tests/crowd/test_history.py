"""The simulated earlier period a short run's exchange is seeded with: it ends at the areas'
real levels, its effects are what the truth says, and it lands in the exchange's tables."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tailguard.crowd.exchange import ExchangeSettings, estimate_lifts
from tailguard.crowd.history import HistorySettings, earlier_period
from tailguard.crowd.store import CrowdStore
from tailguard.errors import InvalidInputError
from tailguard.ledger import Ledger

TYPES = ("urban", "suburban", "rural")
AREAS = [f"PA-{i:04d}" for i in range(1, 61)]
AREA_TYPES = {a: TYPES[i % 3] for i, a in enumerate(AREAS)}
TACTICS = [("boost[w=1]", "ftf_pct"), ("credit[usd=25]", "lateness_p90_min"), ("x[k=1]", "absent")]


def _levels(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        [
            {"area_id": a, "kpi": k, "value": float(rng.normal(m, 5))}
            for a in AREAS
            for k, m in (("ftf_pct", 75.0), ("lateness_p90_min", 20.0))
        ]
    )


def test_the_history_ends_at_the_real_levels_before_the_first_real_week() -> None:
    """Weeks end_period - 12 .. end_period - 1; with (almost) no noise every area's last week
    is its real level, and an adopter's weeks before adoption sit one effect away from it."""
    cfg = HistorySettings(noise_share=1e-9, effect_sd=(2.0, 2.0))
    levels = _levels()
    h = earlier_period(
        levels,
        AREA_TYPES,
        TACTICS,
        end_period=3000,
        seed=4,
        settings=cfg,
        lower_is_better=frozenset({"lateness_p90_min"}),
    )
    assert sorted(h.kpis["period"].unique().to_list()) == list(range(2988, 3000))
    last = h.kpis.filter(pl.col("period") == 2999).join(levels, on=["area_id", "kpi"])
    assert np.allclose(last["value"], last["value_right"], atol=1e-5)
    assert set(h.adoptions["tactic"]) <= {"boost[w=1]", "credit[usd=25]"}  # no level: skipped
    assert h.adoptions["adopted_period"].min() >= 2989  # a baseline week before every adoption
    assert h.truth.height == 2 * len(TYPES)
    first = h.adoptions.filter(pl.col("tactic") == "boost[w=1]").row(0, named=True)
    effect = h.truth.filter(
        (pl.col("tactic") == "boost[w=1]") & (pl.col("area_type") == AREA_TYPES[first["area_id"]])
    )["effect"][0]
    before = h.kpis.filter(
        (pl.col("area_id") == first["area_id"])
        & (pl.col("kpi") == "ftf_pct")
        & (pl.col("period") < first["adopted_period"])
    )["value"]
    level = levels.filter((pl.col("area_id") == first["area_id"]) & (pl.col("kpi") == "ftf_pct"))
    # The area's own effect scatters around its type's by 30 %: within 4 SD of it.
    gap = float(level["value"][0]) - before.to_numpy()
    assert np.allclose(gap, gap[0], atol=1e-5)
    assert abs(gap[0] - effect) <= 4 * 0.3 * abs(effect) + 1e-9


def test_the_exchange_finds_the_signs_the_truth_gives(ledger: Ledger) -> None:
    """Published into the store, the history's lifts per type carry the truth's sign where the
    truth is not null, and null truths give small lifts."""
    cfg = HistorySettings(noise_share=0.05, effect_sd=(3.0, 3.0))
    h = earlier_period(
        _levels(1),
        AREA_TYPES,
        TACTICS,
        end_period=3000,
        seed=9,
        settings=cfg,
        lower_is_better=frozenset({"lateness_p90_min"}),
    )
    store = CrowdStore(ledger.engine)
    store.put_areas(AREA_TYPES)
    assert h.publish(store) == h.adoptions.height
    assert store.kpis_frame().height == h.kpis.height
    lifts = estimate_lifts(
        store.kpis_frame(),
        store.tactics_frame().select("area_id", "tactic", "kpi", "adopted_period"),
        AREA_TYPES,
        ExchangeSettings(),
    )
    truth = {(r["tactic"], r["area_type"]): r["effect"] for r in h.truth.to_dicts()}
    assert lifts
    for x in lifts:
        true = truth[(x.tactic, x.cluster)]
        if true == 0:
            assert abs(x.lift) < 0.5 * 3.0 * 0.05 * 5
        else:
            assert np.sign(x.lift) == np.sign(true)
    described = h.describe()
    assert described["weeks"] == 12
    assert described["end_period"] == 3000
    assert described["adoptions"] == h.adoptions.height
    assert "synthetic" in described["what"]


@pytest.mark.parametrize(
    "bad",
    [
        {"weeks": 3},
        {"adopt_share": 1.0},
        {"noise_share": 0.0},
        {"effect_sd": (2.0, 1.0)},
        {"shares": (0.5, 0.5, 0.5)},
    ],
)
def test_bad_history_settings_are_refused(bad: dict[str, object]) -> None:
    """Each impossible setting is a clear error."""
    with pytest.raises(InvalidInputError):
        HistorySettings(**bad)  # type: ignore[arg-type]


def test_a_history_needs_typed_areas() -> None:
    """Levels of fewer than 2 areas with a type cannot make a panel."""
    with pytest.raises(InvalidInputError, match="at least 2 typed areas"):
        earlier_period(_levels(), {}, TACTICS, end_period=3000, seed=1)
