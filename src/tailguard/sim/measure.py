"""Measure a simulated event table the way the KPIs of INTERFACES.md section 2 read it.

Used by the ``simulate`` summary, the calibration test and ``bench/calibrate_sim.py``; the
metrics package is the product's implementation, this is the simulator's own yardstick.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa

from tailguard.events.schema import WIDE_SCHEMA


def _q(col: str, q: float) -> pl.Expr:
    return pl.col(col).quantile(q, interpolation="lower")


def area_kpis(table: pa.Table | pl.DataFrame, days: float) -> pl.DataFrame:
    """Per-area KPIs over the whole table (a window of ``days``)."""
    df = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    done = df.filter(pl.col("type") == "job.completed").with_columns(
        late_min=((pl.col("arrived_at") - pl.col("window_end")).dt.total_seconds() / 60.0).clip(
            lower_bound=0.0
        )
    )
    by_area = done.group_by("area_id").agg(
        jobs=pl.len(),
        ftf_pct=100.0 * pl.col("first_time_fix").mean(),
        lateness_p90_min=_q("late_min", 0.9),
        mean_ticket=pl.col("revenue").mean(),
        gp_pct=100.0
        * (pl.col("revenue").sum() - pl.col("parts_cost").sum() - pl.col("tech_pay").sum())
        / pl.col("revenue").sum(),
    )
    nps = (
        df.filter(pl.col("type") == "cx.survey")
        .group_by("area_id")
        .agg(nps_p10=_q("nps", 0.1), nps_p50=_q("nps", 0.5), surveys=pl.len())
    )
    techs = df.filter(pl.col("type").is_in(["tech.status", "job.completed"])).select(
        "area_id", "tech_id"
    )
    pay = done.group_by("area_id", "tech_id").agg(pay=pl.col("tech_pay").sum(), n=pl.len())
    pop = (
        techs.unique()
        .join(pay, on=["area_id", "tech_id"], how="left")
        .with_columns(week=pl.col("pay").fill_null(0.0) * 7.0 / days)
    )
    earn = pop.group_by("area_id").agg(
        earnings_p10_week=_q("week", 0.1), earnings_p50_week=_q("week", 0.5), techs=pl.len()
    )
    charged = (
        done.filter(pl.col("recall_of_job_id").is_not_null())
        .group_by("area_id", "original_tech_id")
        .agg(recalls=pl.len())
        .rename({"original_tech_id": "tech_id"})
    )
    rec = (
        pay.filter(pl.col("n") >= 5)
        .join(charged, on=["area_id", "tech_id"], how="left")
        .with_columns(pct=100.0 * pl.col("recalls").fill_null(0) / pl.col("n"))
        .group_by("area_id")
        .agg(recall_pct_p90=_q("pct", 0.9))
    )
    lead = (
        df.filter(pl.col("type") == "parts.stock")
        .group_by("area_id")
        .agg(parts_lead_time_p95_days=_q("lead_time_days", 0.95))
    )
    out = by_area
    for other in (nps, earn, rec, lead):
        out = out.join(other, on="area_id", how="left")
    return out.sort("area_id")


_KEEP_TYPES = ("job.completed", "cx.survey", "tech.status", "parts.stock")
_KEEP_COLUMNS = (
    "type", "area_id", "tech_id", "status", "nps", "lead_time_days", "first_time_fix",
    "recall_of_job_id", "original_tech_id", "revenue", "parts_cost", "tech_pay",
    "arrived_at", "window_end", "completed_at",
)  # fmt: skip


class Summary:
    """Accumulates what :func:`network_summary` needs from a stream of hourly tables."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._parts: list[pl.DataFrame] = []

    def add(self, table: pa.Table) -> None:
        """Count one table's events and keep the columns the summary reads."""
        df = pl.from_arrow(table.select(list(_KEEP_COLUMNS)))
        assert isinstance(df, pl.DataFrame)
        for kind, n in df.group_by("type").len().iter_rows():
            self._counts[kind] = self._counts.get(kind, 0) + int(n)
        self._parts.append(df.filter(pl.col("type").is_in(_KEEP_TYPES)))

    def result(self, days: float) -> dict[str, Any]:
        """The network summary of everything added."""
        df = (
            pl.concat(self._parts)
            if self._parts
            else pl.DataFrame(
                schema={c: pl.from_arrow(WIDE_SCHEMA.empty_table())[c].dtype for c in _KEEP_COLUMNS}  # type: ignore[index]
            )
        )
        return network_summary(df, days, counts=dict(sorted(self._counts.items())))


def network_summary(
    table: pa.Table | pl.DataFrame, days: float, *, counts: dict[str, int] | None = None
) -> dict[str, Any]:
    """Network-level figures (the CLI summary and the calibration table)."""
    df = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    if counts is None:
        counts = dict(df.group_by("type").len().sort("type").iter_rows())
    done = df.filter(pl.col("type") == "job.completed")
    jobs = done.height
    late = (
        ((done["arrived_at"] - done["window_end"]).dt.total_seconds() / 60.0).clip(lower_bound=0)
        if jobs
        else pl.Series([], dtype=pl.Float64)
    )
    kpis = area_kpis(df, days)
    status = df.filter(pl.col("type") == "tech.status")
    working_days = (
        done.with_columns(d=pl.col("completed_at").dt.date()).group_by("tech_id", "d").len()
    )
    week = kpis["earnings_p10_week"]

    def f(x: Any) -> float | None:
        return None if x is None else round(float(x), 2)

    return {
        "events": int(sum(counts.values())),
        "events_by_type": {k: int(v) for k, v in counts.items()},
        "areas": int(df["area_id"].n_unique()) if df.height else 0,
        "jobs_completed": jobs,
        "ftf_pct": f(100.0 * float(done["first_time_fix"].mean() or 0)) if jobs else None,  # type: ignore[arg-type]
        "recall_visit_pct": f(100.0 * float(done["recall_of_job_id"].is_not_null().mean() or 0))  # type: ignore[arg-type]
        if jobs
        else None,
        "mean_ticket_usd": f(done["revenue"].mean()),
        "nps_response_pct": f(100.0 * counts.get("cx.survey", 0) / jobs) if jobs else None,
        "lateness_p90_min": f(late.quantile(0.9, "lower")) if jobs else None,
        "jobs_per_tech_day": f(working_days["len"].mean()) if jobs else None,
        "earnings_p10_week_median_area": f(week.median()),
        "earnings_p50_week_median_area": f(kpis["earnings_p50_week"].median()),
        "areas_earnings_p10_below_600": int((week < 600).sum()),
        "areas_earnings_p10_below_700": int((week < 700).sum()),
        "areas_late_p90_over_30": int((kpis["lateness_p90_min"] > 30).sum()),
        "areas_nps_p10_below_5": int((kpis["nps_p10"] < 5).sum()),
        "areas_recall_p90_over_15": int((kpis["recall_pct_p90"] > 15).sum()),
        "areas_lead_p95_over_5": int((kpis["parts_lead_time_p95_days"] > 5).sum()),
        "ftf_pct_area_p10": f(kpis["ftf_pct"].quantile(0.1, "lower")),
        "ftf_pct_area_p90": f(kpis["ftf_pct"].quantile(0.9, "lower")),
        "churned_techs": int((status["status"] == "churned").sum()),
    }
