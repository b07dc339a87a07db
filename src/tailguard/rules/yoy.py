"""The jobs/week +12 % YoY guard-band: last year's jobs per area, and the check against them.

Last year's figure comes from one of two places:

* **the event history**, when it spans a year: :func:`baseline_from_history` takes a frame of
  ``area_id, as_of, jobs_per_week`` (the pulse store's history, or week snapshots) and keeps
  one row per area and week end;
* **a baseline file** a user supplies, CSV with a header line::

      area_id,week_ending,jobs_per_week
      PA-0001,2025-01-12,212
      PA-0001,2025-01-19,220.5

  ``week_ending`` is an ISO date (the last day of the 7-day window the figure counts);
  ``jobs_per_week`` a finite number >= 0; one row per (area, week_ending). Blank lines and
  lines starting with ``#`` are skipped. A bad file is refused whole with
  ``path:line: reason`` (:class:`~tailguard.errors.ConfigFileError`).

"The same week last year" for a figure at time ``t`` is the baseline row of the area whose
``week_ending`` is nearest to ``t - 364 days`` (52 weeks: the same weekday), within 3 days.
Where no such row exists the band is **unknown** (null), never inside: :func:`yoy_inside`
returns null for it, and a caller counts only the area-hours that were measured.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import polars as pl

from tailguard.errors import ConfigFileError
from tailguard.rules.guardbands import GUARD_BANDS

HEADER: Final = ("area_id", "week_ending", "jobs_per_week")
#: A year back, to the same weekday.
LAG: Final = timedelta(days=364)
#: How far the nearest baseline week end may be from ``t - LAG``.
TOLERANCE_DAYS: Final = 3
_BAND = next(b for b in GUARD_BANDS if b.kind == "yoy_growth")
#: The minimum growth (percent) for the band to hold.
MIN_GROWTH_PCT: Final = _BAND.bound
SCHEMA: Final = {"area_id": pl.String, "week_ending": pl.Date, "jobs_per_week": pl.Float64}


def parse_baseline(text: str, *, path: str = "<baseline>") -> pl.DataFrame:
    """Parse a baseline file's text (see the module docstring) into ``SCHEMA`` columns.

    Raises:
        ConfigFileError: the first bad line, with its number and the reason.
    """
    rows: dict[str, list[object]] = {k: [] for k in HEADER}
    seen: dict[tuple[str, date], int] = {}
    header_seen = False
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if "\x00" in line:
            raise ConfigFileError(path, number, "the line holds a NUL character")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            fields = next(csv.reader(io.StringIO(line)))
        except csv.Error as exc:
            raise ConfigFileError(path, number, f"not a CSV line: {exc}") from None
        fields = [f.strip() for f in fields]
        if not header_seen:
            if tuple(fields) != HEADER:
                raise ConfigFileError(
                    path, number, f"the header must be {','.join(HEADER)}, got {line.strip()!r}"
                )
            header_seen = True
            continue
        if len(fields) != len(HEADER):
            raise ConfigFileError(path, number, f"expected {len(HEADER)} fields, got {len(fields)}")
        area, day_text, jobs_text = fields
        if not area:
            raise ConfigFileError(path, number, "area_id is empty")
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise ConfigFileError(
                path, number, f"week_ending must be an ISO date (YYYY-MM-DD), got {day_text!r}"
            ) from None
        try:
            jobs = float(jobs_text)
        except ValueError:
            raise ConfigFileError(
                path, number, f"jobs_per_week must be a number, got {jobs_text!r}"
            ) from None
        if not math.isfinite(jobs) or jobs < 0:
            raise ConfigFileError(
                path, number, f"jobs_per_week must be a finite number >= 0, got {jobs_text!r}"
            )
        if (area, day) in seen:
            raise ConfigFileError(
                path, number, f"{area} {day} is already given on line {seen[(area, day)]}"
            )
        seen[(area, day)] = number
        rows["area_id"].append(area)
        rows["week_ending"].append(day)
        rows["jobs_per_week"].append(jobs)
    if not header_seen:
        raise ConfigFileError(path, None, f"empty: the header {','.join(HEADER)} is missing")
    return pl.DataFrame(rows, schema=SCHEMA)


def load_baseline(path: str | Path) -> pl.DataFrame:
    """Read and parse a baseline file.

    Raises:
        ConfigFileError: unreadable or bad (file, line, reason).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(str(path), None, f"cannot read it: {exc}") from None
    return parse_baseline(text, path=str(path))


