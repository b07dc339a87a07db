"""A simulated earlier period of published history, to seed a short run's exchange.

The exchange needs weeks of staggered adoptions before it can prove anything (a cluster needs
5 adopters, a baseline week before each adoption and controls not yet treated): a two-week
demo never gets there, because every area starts its tactics in the same first week. A
network that has run for a while has that history. :func:`earlier_period` simulates it for
the run's own areas: over ``weeks`` weeks before the run's first closed week, a share of the
areas adopted each of the given tactics at staggered weeks; each tactic's true effect per area
type is helpful, null or harmful (kept as the hidden truth) and scatters by area; weekly
values add a common random walk and noise to each area's real level, and end at that real
level (so the history joins the run's real weeks without a jump).

What it is: synthetic data, published into the exchange's tables (not the ledger: nothing in
the history was decided by an agent), labelled as such in ``summary.json`` and the report,
with its truth beside it. What the run adds on top is real: the local tests the history's
discoveries start, the B cells the agents serve and the verdicts their measured outcomes give.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from tailguard.crowd.publish import tactic_id
from tailguard.crowd.store import CrowdStore, TacticRow
from tailguard.errors import InvalidInputError


@dataclass(frozen=True, kw_only=True, slots=True)
class HistorySettings:
    """The simulated earlier period.

    Attributes:
        weeks: weeks of history before the run's first closed week.
        adopt_share: share of areas that adopted each tactic during the history.
        effect_sd: the range of a helpful or harmful effect's size, in the KPI's weekly noise.
        shares: the chances of a helpful, null and harmful effect per (tactic, area type).
        noise_share: the KPI's weekly noise, as a share of its spread across areas.
    """

    weeks: int = 12
    adopt_share: float = 0.5
    effect_sd: tuple[float, float] = (1.5, 3.0)
    shares: tuple[float, float, float] = (0.4, 0.35, 0.25)
    noise_share: float = 0.2

    def __post_init__(self) -> None:
        if self.weeks < 4:
            raise InvalidInputError("a seeded history needs at least 4 weeks")
        if not 0 < self.adopt_share < 1 or not self.noise_share > 0:
            raise InvalidInputError("adopt_share must be in (0, 1), noise_share positive")
        lo, hi = self.effect_sd
        if not 0 <= lo <= hi:
            raise InvalidInputError("effect_sd must be (low, high) with 0 <= low <= high")
        if len(self.shares) != 3 or min(self.shares) < 0 or abs(sum(self.shares) - 1) > 1e-9:
            raise InvalidInputError("shares must be three non-negative chances summing to 1")


@dataclass(frozen=True, kw_only=True, slots=True)
class History:
    """The simulated period: what is published, and the hidden truth beside it.

    Attributes:
        kpis: ``area_id, kpi, period, value`` weekly values before ``end_period``.
        adoptions: ``area_id, tactic, kpi, adopted_period``.
        truth: ``tactic, kpi, area_type, effect`` each tactic's effect per area type (KPI
            units, positive is better).
        end_period: the run's first closed week (the history ends just before it).
    """

    kpis: pl.DataFrame
    adoptions: pl.DataFrame
    truth: pl.DataFrame
    end_period: int

    def publish(self, store: CrowdStore) -> int:
        """Put the history into the exchange's tables; returns the adoptions added."""
        store.put_kpis(self.kpis)
        added = store.put_tactics(
            [
                TacticRow(
                    area_id=a,
                    tactic=t,
                    kpi=k,
                    tactic_id=tactic_id(a, t, k),
                    adopted_period=g,
                    units=0,
                    decisions=0,
                    outcome_n=0,
                    outcome_mean_delta=None,
                    published_at=0.0,
                )
                for a, t, k, g in self.adoptions.iter_rows()
            ]
        )
        return len(added)

    def describe(self) -> dict[str, Any]:
        """The ``seeded_history`` summary: sizes and the truth, so nobody mistakes it."""
        return {
            "what": "simulated earlier period (synthetic published history, not agent decisions)",
            "weeks": int(self.kpis["period"].n_unique()) if self.kpis.height else 0,
            "first_period": int(self.kpis["period"].min()) if self.kpis.height else None,  # type: ignore[arg-type]
            "end_period": self.end_period,
            "areas": int(self.kpis["area_id"].n_unique()) if self.kpis.height else 0,
            "adoptions": self.adoptions.height,
            "truth": self.truth.sort("tactic", "area_type").to_dicts(),
        }


