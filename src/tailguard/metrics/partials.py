"""Hourly partial aggregates of events, and how they merge.

A :class:`Partial` summarises the events of one time bucket (an hour, or a day rolled up from
its hours) for every area at once, as small Polars frames:

* ``counts``: one row per area: event and completed-job counts, sums of money, the exact NPS
  histogram (``nps_0`` .. ``nps_10``);
* ``techs``: one row per (area, tech): pay, jobs, first-time fixes, recall jobs attributed to
  the *original* tech, survey NPS sums, and whether a status or completed event named the tech;
* ``zips`` and ``skus``: the per-unit counts the drill-downs need;
* three :class:`ValuePartial` for the continuous values (lateness keyed by zip, parts cost keyed
  by job code, lead time keyed by sku): exact values, plus KLL sketches for the (area, key)
  groups that grew past the exact threshold in a daily roll-up.

Every part merges by concatenation and a group-by, so merging partials in any grouping gives the
same result (the property tests check it), and a window is the merge of its partials.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import polars as pl
from datasketches import kll_doubles_sketch

from tailguard.metrics.quantiles import new_sketch, sketch_of

HOUR_US: Final = 3_600_000_000
NPS_COLS: Final[tuple[str, ...]] = tuple(f"nps_{i}" for i in range(11))
COUNT_SUM_COLS: Final[tuple[str, ...]] = (
    "n_events",
    "n_completed",
    "n_ftf",
    "n_ontime",
    "revenue",
    "parts_cost",
    "tech_pay",
    *NPS_COLS,
)
TECH_SUM_COLS: Final[tuple[str, ...]] = (
    "pay",
    "jobs",
    "ftf",
    "recalls",
    "nps_sum",
    "nps_n",
    "multi_part",
)

COUNTS_SCHEMA: Final = pl.Schema(
    {
        "area_id": pl.String,
        **{
            c: pl.Float64 if c in {"revenue", "parts_cost", "tech_pay"} else pl.Int64
            for c in COUNT_SUM_COLS
        },
    }
)
TECHS_SCHEMA: Final = pl.Schema(
    {
        "area_id": pl.String,
        "tech_id": pl.String,
        "pay": pl.Float64,
        "jobs": pl.Int64,
        "ftf": pl.Int64,
        "recalls": pl.Int64,
        "nps_sum": pl.Int64,
        "nps_n": pl.Int64,
        "multi_part": pl.Int64,
        "seen": pl.Int8,
    }
)
ZIPS_SCHEMA: Final = pl.Schema(
    {"area_id": pl.String, "zip": pl.String, "jobs": pl.Int64, "booked": pl.Int64}
)
SKUS_SCHEMA: Final = pl.Schema(
    {"area_id": pl.String, "sku": pl.String, "on_hand_min": pl.Int64, "n_stock": pl.Int64}
)
VALUES_SCHEMA: Final = pl.Schema({"area_id": pl.String, "key": pl.String, "value": pl.Float64})

#: Columns of the wide event schema the partials read.
INGEST_COLUMNS: Final[tuple[str, ...]] = (
    "event_id",
    "type",
    "ts",
    "area_id",
    "tech_id",
    "zip",
    "job_code",
    "window_end",
    "arrived_at",
    "revenue",
    "parts_cost",
    "tech_pay",
    "first_time_fix",
    "recall_of_job_id",
    "original_tech_id",
    "status",
    "nps",
    "sku",
    "on_hand",
    "lead_time_days",
    "parts_used",
)

SketchKey = tuple[str, str]


@dataclass(frozen=True, kw_only=True, slots=True)
class ValuePartial:
    """Continuous values of one bucket: exact rows plus sketches of the large groups.

    Attributes:
        values: rows (area_id, key, value), exact.
        sketches: KLL sketches by (area_id, key) for groups held approximately; a group is
            either in ``sketches`` or has its values only in ``values`` within one partial,
            but a merge of partials may hold both (hours exact, days sketched).
    """

    values: pl.DataFrame
    sketches: Mapping[SketchKey, kll_doubles_sketch] = field(default_factory=dict)

    @staticmethod
    def empty() -> ValuePartial:
        """No values."""
        return ValuePartial(values=VALUES_SCHEMA.to_frame())

    def nbytes(self) -> int:
        """Approximate memory held, in bytes."""
        return int(self.values.estimated_size()) + sum(
            int(s.get_serialized_size_bytes()) + 64 for s in self.sketches.values()
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Partial:
    """The mergeable summary of one time bucket for every area (see the module docstring)."""

    counts: pl.DataFrame
    techs: pl.DataFrame
    zips: pl.DataFrame
    skus: pl.DataFrame
    lateness: ValuePartial
    parts: ValuePartial
    lead: ValuePartial

    @staticmethod
    def empty() -> Partial:
        """The partial of a bucket with no events."""
        return Partial(
            counts=COUNTS_SCHEMA.to_frame(),
            techs=TECHS_SCHEMA.to_frame(),
            zips=ZIPS_SCHEMA.to_frame(),
            skus=SKUS_SCHEMA.to_frame(),
            lateness=ValuePartial.empty(),
            parts=ValuePartial.empty(),
            lead=ValuePartial.empty(),
        )

    def nbytes(self) -> int:
        """Approximate memory held, in bytes."""
        frames = (self.counts, self.techs, self.zips, self.skus)
        return sum(int(f.estimated_size()) for f in frames) + sum(
            v.nbytes() for v in (self.lateness, self.parts, self.lead)
        )


def hour_partials(events: pl.DataFrame) -> dict[int, Partial]:
    """Summarise a batch of events (with an ``h`` bucket column) into one partial per hour.

    ``events`` holds :data:`INGEST_COLUMNS` plus ``h`` (the bucket index); it must already be
    deduplicated. Every frame is built with one group-by over the whole batch.
    """
    if events.height == 0:
        return {}
    is_comp = pl.col("type") == "job.completed"
    ontime = pl.col("arrived_at") <= pl.col("window_end")
    counts = events.group_by("h", "area_id").agg(
        pl.len().cast(pl.Int64).alias("n_events"),
        is_comp.sum().cast(pl.Int64).alias("n_completed"),
        (is_comp & pl.col("first_time_fix")).sum().cast(pl.Int64).alias("n_ftf"),
        (is_comp & ontime).sum().cast(pl.Int64).alias("n_ontime"),
        pl.col("revenue").filter(is_comp).sum().alias("revenue"),
        pl.col("parts_cost").filter(is_comp).sum().alias("parts_cost"),
        pl.col("tech_pay").filter(is_comp).sum().alias("tech_pay"),
        *(
            ((pl.col("type") == "cx.survey") & (pl.col("nps") == i))
            .sum()
            .cast(pl.Int64)
            .alias(f"nps_{i}")
            for i in range(11)
        ),
    )
    comp = events.filter(is_comp)
    zero_i = pl.lit(0, pl.Int64)
    named = events.filter(
        pl.col("type").is_in(["job.completed", "tech.status"]) & pl.col("tech_id").is_not_null()
    ).select(
        "h",
        "area_id",
        "tech_id",
        pl.when(is_comp).then(pl.col("tech_pay")).otherwise(0.0).fill_null(0.0).alias("pay"),
        is_comp.cast(pl.Int64).alias("jobs"),
        (is_comp & pl.col("first_time_fix")).fill_null(value=False).cast(pl.Int64).alias("ftf"),
        zero_i.alias("recalls"),
        zero_i.alias("nps_sum"),
        zero_i.alias("nps_n"),
        (is_comp & (pl.col("parts_used") >= 2))
        .fill_null(value=False)
        .cast(pl.Int64)
        .alias("multi_part"),
        pl.lit(1, pl.Int8).alias("seen"),
    )
    recalls = comp.filter(
        pl.col("recall_of_job_id").is_not_null() & pl.col("original_tech_id").is_not_null()
    ).select(
        "h",
        "area_id",
        pl.col("original_tech_id").alias("tech_id"),
        pl.lit(0.0).alias("pay"),
        zero_i.alias("jobs"),
        zero_i.alias("ftf"),
        pl.lit(1, pl.Int64).alias("recalls"),
        zero_i.alias("nps_sum"),
        zero_i.alias("nps_n"),
        zero_i.alias("multi_part"),
        pl.lit(0, pl.Int8).alias("seen"),
    )
    surveys = events.filter(
        (pl.col("type") == "cx.survey")
        & pl.col("tech_id").is_not_null()
        & pl.col("nps").is_not_null()
    ).select(
        "h",
        "area_id",
        "tech_id",
        pl.lit(0.0).alias("pay"),
        zero_i.alias("jobs"),
        zero_i.alias("ftf"),
        zero_i.alias("recalls"),
        pl.col("nps").cast(pl.Int64).alias("nps_sum"),
        pl.lit(1, pl.Int64).alias("nps_n"),
        zero_i.alias("multi_part"),
        pl.lit(0, pl.Int8).alias("seen"),
    )
    techs = (
        pl.concat([named, recalls, surveys])
        .group_by("h", "area_id", "tech_id")
        .agg(*(pl.col(c).sum() for c in TECH_SUM_COLS), pl.col("seen").max())
    )
    zips = (
        events.filter(
            pl.col("type").is_in(["job.completed", "job.booked"]) & pl.col("zip").is_not_null()
        )
        .group_by("h", "area_id", "zip")
        .agg(
            is_comp.sum().cast(pl.Int64).alias("jobs"),
            (pl.col("type") == "job.booked").sum().cast(pl.Int64).alias("booked"),
        )
    )
    stock = events.filter((pl.col("type") == "parts.stock") & pl.col("sku").is_not_null())
    skus = stock.group_by("h", "area_id", "sku").agg(
        pl.col("on_hand").min().cast(pl.Int64).alias("on_hand_min"),
        pl.len().cast(pl.Int64).alias("n_stock"),
    )
    minutes = (pl.col("arrived_at") - pl.col("window_end")).dt.total_microseconds() / 60e6
    lateness = comp.filter(
        pl.col("arrived_at").is_not_null() & pl.col("window_end").is_not_null()
    ).select(
        "h",
        "area_id",
        pl.col("zip").fill_null("").alias("key"),
        minutes.clip(lower_bound=0.0).alias("value"),
    )
    parts = comp.filter(pl.col("parts_cost").is_not_null()).select(
        "h",
        "area_id",
        pl.col("job_code").fill_null("").alias("key"),
        pl.col("parts_cost").alias("value"),
    )
    lead = stock.filter(pl.col("lead_time_days").is_not_null()).select(
        "h", "area_id", pl.col("sku").alias("key"), pl.col("lead_time_days").alias("value")
    )
    split = {
        name: _by_hour(frame)
        for name, frame in (
            ("counts", counts),
            ("techs", techs),
            ("zips", zips),
            ("skus", skus),
            ("lateness", lateness),
            ("parts", parts),
            ("lead", lead),
        )
    }
    empty = Partial.empty()
    out: dict[int, Partial] = {}
    for h in sorted(set().union(*(s.keys() for s in split.values()))):
        out[h] = Partial(
            counts=split["counts"].get(h, empty.counts),
            techs=split["techs"].get(h, empty.techs),
            zips=split["zips"].get(h, empty.zips),
            skus=split["skus"].get(h, empty.skus),
            lateness=ValuePartial(values=split["lateness"].get(h, empty.lateness.values)),
            parts=ValuePartial(values=split["parts"].get(h, empty.parts.values)),
            lead=ValuePartial(values=split["lead"].get(h, empty.lead.values)),
        )
    return out


def _by_hour(frame: pl.DataFrame) -> dict[int, pl.DataFrame]:
    parts = frame.partition_by("h", as_dict=True, include_key=False)
    return {int(key[0]): df for key, df in parts.items()}  # type: ignore[call-overload]


def merge_partials(partials: Sequence[Partial], *, sketch_threshold: int | None = None) -> Partial:
    """Merge partials into one, as if their events had been summarised together.

    Args:
        partials: the partials to merge (any order, any grouping).
        sketch_threshold: when given (daily roll-ups), an (area, key) group of continuous
            values holding at least this many values is turned into a KLL sketch; otherwise
            values stay exact.
    """
    if not partials:
        return Partial.empty()
    if len(partials) == 1 and sketch_threshold is None:
        return partials[0]
    counts = (
        pl.concat([p.counts for p in partials])
        .group_by("area_id")
        .agg(pl.col(c).sum() for c in COUNT_SUM_COLS)
    )
    techs = (
        pl.concat([p.techs for p in partials])
        .group_by("area_id", "tech_id")
        .agg(*(pl.col(c).sum() for c in TECH_SUM_COLS), pl.col("seen").max())
    )
    zips = (
        pl.concat([p.zips for p in partials])
        .group_by("area_id", "zip")
        .agg(pl.col("jobs").sum(), pl.col("booked").sum())
    )
    skus = (
        pl.concat([p.skus for p in partials])
        .group_by("area_id", "sku")
        .agg(pl.col("on_hand_min").min(), pl.col("n_stock").sum())
    )
    return Partial(
        counts=counts,
        techs=techs,
        zips=zips,
        skus=skus,
        lateness=merge_values([p.lateness for p in partials], sketch_threshold=sketch_threshold),
        parts=merge_values([p.parts for p in partials], sketch_threshold=sketch_threshold),
        lead=merge_values([p.lead for p in partials], sketch_threshold=sketch_threshold),
    )


def merge_values(
    items: Iterable[ValuePartial], *, sketch_threshold: int | None = None
) -> ValuePartial:
    """Merge value partials: concatenate exact values, merge sketches of the same group."""
    items = list(items)
    values = pl.concat([v.values for v in items])
    sketches: dict[SketchKey, kll_doubles_sketch] = {}
    for item in items:
        for key, sketch in item.sketches.items():
            merged = sketches.get(key)
            if merged is None:
                merged = sketches[key] = new_sketch()
            merged.merge(sketch)
    if sketch_threshold is not None and values.height >= sketch_threshold:
        sizes = values.group_by("area_id", "key").len()
        big = sizes.filter(pl.col("len") >= sketch_threshold).select("area_id", "key")
        if big.height:
            moving = values.join(big, on=["area_id", "key"], how="semi")
            for (area, key), group in moving.partition_by("area_id", "key", as_dict=True).items():
                target = sketches.get((str(area), str(key)))
                fresh = sketch_of(group["value"].to_numpy())
                if target is None:
                    sketches[(str(area), str(key))] = fresh
                else:
                    target.merge(fresh)
            values = values.join(big, on=["area_id", "key"], how="anti")
    return ValuePartial(values=values, sketches=sketches)
