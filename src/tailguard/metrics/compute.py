"""KPI values from a merged window :class:`~tailguard.metrics.partials.Partial`.

One function per aggregation named in the registry (:mod:`tailguard.metrics.kpis`), each
vectorised over areas: it returns a frame ``area_id, <kpi id>`` for the areas that have data.
Groups of continuous values that a daily roll-up turned into KLL sketches take a per-area path
(only those areas); everything else is exact Polars.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import polars as pl

from tailguard.metrics.kpis import KPI_IDS, KPIS, RECALL_MIN_JOBS, KpiDef
from tailguard.metrics.partials import NPS_COLS, Partial, ValuePartial
from tailguard.metrics.quantiles import (
    new_sketch,
    pctl_expr,
    rank_of,
    sketch_pctl,
    weighted_pctl,
)

Aggregation = Callable[[Partial, KpiDef, int], pl.DataFrame]


def _nps_quantile(w: Partial, k: KpiDef, window_days: int) -> pl.DataFrame:
    assert k.quantile is not None
    c = w.counts.select("area_id", *NPS_COLS)
    n = pl.sum_horizontal(*NPS_COLS)
    target = ((n * k.quantile + 99) // 100).clip(lower_bound=1)
    cums = [pl.sum_horizontal(*NPS_COLS[: i + 1]) for i in range(11)]
    # The inverted-CDF percentile is the first score whose cumulative count reaches the
    # target rank, i.e. the number of scores whose cumulative count falls short of it.
    value = pl.sum_horizontal(*((cum < target).cast(pl.Int64) for cum in cums))
    return c.filter(n > 0).select("area_id", value.cast(pl.Float64).alias(k.id))


def _earnings_quantile(w: Partial, k: KpiDef, window_days: int) -> pl.DataFrame:
    assert k.quantile is not None
    return (
        w.techs.filter(pl.col("seen") > 0)
        .with_columns((pl.col("pay") * 7.0 / window_days).alias("e"))
        .group_by("area_id")
        .agg(pctl_expr("e", k.quantile).alias(k.id))
    )


def _recall_quantile(w: Partial, k: KpiDef, window_days: int) -> pl.DataFrame:
    assert k.quantile is not None
    return (
        w.techs.filter(pl.col("jobs") >= RECALL_MIN_JOBS)
        .with_columns((100.0 * pl.col("recalls") / pl.col("jobs")).alias("r"))
        .group_by("area_id")
        .agg(pctl_expr("r", k.quantile).alias(k.id))
    )


def _ratio(num: str, den: str, k: KpiDef) -> Callable[[Partial], pl.DataFrame]:
    def run(w: Partial) -> pl.DataFrame:
        return w.counts.filter(pl.col(den) > 0).select(
            "area_id", (100.0 * pl.col(num) / pl.col(den)).alias(k.id)
        )

    return run


def _ftf_share(w: Partial, k: KpiDef, window_days: int) -> pl.DataFrame:
    return _ratio("n_ftf", "n_completed", k)(w)


def _eta_share(w: Partial, k: KpiDef, window_days: int) -> pl.DataFrame:
    return _ratio("n_ontime", "n_completed", k)(w)


def _jobs_rate(w: Partial, k: KpiDef, window_days: int) -> pl.DataFrame:
    return w.counts.filter(pl.col("n_completed") > 0).select(
        "area_id", (pl.col("n_completed") * 7.0 / window_days).alias(k.id)
    )


def _gross_profit(w: Partial, k: KpiDef, window_days: int) -> pl.DataFrame:
    gp = pl.col("revenue") - pl.col("parts_cost") - pl.col("tech_pay")
    return w.counts.filter((pl.col("n_completed") > 0) & (pl.col("revenue") != 0)).select(
        "area_id", (100.0 * gp / pl.col("revenue")).alias(k.id)
    )


def area_quantile(vp: ValuePartial, p: int, name: str) -> pl.DataFrame:
    """The inverted-CDF percentile of all values per area (exact unless sketched)."""
    sketched = {area for area, _ in vp.sketches}
    exact_values = vp.values
    if sketched:
        exact_values = vp.values.filter(~pl.col("area_id").is_in(sorted(sketched)))
    out = exact_values.group_by("area_id").agg(pctl_expr("value", p).alias(name))
    if not sketched:
        return out
    rows: list[tuple[str, float | None]] = []
    for area in sorted(sketched):
        sketch = new_sketch()
        for (a, _), s in vp.sketches.items():
            if a == area:
                sketch.merge(s)
        extra = vp.values.filter(pl.col("area_id") == area)["value"].to_numpy()
        if extra.size:
            sketch.update(np.require(extra, np.float64, ["C", "W"]))
        rows.append((area, sketch_pctl(sketch, p)))
    approx = pl.DataFrame(rows, schema={"area_id": pl.String, name: pl.Float64}, orient="row")
    return pl.concat([out, approx])


def _lateness_quantile(w: Partial, k: KpiDef, window_days: int) -> pl.DataFrame:
    assert k.quantile is not None
    return area_quantile(w.lateness, k.quantile, k.id)


def _lead_time_quantile(w: Partial, k: KpiDef, window_days: int) -> pl.DataFrame:
    assert k.quantile is not None
    return area_quantile(w.lead, k.quantile, k.id)


def _parts_delta_quantile(w: Partial, k: KpiDef, window_days: int) -> pl.DataFrame:
    assert k.quantile is not None
    vp = w.parts
    sketched_areas = {area for area, _ in vp.sketches}
    values = vp.values
    if sketched_areas:
        values = vp.values.filter(~pl.col("area_id").is_in(sorted(sketched_areas)))
    exact = (
        values.with_columns(pl.col("value").median().over("area_id", "key").alias("med"))
        .filter(pl.col("med") != 0)
        .with_columns((100.0 * (pl.col("value") / pl.col("med") - 1.0)).alias("d"))
        .group_by("area_id")
        .agg(pctl_expr("d", k.quantile).alias(k.id))
    )
    if not sketched_areas:
        return exact
    rows = [(area, _sketched_parts_delta(vp, area, k.quantile)) for area in sorted(sketched_areas)]
    approx = pl.DataFrame(rows, schema={"area_id": pl.String, k.id: pl.Float64}, orient="row")
    return pl.concat([exact, approx.drop_nulls()])


def _sketched_parts_delta(vp: ValuePartial, area: str, p: int) -> float | None:
    """Parts-cost delta percentile for one area whose job-code groups are partly sketched.

    Each job code's median comes from its merged sketch (or exactly, if it has no sketch);
    the delta distribution is the union of every code's items scaled by its median, each
    item carrying its sketch weight, and its percentile is a weighted inverted-CDF lookup.
    """
    own = vp.values.filter(pl.col("area_id") == area)
    codes = {key for a, key in vp.sketches if a == area} | set(own["key"].unique().to_list())
    chunks: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for code in sorted(codes):
        exact = own.filter(pl.col("key") == code)["value"].to_numpy()
        sketch = vp.sketches.get((area, code))
        if sketch is None:
            median = float(np.median(exact))
            items, wts = exact, np.ones(exact.size, dtype=np.int64)
        else:
            merged = new_sketch()
            merged.merge(sketch)
            if exact.size:
                merged.update(np.require(exact, np.float64, ["C", "W"]))
            median = float(merged.get_quantile(0.5, True))
            pairs = np.array(list(merged), dtype=np.float64).reshape(-1, 2)
            items, wts = pairs[:, 0], pairs[:, 1].astype(np.int64)
        if median == 0:
            continue
        chunks.append(100.0 * (items / median - 1.0))
        weights.append(wts)
    if not chunks:
        return None
    return weighted_pctl(np.concatenate(chunks), np.concatenate(weights), p)


def _churn_placeholder(w: Partial, k: KpiDef, window_days: int) -> pl.DataFrame:
    # Churn needs 90 days of tech presence, which the engine keeps apart from the window
    # partials; it is joined in by the engine (see ChurnPresence).
    return pl.DataFrame(schema={"area_id": pl.String, k.id: pl.Float64})


#: Aggregation functions by the name a KpiDef gives.
AGGREGATIONS: Final[dict[str, Aggregation]] = {
    "nps_quantile": _nps_quantile,
    "lateness_quantile": _lateness_quantile,
    "earnings_quantile": _earnings_quantile,
    "recall_quantile": _recall_quantile,
    "ftf_share": _ftf_share,
    "parts_delta_quantile": _parts_delta_quantile,
    "jobs_rate": _jobs_rate,
    "gross_profit": _gross_profit,
    "eta_share": _eta_share,
    "lead_time_quantile": _lead_time_quantile,
    "churn_share": _churn_placeholder,
}


def kpis_from_partial(
    window: Partial, *, areas: pl.Series, window_days: int, churn: pl.DataFrame
) -> pl.DataFrame:
    """Every KPI per area from a merged window partial.

    Args:
        window: the merge of the window's partials.
        areas: the areas to report (one row each, sorted), whether or not they have data.
        window_days: W, for the per-week scaling.
        churn: ``area_id, churn_90d_pct`` computed from the 90-day tech presence.
    """
    out = pl.DataFrame({"area_id": areas.cast(pl.String)}).sort("area_id")
    for kpi_id in KPI_IDS:
        definition = KPIS[kpi_id]
        if kpi_id == "churn_90d_pct":
            part = churn.select("area_id", pl.col(kpi_id).cast(pl.Float64))
        else:
            part = AGGREGATIONS[definition.aggregation](window, definition, window_days)
        out = out.join(
            part.select("area_id", pl.col(kpi_id).cast(pl.Float64)), on="area_id", how="left"
        )
    return out


__all__ = ["AGGREGATIONS", "area_quantile", "kpis_from_partial", "rank_of"]