def earlier_period(
    levels: pl.DataFrame,
    area_types: Mapping[str, str],
    tactics: Sequence[tuple[str, str]],
    *,
    end_period: int,
    seed: int,
    settings: HistorySettings | None = None,
    lower_is_better: frozenset[str] = frozenset(),
) -> History:
    """Simulate ``settings.weeks`` weeks of published history ending before ``end_period``.

    Args:
        levels: ``area_id, kpi, value``: each area's real level (its first closed week).
        area_types: area -> type (the truth is drawn per type).
        tactics: ``(tactic, kpi)`` pairs to simulate; pairs whose KPI has no level are skipped.
        end_period: the first real week; the history covers the weeks before it.
        seed: the RNG seed (same inputs and seed, same history).
        settings: the history's sizes and effect distribution.
        lower_is_better: KPIs where a decrease is an improvement.
    """
    cfg = settings or HistorySettings()
    rng = np.random.default_rng(seed)
    wide = levels.pivot(on="kpi", index="area_id", values="value", aggregate_function="mean")
    areas = sorted(a for a in wide["area_id"].to_list() if a in area_types)
    if len(areas) < 2:
        raise InvalidInputError("a seeded history needs the levels of at least 2 typed areas")
    wide = wide.filter(pl.col("area_id").is_in(areas)).sort("area_id")
    types = sorted({area_types[a] for a in areas})
    type_idx = np.array([types.index(area_types[a]) for a in areas])
    n, weeks = len(areas), cfg.weeks
    periods = np.arange(end_period - weeks, end_period)
    kpi_values: dict[str, np.ndarray] = {}
    noise_of: dict[str, float] = {}
    for kpi in wide.columns[1:]:
        level = wide[kpi].cast(pl.Float64).to_numpy()
        if np.isnan(level).all():
            continue
        level = np.where(np.isnan(level), np.nanmean(level), level)
        spread = float(np.std(level))
        noise = cfg.noise_share * spread if spread > 0 else max(abs(float(level.mean())), 1.0) / 20
        noise_of[kpi] = noise
        walk = np.cumsum(rng.normal(0, 0.5 * noise, size=weeks))
        walk -= walk[-1]  # the walk ends at 0: the last simulated week sits at the real level
        kpi_values[kpi] = level[:, None] + walk[None, :] + rng.normal(0, noise, size=(n, weeks))
    adopt_rows: dict[str, list[Any]] = {"area_id": [], "tactic": [], "kpi": [], "period": []}
    truth_rows: list[dict[str, Any]] = []
    lo, hi = cfg.effect_sd
    for tactic, kpi in tactics:
        if kpi not in kpi_values:
            continue
        kinds = rng.choice(3, size=len(types), p=list(cfg.shares))
        size = rng.uniform(lo, hi, size=len(types)) * noise_of[kpi]
        per_type = np.where(kinds == 0, size, np.where(kinds == 1, 0.0, -size))
        for t, name in enumerate(types):
            truth_rows.append(
                {"tactic": tactic, "kpi": kpi, "area_type": name, "effect": float(per_type[t])}
            )
        effect = per_type[type_idx] * (1.0 + 0.3 * rng.standard_normal(n))
        adopts = rng.random(n) < cfg.adopt_share
        first = rng.integers(1, weeks, size=n)  # index into periods; 0 stays a baseline week
        exposure = np.arange(weeks)[None, :] - first[:, None]
        ramp = np.where(adopts[:, None] & (exposure >= 0), np.minimum(1.0, (exposure + 1) / 3), 0)
        sign = -1.0 if kpi in lower_is_better else 1.0
        shift = sign * effect[:, None] * ramp
        # The history ends at the real level: what an adopter shows now already includes it.
        kpi_values[kpi] += shift - shift[:, -1:]
        for i in np.flatnonzero(adopts).tolist():
            adopt_rows["area_id"].append(areas[i])
            adopt_rows["tactic"].append(tactic)
            adopt_rows["kpi"].append(kpi)
            adopt_rows["period"].append(int(periods[first[i]]))
    long: dict[str, list[Any]] = {"area_id": [], "kpi": [], "period": [], "value": []}
    for kpi, values in kpi_values.items():
        long["area_id"] += np.repeat(areas, weeks).tolist()
        long["kpi"] += [kpi] * (n * weeks)
        long["period"] += np.tile(periods, n).tolist()
        long["value"] += values.ravel().tolist()
    return History(
        kpis=pl.DataFrame(
            long,
            schema={
                "area_id": pl.String,
                "kpi": pl.String,
                "period": pl.Int64,
                "value": pl.Float64,
            },
        ),
        adoptions=pl.DataFrame(
            {
                "area_id": adopt_rows["area_id"],
                "tactic": adopt_rows["tactic"],
                "kpi": adopt_rows["kpi"],
                "adopted_period": adopt_rows["period"],
            },
            schema={
                "area_id": pl.String,
                "tactic": pl.String,
                "kpi": pl.String,
                "adopted_period": pl.Int64,
            },
        ),
        truth=pl.DataFrame(
            truth_rows,
            schema={
                "tactic": pl.String,
                "kpi": pl.String,
                "area_type": pl.String,
                "effect": pl.Float64,
            },
        ),
        end_period=end_period,
    )
