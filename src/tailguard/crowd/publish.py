"""Nightly publishing: each area's anonymised tactic -> outcome pairs, from the self-learn store.

A tactic is a catalogue entry at an argument level (``surge_shift[bonus_usd=25,hours=6]``): the
numeric and boolean arguments only, so no technician, customer, zip or SKU id leaves the area.
For each area and tactic the pair holds when the area first executed it (its adoption
period), how many distinct units it touched (a count), how often it ran and the mean measured
change of its target KPI. New pairs become ``tactic`` records in the hash-chained ledger and
rows of the exchange's store, along with the areas' KPI values per period (what the exchange's
difference-in-differences reads) and their types.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from tailguard.crowd.store import CrowdStore, TacticRow
from tailguard.errors import InvalidInputError
from tailguard.ledger import Ledger

EPOCH_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)
_ID_LIKE = ("_id", "zip", "sku", "name", "phone", "email")


def period_of(when: datetime) -> int:
    """The week number of ``when`` (weeks start on Monday 00:00 UTC; week 0 is 1970-01-05)."""
    if when.tzinfo is None:
        raise InvalidInputError("timestamps must be timezone-aware (UTC)")
    return int((when - EPOCH_MONDAY).total_seconds() // (7 * 86400))


def argument_level(args_json: str | Mapping[str, object]) -> str:
    """The anonymised argument level: numeric and boolean arguments, sorted, ``k=v`` joined."""
    args = json.loads(args_json) if isinstance(args_json, str) else dict(args_json)
    parts = []
    for key in sorted(args):
        value = args[key]
        if any(key.endswith(s) or key == s for s in _ID_LIKE):
            continue
        if isinstance(value, bool):
            parts.append(f"{key}={str(value).lower()}")
        elif isinstance(value, int | float):
            parts.append(f"{key}={value:g}")
    return ",".join(parts)


def tactic_name(entry_id: str, args_json: str | Mapping[str, object]) -> str:
    """``entry[level]`` (``entry`` alone when it has no numeric argument)."""
    level = argument_level(args_json)
    return f"{entry_id}[{level}]" if level else entry_id


def tactic_id(area_id: str, tactic: str, kpi: str) -> str:
    """A stable id of one area's adoption of one tactic on one KPI."""
    return hashlib.sha256(f"{area_id}\x1f{tactic}\x1f{kpi}".encode()).hexdigest()[:24]