def write_baseline(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write a baseline frame (``SCHEMA`` columns) in the file format."""
    out = Path(path)
    lines = [",".join(HEADER)]
    for area, day, jobs in frame.select(*HEADER).sort("area_id", "week_ending").iter_rows():
        lines.append(f"{area},{day.isoformat()},{jobs:.3f}")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def baseline_from_history(history: pl.DataFrame) -> pl.DataFrame:
    """Last year's figures from a KPI history (``area_id, as_of, jobs_per_week``).

    One row per area and day (the day's last value, the 7-day window ending then); a
    history shorter than a year simply finds no row a year back, and the band stays unknown.
    """
    return (
        history.select("area_id", "as_of", "jobs_per_week")
        .drop_nulls()
        .sort("as_of")
        .with_columns(pl.col("as_of").dt.date().alias("week_ending"))
        .group_by("area_id", "week_ending")
        .agg(pl.col("jobs_per_week").last().cast(pl.Float64))
        .select(*HEADER)
        .sort("area_id", "week_ending")
    )


def last_year(baseline: pl.DataFrame, frame: pl.DataFrame, *, at: str = "hour") -> pl.DataFrame:
    """``frame`` with ``jobs_last_year``: the baseline row nearest ``at - 364 days``, or null."""
    target = frame.with_columns(
        (pl.col(at).cast(pl.Datetime("us", "UTC")).dt.date() - pl.duration(days=LAG.days))
        .cast(pl.Date)
        .alias("_ly_day")
    )
    base = baseline.select(
        "area_id",
        pl.col("week_ending").alias("_ly_day"),
        pl.col("week_ending").alias("_ly_at"),
        pl.col("jobs_per_week").alias("jobs_last_year"),
    ).sort("_ly_day")
    joined = target.sort("_ly_day").join_asof(
        base,
        on="_ly_day",
        by="area_id",
        strategy="nearest",
        tolerance=f"{TOLERANCE_DAYS}d",
        check_sortedness=False,  # sorted by _ly_day as a whole, hence within every area
    )
    return joined.drop("_ly_day", "_ly_at")


def last_year_jobs(baseline: pl.DataFrame, latest: pl.DataFrame) -> pl.DataFrame:
    """Last year's ``jobs_per_week`` for each area of ``latest`` (``area_id, as_of, ...``):
    what :func:`~tailguard.rules.guardbands.guardband_status` takes; areas without a baseline
    week near ``as_of - 364 days`` are left out (their band stays unknown)."""
    found = last_year(baseline, latest.select("area_id", "as_of"), at="as_of")
    return found.select("area_id", pl.col("jobs_last_year").alias("jobs_per_week")).drop_nulls()


def history_baseline(pulse_history: pl.DataFrame) -> pl.DataFrame | None:
    """Last year's figures from a pulse store's history around a year before its latest
    ``as_of`` (:func:`baseline_from_history`); None when it holds none (a history shorter than
    a year)."""
    if pulse_history.is_empty() or "jobs_per_week" not in pulse_history.columns:
        return None
    found = baseline_from_history(pulse_history)
    return None if found.is_empty() else found


def yoy_inside() -> pl.Expr:
    """Whether jobs/week grew at least 12 % on ``jobs_last_year`` (null: unknown)."""
    growth = 100.0 * (pl.col("jobs_per_week") / pl.col("jobs_last_year") - 1.0)
    return (
        pl.when((pl.col("jobs_last_year") > 0) & pl.col("jobs_per_week").is_not_null())
        .then(growth >= MIN_GROWTH_PCT)
        .otherwise(pl.lit(None, pl.Boolean))
    )


def with_yoy(hourly: pl.DataFrame, baseline: pl.DataFrame | None) -> pl.DataFrame:
    """Fill ``inside_<yoy band>`` of guard-band rows (``hour, area_id, jobs_per_week``).

    Without a baseline the column stays null (unknown) for every row.
    """
    col = f"inside_{_BAND.id}"
    if baseline is None or baseline.is_empty():
        return hourly.with_columns(pl.lit(None, pl.Boolean).alias(col))
    order = hourly.columns
    found = last_year(baseline, hourly.with_row_index("_row"))
    return (
        found.with_columns(yoy_inside().alias(col))
        .sort("_row")
        .drop("_row", "jobs_last_year")
        .select(order)
    )
