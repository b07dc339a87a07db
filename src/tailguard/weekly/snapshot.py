"""The week's per-unit aggregates the weekly cycle reads, written as Parquet beside the ledger.

At each week's end the demo (or a service) calls :func:`snapshot_week`, which writes
``out_dir/weeks/<YYYY-MM-DD>/`` (the date of ``as_of``, the end of the week):

=================  ===========================================================================
``areas.parquet``  the scorecard at ``as_of`` (every KPI) plus revenue, parts cost, tech pay,
                   completed jobs and gross profit (GP) of the week per area
``techs.parquet``  ``ScorecardEngine.units(as_of, "tech")`` plus revenue, parts_cost, tech_pay,
                   gp_usd, gp_pct per tech
``zips.parquet``   ``units(..., "zip")`` plus eta_adherence_pct, booked, revenue, parts_cost,
                   tech_pay, gp_usd, expected_gp_usd, gp_vs_expected_usd per zip
``skus.parquet``   ``units(..., "sku")``
``jobs.parquet``   one row per completed job: area_id, job_code, parts_cost_delta_pct (the
                   population of ``parts_cost_delta_p90_pct``)
``meta.json``      as_of, window_days, gp_basis
=================  ===========================================================================

Gross profit per technician and per zip needs revenue and parts cost per unit, which the
scorecard engine's partials do not keep (they keep pay per tech and money per area). Feed the
same hourly batches to a :class:`UnitMoney` and pass it as ``money=``: GP per unit is then
exact (``gp_basis = "exact"``). Without it, GP is estimated from the area's averages per job
(``gp_basis = "estimated"``: a tech's GP is jobs x the area's revenue-minus-parts per job minus
the tech's own pay, and a zip's GP is its jobs x the area's GP per job), which the pack says.

A zip's *expected* GP is its bookings of the week times the area's GP per completed job: what
it would have earned had every booking been served at the area's average margin. The gap
(``gp_vs_expected_usd``) is the zip's drag: lost demand and thin margins (recalls, parts).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import polars as pl
import pyarrow as pa

from tailguard.clock import format_ts
from tailguard.errors import InvalidInputError
from tailguard.metrics.partials import HOUR_US
from tailguard.metrics.state import Scorecards

WEEK_FILES: Final = ("areas", "techs", "zips", "skus", "jobs")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MONEY = ("revenue", "parts_cost", "tech_pay")


def week_dir(out_dir: Path, as_of: datetime) -> Path:
    """``out_dir/weeks/<YYYY-MM-DD>`` for the week ending at ``as_of``."""
    return Path(out_dir) / "weeks" / as_of.astimezone(UTC).date().isoformat()


def _hour_index(ts: pl.Expr) -> pl.Expr:
    us = ts.dt.epoch("us")
    return -((-us) // HOUR_US)


def _to_frame(batch: pa.Table | pl.DataFrame) -> pl.DataFrame:
    frame = batch if isinstance(batch, pl.DataFrame) else pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    return frame


class UnitMoney:
    """Revenue, parts cost and pay per (area, tech) and (area, zip) per day, fed hour by hour.

    Days are right-closed on whole UTC hours (day ``d`` holds hours ``24(d-1) < h <= 24d``),
    so windows must end at midnight UTC. Days older than ``retain_days`` behind the latest
    event are dropped.
    """

    def __init__(self, *, retain_days: int = 15) -> None:
        self._pieces: list[pl.DataFrame] = []
        self._retain = retain_days
        self._max_day: int | None = None

    def ingest(self, batch: pa.Table | pl.DataFrame) -> None:
        """Fold the ``job.completed`` events of a batch (WIDE_SCHEMA) into the daily sums."""
        frame = _to_frame(batch)
        if frame.height == 0:
            return
        jobs = frame.filter(pl.col("type") == "job.completed").select(
            (-((-_hour_index(pl.col("ts"))) // 24)).alias("d"),
            "area_id",
            "tech_id",
            "zip",
            *(pl.col(c).fill_null(0.0) for c in _MONEY),
        )
        if jobs.height == 0:
            return
        agg = jobs.group_by("d", "area_id", "tech_id", "zip").agg(
            *(pl.col(c).sum() for c in _MONEY), pl.len().cast(pl.Int64).alias("jobs")
        )
        self._pieces.append(agg)
        top = int(agg["d"].max())  # type: ignore[arg-type]
        self._max_day = top if self._max_day is None else max(self._max_day, top)
        if len(self._pieces) >= 48:
            self._compact()

    def _compact(self) -> None:
        merged = pl.concat(self._pieces)
        if self._max_day is not None:
            merged = merged.filter(pl.col("d") > self._max_day - self._retain)
        self._pieces = [
            merged.group_by("d", "area_id", "tech_id", "zip").agg(
                *(pl.col(c).sum() for c in _MONEY), pl.col("jobs").sum()
            )
        ]

    def window(self, as_of: datetime, days: int = 7) -> pl.DataFrame:
        """Rows (area_id, tech_id, zip, revenue, parts_cost, tech_pay, jobs) of the window.

        Raises:
            InvalidInputError: ``as_of`` is not at midnight UTC.
        """
        hours = (as_of.astimezone(UTC) - _EPOCH) / timedelta(hours=1)
        if hours % 24:
            raise InvalidInputError(f"UnitMoney windows end at midnight UTC, not {as_of}")
        d_hi = int(hours) // 24
        self._compact()
        return self._pieces[0].filter((pl.col("d") > d_hi - days) & (pl.col("d") <= d_hi)).drop("d")


def money_from_events(events: pl.DataFrame, as_of: datetime, days: int = 7) -> pl.DataFrame:
    """The rows :meth:`UnitMoney.window` gives, straight from raw events (any ``as_of``)."""
    lo = as_of - timedelta(days=days)
    return (
        events.filter(
            (pl.col("type") == "job.completed") & (pl.col("ts") > lo) & (pl.col("ts") <= as_of)
        )
        .group_by("area_id", "tech_id", "zip")
        .agg(
            *(pl.col(c).fill_null(0.0).sum() for c in _MONEY), pl.len().cast(pl.Int64).alias("jobs")
        )
    )


def _area_money(engine: Scorecards, as_of: datetime) -> tuple[pl.DataFrame, object]:
    merged = engine.window(as_of)
    areas = merged.counts.select(
        "area_id",
        "revenue",
        "parts_cost",
        "tech_pay",
        pl.col("n_completed").alias("completed_jobs"),
        (pl.col("revenue") - pl.col("parts_cost") - pl.col("tech_pay")).alias("gp_usd"),
    ).with_columns(
        pl.when(pl.col("completed_jobs") > 0)
        .then(pl.col("gp_usd") / pl.col("completed_jobs"))
        .alias("gp_per_job")
    )
    return areas, merged


def _eta_by_zip(merged: object) -> pl.DataFrame:
    values: pl.DataFrame = merged.lateness.values  # type: ignore[attr-defined]
    return (
        values.rename({"key": "zip"})
        .group_by("area_id", "zip")
        .agg((100.0 * (pl.col("value") <= 0.0).mean()).alias("eta_adherence_pct"))
    )


def _parts_deltas(merged: object) -> pl.DataFrame:
    values: pl.DataFrame = merged.parts.values  # type: ignore[attr-defined]
    med = pl.col("value").median().over("area_id", "key")
    return (
        values.with_columns(med.alias("med"))
        .filter(pl.col("med") != 0)
        .select(
            "area_id",
            pl.col("key").alias("job_code"),
            (100.0 * (pl.col("value") / pl.col("med") - 1.0)).alias("parts_cost_delta_pct"),
        )
    )


def build_week(
    engine: Scorecards,
    as_of: datetime,
    *,
    money: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """The week's frames (see the module docstring) without writing them.

    Args:
        engine: a scorecard engine that has ingested the week.
        as_of: the end of the week (on the engine's hour grid).
        money: per (area, tech, zip) money of the window (:meth:`UnitMoney.window` or
            :func:`money_from_events`); None estimates GP per unit from area averages.
    """
    scorecard = engine.scorecard(as_of)
    area_money, merged = _area_money(engine, as_of)
    areas = scorecard.join(area_money, on="area_id", how="left")
    techs = engine.units(as_of, "tech")
    zips = engine.units(as_of, "zip")
    skus = engine.units(as_of, "sku")
    w = engine.window_days
    booked = merged.zips.select("area_id", "zip", "booked")  # type: ignore[attr-defined]
    zips = (
        zips.join(_eta_by_zip(merged), on=["area_id", "zip"], how="left")
        .join(booked, on=["area_id", "zip"], how="left")
        .with_columns(pl.col("booked").fill_null(0))
    )
    per_job = area_money.select(
        "area_id",
        "gp_per_job",
        (pl.col("revenue") / pl.col("completed_jobs")).alias("rev_per_job"),
        (pl.col("parts_cost") / pl.col("completed_jobs")).alias("parts_per_job"),
        (pl.col("tech_pay") / pl.col("completed_jobs")).alias("pay_per_job"),
    )
    if money is not None:
        t_money = money.group_by("area_id", "tech_id").agg(*(pl.col(c).sum() for c in _MONEY))
        z_money = money.group_by("area_id", "zip").agg(*(pl.col(c).sum() for c in _MONEY))
        techs = techs.join(t_money, on=["area_id", "tech_id"], how="left")
        zips = zips.join(z_money, on=["area_id", "zip"], how="left")
        fill = [pl.col(c).fill_null(0.0) for c in _MONEY]
        techs, zips = techs.with_columns(fill), zips.with_columns(fill)
        basis = "exact"
    else:
        techs = techs.join(per_job, on="area_id", how="left").with_columns(
            (pl.col("jobs") * pl.col("rev_per_job")).alias("revenue"),
            (pl.col("jobs") * pl.col("parts_per_job")).alias("parts_cost"),
            (pl.col("earnings_week") * w / 7.0).alias("tech_pay"),
        )
        zips = zips.join(per_job, on="area_id", how="left").with_columns(
            (pl.col("jobs") * pl.col("rev_per_job")).alias("revenue"),
            (pl.col("jobs") * pl.col("parts_per_job")).alias("parts_cost"),
            (pl.col("jobs") * pl.col("pay_per_job")).alias("tech_pay"),
        )
        techs = techs.drop("gp_per_job", "rev_per_job", "parts_per_job", "pay_per_job")
        zips = zips.drop("gp_per_job", "rev_per_job", "parts_per_job", "pay_per_job")
        basis = "estimated"
    gp = (pl.col("revenue") - pl.col("parts_cost") - pl.col("tech_pay")).alias("gp_usd")
    techs = techs.with_columns(gp).with_columns(
        pl.when(pl.col("revenue") > 0)
        .then(100.0 * pl.col("gp_usd") / pl.col("revenue"))
        .alias("gp_pct")
    )
    zips = (
        zips.with_columns(gp)
        .join(per_job.select("area_id", "gp_per_job"), on="area_id", how="left")
        .with_columns((pl.col("booked") * pl.col("gp_per_job")).alias("expected_gp_usd"))
        .with_columns((pl.col("gp_usd") - pl.col("expected_gp_usd")).alias("gp_vs_expected_usd"))
        .drop("gp_per_job")
    )
    return {
        "areas": areas.sort("area_id"),
        "techs": techs.sort("area_id", "tech_id"),
        "zips": zips.sort("area_id", "zip"),
        "skus": skus,
        "jobs": _parts_deltas(merged).sort("area_id", "job_code"),
        "_basis": pl.DataFrame({"gp_basis": [basis]}),
    }


def write_week(frames: dict[str, pl.DataFrame], as_of: datetime, out_dir: Path, w: int) -> Path:
    """Write the frames of :func:`build_week` to ``out_dir/weeks/<date>/``; returns that dir."""
    target = week_dir(out_dir, as_of)
    target.mkdir(parents=True, exist_ok=True)
    for name in WEEK_FILES:
        frames[name].write_parquet(target / f"{name}.parquet")
    meta = {
        "as_of": format_ts(as_of),
        "window_days": w,
        "gp_basis": frames["_basis"]["gp_basis"][0],
    }
    (target / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return target


def snapshot_week(
    engine: Scorecards,
    as_of: datetime,
    out_dir: Path,
    *,
    money: UnitMoney | None = None,
) -> Path:
    """Write the week ending at ``as_of`` to ``out_dir/weeks/<YYYY-MM-DD>/``; returns the dir.

    Args:
        engine: the scorecard engine that has ingested the week's events.
        as_of: the week's end (on the engine's hour grid; midnight UTC when ``money`` is given).
        out_dir: the demo's output directory (the one holding ``ledger.db`` and ``pulse.db``).
        money: a :class:`UnitMoney` fed the same batches, for exact GP per tech and per zip.
    """
    window = money.window(as_of, engine.window_days) if money is not None else None
    frames = build_week(engine, as_of, money=window)
    return write_week(frames, as_of, Path(out_dir), engine.window_days)


class WeekData:
    """One written week, read back lazily (a frame is read the first time it is asked for)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        meta_file = self.path / "meta.json"
        if not meta_file.is_file():
            raise InvalidInputError(f"{self.path}: not a week snapshot (no meta.json)")
        self.meta: dict[str, object] = json.loads(meta_file.read_text(encoding="utf-8"))
        self._frames: dict[str, pl.DataFrame] = {}

    def frame(self, name: str) -> pl.DataFrame:
        """``areas``, ``techs``, ``zips``, ``skus`` or ``jobs``."""
        if name not in WEEK_FILES:
            raise InvalidInputError(f"unknown week frame {name!r}")
        if name not in self._frames:
            self._frames[name] = pl.read_parquet(self.path / f"{name}.parquet")
        return self._frames[name]

    @property
    def gp_basis(self) -> str:
        """``exact`` or ``estimated`` (see the module docstring)."""
        return str(self.meta.get("gp_basis", "estimated"))


def find_week(weeks_root: Path, as_of: datetime) -> WeekData | None:
    """The snapshot of the week ending at ``as_of`` under ``weeks_root``, if written."""
    path = Path(weeks_root) / as_of.astimezone(UTC).date().isoformat()
    return WeekData(path) if (path / "meta.json").is_file() else None