def tactic_pairs(
    decisions: pl.DataFrame,
    *,
    now: datetime,
    kpi_for: Mapping[str, str] | None = None,
) -> list[TacticRow]:
    """Tactic -> outcome pairs per area from the self-learn store's frame.

    Args:
        decisions: :meth:`tailguard.learning.SelfLearnStore.frame`.
        now: publishing time (only decisions executed before it count).
        kpi_for: maps a decision's unit-level ``outcome_kpi`` to the area KPI it moves
            (identity for names not listed).
    """
    mapping = dict(kpi_for or {})
    done = decisions.filter(
        (pl.col("status") == "executed")
        & pl.col("outcome_kpi").is_not_null()
        & pl.col("executed_at").is_not_null()
        & (pl.col("executed_at") <= now)
    )
    if done.is_empty():
        return []
    named = done.with_columns(
        pl.struct("entry_id", "args")
        .map_elements(lambda s: tactic_name(s["entry_id"], s["args"]), return_dtype=pl.String)
        .alias("tactic"),
        pl.col("outcome_kpi").replace(mapping).alias("kpi"),
    )
    grouped = (
        named.group_by("area_id", "tactic", "kpi")
        .agg(
            pl.col("executed_at").min().alias("first"),
            pl.col("target_id").n_unique().alias("units"),
            pl.len().alias("decisions"),
            pl.col("outcome_delta").is_not_null().sum().alias("outcome_n"),
            pl.col("outcome_delta").mean().alias("outcome_mean_delta"),
        )
        .sort("area_id", "tactic", "kpi")
    )
    stamp = now.timestamp()
    return [
        TacticRow(
            area_id=r["area_id"],
            tactic=r["tactic"],
            kpi=r["kpi"],
            tactic_id=tactic_id(r["area_id"], r["tactic"], r["kpi"]),
            adopted_period=period_of(r["first"]),
            units=int(r["units"]),
            decisions=int(r["decisions"]),
            outcome_n=int(r["outcome_n"]),
            outcome_mean_delta=r["outcome_mean_delta"],
            published_at=stamp,
        )
        for r in grouped.iter_rows(named=True)
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class PublishReport:
    """What one night's publishing added."""

    tactics: int
    kpi_rows: int
    areas: int
    ledger_records: int


def publish(
    *,
    ledger: Ledger,
    store: CrowdStore,
    pairs: list[TacticRow],
    kpi_rows: pl.DataFrame,
    area_types: Mapping[str, str],
) -> PublishReport:
    """Publish a night's pairs, KPI values and area types; new pairs go to the ledger first.

    A pair already in the store is skipped, so rerunning a night adds nothing. The ledger
    record is written before the store row: a crash in between leaves the evidence in the
    ledger and the next night's run adds the row (and a second record of the same tactic id).
    """
    known = set(store.tactics_frame()["tactic_id"].to_list())
    new = [p for p in pairs if p.tactic_id not in known]
    records = [
        (
            "tactic",
            {
                "tactic_id": p.tactic_id,
                "area_id": p.area_id,
                "tactic": p.tactic,
                "kpi": p.kpi,
                "adopted_period": p.adopted_period,
                "units": p.units,
                "decisions": p.decisions,
                "outcome_n": p.outcome_n,
                "outcome_mean_delta": p.outcome_mean_delta,
                "published_at": datetime.fromtimestamp(p.published_at, UTC).isoformat(),
            },
        )
        for p in new
    ]
    written = 0
    for lo in range(0, len(records), 500):
        written += len(ledger.append_many(records[lo : lo + 500]))
    added_areas = store.put_areas(area_types)
    added_kpis = store.put_kpis(kpi_rows)
    store.put_tactics(new)
    return PublishReport(
        tactics=len(new), kpi_rows=added_kpis, areas=added_areas, ledger_records=written
    )


def weekly_kpis(history: pl.DataFrame, *, until: datetime) -> pl.DataFrame:
    """Weekly KPI means per area from pulse history, closed weeks only.

    Args:
        history: :meth:`tailguard.pulse.PulseStore.history` (``area_id, as_of, <kpis>``).
        until: only weeks that ended at or before this time are published (a week's value is
            final once published).

    Returns:
        ``area_id, kpi, period, value`` (null KPI values skipped).
    """
    schema = {"area_id": pl.String, "kpi": pl.String, "period": pl.Int64, "value": pl.Float64}
    if history.is_empty():
        return pl.DataFrame(schema=schema)
    kpi_cols = [c for c in history.columns if c not in ("area_id", "as_of")]
    epoch_us = int(EPOCH_MONDAY.timestamp() * 1_000_000)
    week_us = 7 * 86400 * 1_000_000
    long = (
        history.with_columns(
            ((pl.col("as_of").dt.epoch("us") - epoch_us) // week_us).alias("period")
        )
        .filter(pl.col("period") < period_of(until))
        .unpivot(index=["area_id", "period"], on=kpi_cols, variable_name="kpi")
        .filter(pl.col("value").is_not_null())
        .with_columns(pl.col("value").cast(pl.Float64))
        .filter(pl.col("value").is_finite())
    )
    return (
        long.group_by("area_id", "kpi", "period")
        .agg(pl.col("value").mean())
        .select(pl.col("area_id"), pl.col("kpi"), pl.col("period").cast(pl.Int64), "value")
        .sort("area_id", "kpi", "period")
    )
