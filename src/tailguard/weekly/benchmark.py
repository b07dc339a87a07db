"""Cross-market benchmark: every area against every other on each KPI, direction respected.

For each KPI of the registry, over the areas with a value (nulls take no part):

* ``p50``, ``p75``, ``p90``: performance percentiles, i.e. the value an area must reach to be
  at least as good as 50 / 75 / 90 % of areas. For a higher-is-better KPI that is the
  inverted-CDF 50th / 75th / 90th percentile of the values; for a lower-is-better KPI the
  50th / 25th / 10th.
* ``rank``: 1 + the number of areas strictly better (ties share the best rank).
* ``percentile``: 100 x (the areas strictly worse + half the other areas tied with it) /
  (areas with a value - 1): 100 is best, 0 worst, 50 when every area ties; a lone area is 100.

"Copy from" names, for the area's weakest KPIs (lowest percentile, below 50), the best areas
on them; "teach to" names, for its strongest (percentile >= 75), the weakest areas on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import polars as pl

from tailguard.metrics.kpis import KPI_IDS, KPIS
from tailguard.metrics.quantiles import pctl_numpy

PERF_LEVELS: Final = (50, 75, 90)


@dataclass(frozen=True, kw_only=True, slots=True)
class Benchmark:
    """The benchmark of a network at one ``as_of``.

    Attributes:
        levels: one row per KPI: kpi_id, n, p50, p75, p90.
        ranks: one row per (area, KPI): area_id, kpi_id, value, rank, percentile (rank and
            percentile null where the value is null).
    """

    levels: pl.DataFrame
    ranks: pl.DataFrame
    _by_area: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, repr=False)
    _by_rank: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Per-area lookups run once per area of a 400-area network: index the rows once.
        for row in self.ranks.to_dicts():
            self._by_area.setdefault(row["area_id"], {})[row["kpi_id"]] = row
            if row["rank"] is not None:
                self._by_rank.setdefault(row["kpi_id"], []).append(row)
        for rows in self._by_rank.values():
            rows.sort(key=lambda r: (r["rank"], r["area_id"]))

    def for_area(self, area_id: str) -> dict[str, dict[str, Any]]:
        """``benchmark.json`` of one area: ``{kpi_id: {p50, p75, p90, rank, percentile, value, n}}``."""
        mine = self._by_area.get(area_id, {})
        out: dict[str, dict[str, Any]] = {}
        for lv in self.levels.iter_rows(named=True):
            k = lv["kpi_id"]
            row = mine.get(k, {})
            out[k] = {
                "p50": lv["p50"],
                "p75": lv["p75"],
                "p90": lv["p90"],
                "n": lv["n"],
                "value": row.get("value"),
                "rank": row.get("rank"),
                "percentile": row.get("percentile"),
                "higher_is_better": KPIS[k].higher_is_better,
            }
        return out

    def _mine(self, area_id: str) -> list[dict[str, Any]]:
        return [r for r in self._by_area.get(area_id, {}).values() if r["percentile"] is not None]

    def copy_from(self, area_id: str, *, kpis: int = 3, areas: int = 3) -> list[dict[str, Any]]:
        """The best areas on this area's weakest KPIs (percentile < 50), weakest KPI first."""
        weak = sorted(
            (r for r in self._mine(area_id) if r["percentile"] < 50),
            key=lambda r: (r["percentile"], r["kpi_id"]),
        )[:kpis]
        return [self._entry(r, self._by_rank[r["kpi_id"]][:areas]) for r in weak]

    def teach_to(self, area_id: str, *, kpis: int = 3, areas: int = 3) -> list[dict[str, Any]]:
        """The weakest areas on this area's strongest KPIs (percentile >= 75), strongest first."""
        strong = sorted(
            (r for r in self._mine(area_id) if r["percentile"] >= 75),
            key=lambda r: (-r["percentile"], r["kpi_id"]),
        )[:kpis]
        out = []
        for r in strong:
            ordered = sorted(self._by_rank[r["kpi_id"]], key=lambda x: (-x["rank"], x["area_id"]))
            out.append(self._entry(r, ordered[:areas]))
        return out

    @staticmethod
    def _entry(row: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "kpi_id": row["kpi_id"],
            "percentile": row["percentile"],
            "value": row["value"],
            "areas": [{"area_id": o["area_id"], "value": o["value"]} for o in others],
        }


def benchmark(scorecard: pl.DataFrame, kpi_ids: tuple[str, ...] = KPI_IDS) -> Benchmark:
    """Rank every area on every KPI of ``scorecard`` (``area_id`` + one column per KPI)."""
    levels: list[dict[str, Any]] = []
    ranks: list[pl.DataFrame] = []
    present = [k for k in kpi_ids if k in scorecard.columns]
    for k in present:
        higher = KPIS[k].higher_is_better
        col = scorecard.select("area_id", pl.col(k).cast(pl.Float64).alias("value"))
        valid = col.filter(pl.col("value").is_not_null() & pl.col("value").is_not_nan())
        values = valid["value"].to_numpy()
        n = int(values.size)
        lv: dict[str, Any] = {"kpi_id": k, "n": n}
        for q in PERF_LEVELS:
            lv[f"p{q}"] = pctl_numpy(values, q if higher else 100 - q)
        levels.append(lv)
        good = valid["value"] if higher else -valid["value"]
        sorted_good = np.sort(good.to_numpy())
        g = good.to_numpy()
        better = n - np.searchsorted(sorted_good, g, side="right")
        worse = np.searchsorted(sorted_good, g, side="left")
        ties = n - better - worse - 1  # other areas with the same value
        pct = 100.0 * (worse + 0.5 * ties) / (n - 1) if n > 1 else np.full(n, 100.0)
        ranked = valid.with_columns(
            pl.lit(k).alias("kpi_id"),
            pl.Series("rank", (better + 1).astype(np.int64)),
            pl.Series("percentile", np.asarray(pct, dtype=np.float64)),
        )
        ranks.append(
            col.join(
                ranked.select("area_id", "kpi_id", "rank", "percentile"), on="area_id", how="left"
            )
            .with_columns(pl.lit(k).alias("kpi_id"))
            .select("area_id", "kpi_id", "value", "rank", "percentile")
        )
    level_frame = pl.DataFrame(
        levels,
        schema={
            "kpi_id": pl.String,
            "n": pl.Int64,
            "p50": pl.Float64,
            "p75": pl.Float64,
            "p90": pl.Float64,
        },
    )
    rank_frame = (
        pl.concat(ranks)
        if ranks
        else pl.DataFrame(
            schema={
                "area_id": pl.String,
                "kpi_id": pl.String,
                "value": pl.Float64,
                "rank": pl.Int64,
                "percentile": pl.Float64,
            }
        )
    )
    return Benchmark(levels=level_frame, ranks=rank_frame)
