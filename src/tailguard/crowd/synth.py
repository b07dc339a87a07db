"""A synthetic network of areas and tactics with known (hidden) effects, for tests and the bench.

Areas have a type (``metro``, ``suburban``, ``rural``) that sets their KPI profile and how each
tactic works there: per type a tactic helps, does nothing, or harms, and each area's effect
scatters around its type's. Areas adopt tactics at staggered weeks; the effect ramps up over
the first weeks after adoption (dynamic effects, the case where two-way fixed effects is
biased). Weekly KPI values carry area and week effects and noise. The truth is kept beside the
data, for scoring only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from tailguard.crowd.store import CrowdStore

TYPES = ("metro", "suburban", "rural")
KPIS = ("ftf_pct", "nps_p10", "lateness_p90_min")
_BASE = {  # type -> KPI means
    "metro": (72.0, 6.0, 26.0),
    "suburban": (78.0, 7.0, 18.0),
    "rural": (84.0, 7.5, 12.0),
}
_NOISE = {"ftf_pct": 1.0, "nps_p10": 0.15, "lateness_p90_min": 1.0}
_SIGN = {"ftf_pct": 1.0, "nps_p10": 1.0, "lateness_p90_min": -1.0}


@dataclass(frozen=True, kw_only=True, slots=True)
class Network:
    """A synthetic network and its hidden truth.

    Attributes:
        area_types: area -> type.
        kpis: ``area_id, kpi, period, value`` weekly values.
        adoptions: ``area_id, tactic, kpi, adopted_period``.
        effects: ``tactic, kpi, area_id, area_type, effect`` the full (ramped-up) effect of
            each tactic in each area, in KPI units and signed so positive is better.
        weeks: the number of weeks (periods 1..weeks).
        ramp: weeks for an effect to reach its full size.
    """

    area_types: dict[str, str]
    kpis: pl.DataFrame
    adoptions: pl.DataFrame
    effects: pl.DataFrame
    weeks: int
    ramp: int

    def true_lift(self, tactic: str, kpi: str, areas: list[str], upto: int) -> float | None:
        """The true average lift on the treated (post periods up to ``upto``) for these areas.

        It matches the estimator's weights: every post-adoption week of every adopter that
        has a week before adoption counts once.
        """
        ad = self.adoptions.filter(
            (pl.col("tactic") == tactic)
            & (pl.col("kpi") == kpi)
            & pl.col("area_id").is_in(areas)
            & (pl.col("adopted_period") > 1)
            & (pl.col("adopted_period") <= upto)
        ).join(
            self.effects.select("tactic", "kpi", "area_id", "effect"),
            on=["tactic", "kpi", "area_id"],
        )
        if ad.is_empty():
            return None
        total, count = 0.0, 0
        for g, eff in ad.select("adopted_period", "effect").iter_rows():
            e = np.arange(upto - g + 1)
            total += float(eff * np.minimum(1.0, (e + 1) / self.ramp).sum())
            count += len(e)
        return total / count


def make_network(
    seed: int,
    *,
    areas: int = 120,
    weeks: int = 12,
    tactics: int = 10,
    adopt_share: float = 0.5,
    ramp: int = 6,
    shares: tuple[float, float, float] = (0.4, 0.35, 0.25),
) -> Network:
    """Build a network.

    Args:
        seed: the RNG seed (same seed, same network).
        areas, weeks, tactics: sizes.
        adopt_share: share of areas that adopt each tactic within the panel.
        ramp: weeks until an effect is full.
        shares: per (tactic, type), the chances of a helpful, null and harmful effect.
    """
    rng = np.random.default_rng(seed)
    ids = [f"PA-{i:04d}" for i in range(areas)]
    types = {a: TYPES[i % len(TYPES)] for i, a in enumerate(ids)}
    # Tactics: a target KPI and, per type, an effect size in noise units (signed: + is better).
    kinds = rng.choice(3, size=(tactics, len(TYPES)), p=list(shares))
    size = rng.uniform(0.6, 1.6, size=(tactics, len(TYPES)))
    per_type = np.where(kinds == 0, size, np.where(kinds == 1, 0.0, -size))
    target = [KPIS[j % len(KPIS)] for j in range(tactics)]
    names = [f"tactic_{j:02d}[level={1 + j % 2}]" for j in range(tactics)]
    # Adoption weeks: staggered in 2..weeks; non-adopters never.
    adopt = np.where(
        rng.random((tactics, areas)) < adopt_share,
        rng.integers(2, weeks + 1, size=(tactics, areas)),
        0,
    )
    scatter = 1.0 + 0.6 * rng.standard_normal((tactics, areas))
    type_idx = np.array([TYPES.index(types[a]) for a in ids])
    effect = per_type[:, type_idx] * scatter  # tactics x areas, noise units, + is better
    periods = np.arange(1, weeks + 1)
    rows: dict[str, list[object]] = {"area_id": [], "kpi": [], "period": [], "value": []}
    for k, kpi in enumerate(KPIS):
        noise = _NOISE[kpi]
        base = np.array([_BASE[types[a]][k] for a in ids])
        area_fe = rng.normal(0, 2 * noise, size=areas)
        week_fe = np.cumsum(rng.normal(0, 0.5 * noise, size=weeks))
        y = base[:, None] + area_fe[:, None] + week_fe[None, :]
        y = y + rng.normal(0, noise, size=(areas, weeks))
        for j in np.flatnonzero(np.array(target) == kpi).tolist():
            g = adopt[j]
            exposure = periods[None, :] - g[:, None]
            ramped = np.where(
                (g[:, None] > 0) & (exposure >= 0), np.minimum(1.0, (exposure + 1) / ramp), 0.0
            )
            y = y + _SIGN[kpi] * noise * effect[j][:, None] * ramped
        rows["area_id"] += np.repeat(ids, weeks).tolist()
        rows["kpi"] += [kpi] * (areas * weeks)
        rows["period"] += np.tile(periods, areas).tolist()
        rows["value"] += y.ravel().tolist()
    kpis = pl.DataFrame(
        rows,
        schema={"area_id": pl.String, "kpi": pl.String, "period": pl.Int64, "value": pl.Float64},
    )
    t_idx, a_idx = np.nonzero(adopt)
    adoptions = pl.DataFrame(
        {
            "area_id": [ids[i] for i in a_idx],
            "tactic": [names[j] for j in t_idx],
            "kpi": [target[j] for j in t_idx],
            "adopted_period": adopt[t_idx, a_idx].astype(np.int64),
        },
        schema={
            "area_id": pl.String,
            "tactic": pl.String,
            "kpi": pl.String,
            "adopted_period": pl.Int64,
        },
    )
    tt, aa = np.meshgrid(np.arange(tactics), np.arange(areas), indexing="ij")
    effects = pl.DataFrame(
        {
            "tactic": [names[j] for j in tt.ravel()],
            "kpi": [target[j] for j in tt.ravel()],
            "area_id": [ids[i] for i in aa.ravel()],
            "area_type": [types[ids[i]] for i in aa.ravel()],
            "effect": (effect.ravel() * np.array([_NOISE[target[j]] for j in tt.ravel()])),
        }
    )
    return Network(
        area_types=types, kpis=kpis, adoptions=adoptions, effects=effects, weeks=weeks, ramp=ramp
    )


def load_network(store: CrowdStore, net: Network, *, units: int = 10) -> None:
    """Put a synthetic network into the exchange's tables (areas, weekly KPIs, and each
    adoption as a published tactic), as nightly publishing would, without ledger records."""
    from tailguard.crowd.publish import tactic_id
    from tailguard.crowd.store import TacticRow

    store.put_areas(net.area_types)
    store.put_kpis(net.kpis)
    store.put_tactics(
        [
            TacticRow(
                area_id=a,
                tactic=t,
                kpi=k,
                tactic_id=tactic_id(a, t, k),
                adopted_period=g,
                units=units,
                decisions=units,
                outcome_n=0,
                outcome_mean_delta=None,
                published_at=0.0,
            )
            for a, t, k, g in net.adoptions.iter_rows()
        ]
    )
