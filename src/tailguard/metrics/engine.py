"""The incremental scorecard: ingest event batches, answer KPIs for any hourly ``as_of``.

:class:`ScorecardEngine` keeps, for every area at once, one :class:`Partial` per hour bucket and
daily roll-ups of them, plus 90 days of daily tech presence for churn. A 7-day window ending on
an hour is the merge of at most 23 leading hours, 6-7 whole days and 23 trailing hours (about 30
merges, not 168), so a tick costs in proportion to what the window holds in summary form, not to
its raw events.

Buckets are right-closed to match the window definition ``as_of - W days < ts <= as_of``: hour
bucket ``h`` holds ``anchor + (h-1) hours < ts <= anchor + h hours`` and day ``d`` holds hours
``24(d-1) < h <= 24d``. ``as_of`` must therefore sit on an hour of the anchor (midnight UTC
by default; the CLI anchors on its ``--as-of`` so any timestamp works).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, Literal

import polars as pl
import pyarrow as pa

from tailguard.errors import InvalidInputError
from tailguard.metrics.compute import area_quantile, kpis_from_partial
from tailguard.metrics.kpis import CHURN_DAYS
from tailguard.metrics.packing import (
    PackedIds,
    PackedPieces,
    pack_ids,
    pack_pieces,
    unpack_frames,
    unpack_ids,
    unpack_pieces,
)
from tailguard.metrics.partials import (
    HOUR_US,
    INGEST_COLUMNS,
    Partial,
    hour_partials,
    merge_partials,
)
from tailguard.metrics.presence import ChurnPresence
from tailguard.metrics.quantiles import pctl_expr

Unit = Literal["tech", "zip", "sku"]
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_PIECES: Final = 16


def _us(when: datetime) -> int:
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(microseconds=1)


class ScorecardEngine:
    """Incremental per-area KPIs over a sliding window of hourly partials.

    Args:
        window_days: W, the scorecard window in days.
        exact_threshold: an (area, key) group of continuous values with at least this many
            values in one day is kept as a KLL sketch in that day's roll-up; below it, exact.
        anchor: the origin of the hour grid (default the Unix epoch, i.e. whole UTC hours).
        retain_days: how many days of hourly partials to keep behind the latest ``as_of``
            (default ``window_days + 2``: a window, one day of look-back, the 48 hours the zip
            drill-down compares).
        pack: pack the state no read or write touched between two :meth:`advance` calls
            (lossless; see :mod:`tailguard.metrics.packing`). ``False`` keeps it all in frames:
            the same answers with about three times the memory (the tests compare the two).
    """

    def __init__(
        self,
        window_days: int = 7,
        *,
        exact_threshold: int = 1000,
        anchor: datetime | None = None,
        retain_days: int | None = None,
        pack: bool = True,
    ) -> None:
        if window_days < 1:
            raise InvalidInputError(f"window_days must be at least 1, got {window_days}")
        if exact_threshold < 1:
            raise InvalidInputError("exact_threshold must be at least 1")
        self.window_days = window_days
        self.exact_threshold = exact_threshold
        self._anchor_us = _us(anchor) if anchor is not None else 0
        self._pack = pack
        self._retain_hours = 24 * (retain_days if retain_days is not None else window_days + 2)
        # Each hour holds the partials of the batches that touched it, merged lazily (when a
        # window or a roll-up reads it, or when too many pile up), so a batch spanning many
        # hours, such as a replayed file, costs one group-by per frame, not one per hour.
        self._hours: dict[int, list[Partial]] = {}
        self._ids: dict[int, pl.Series] = {}
        self._day_versions: dict[int, int] = {}
        self._days: dict[int, tuple[int, Partial]] = {}
        # What no read or write touched between two advances is packed (lossless, zstd), by
        # day: the hours of days already rolled up, the ids of hours no batch reaches any
        # more, the roll-ups of days the merged window already holds (see packing.py).
        self._packed_hours: dict[int, PackedPieces] = {}
        self._packed_ids: dict[int, PackedIds] = {}
        self._packed_days: dict[int, tuple[int, PackedPieces]] = {}
        self._warm_hours: set[int] = set()
        self._warm_ids: set[int] = set()
        self._warm_days: set[int] = set()
        # The zips of packed hours the zip drill-down's booking counts read (hour -> frame).
        self._zip_views: dict[int, dict[int, pl.DataFrame]] = {}
        self._warm_zips: set[int] = set()
        # Single-piece hours of packed days a window's leading edge reads (day -> hour ->
        # pieces), kept while read; the packed day stays as it is.
        self._edge_views: dict[int, dict[int, list[Partial]]] = {}
        self._warm_edges: set[int] = set()
        self._presence = ChurnPresence()
        self._areas = pl.Series("area_id", [], dtype=pl.String)
        self._horizon_h: int | None = None
        # The last merged window and what it was merged from: the tick asks for the same
        # window four times an hour (scorecard, tech, zip and SKU drill-downs).
        self._generation = 0
        self._window_cache: tuple[tuple[int, int, int], Partial] | None = None
        self._days_cache: tuple[tuple[tuple[int, int], ...], Partial] | None = None
        #: Events seen again (same event_id in the same hour), counted once.
        self.duplicates = 0
        #: Events too old for the retained hourly partials (they still count for churn).
        self.expired = 0
        #: Events ingested into partials.
        self.ingested = 0

    # ---------------------------------------------------------------- ingest

    def ingest(self, table: pa.Table | pl.DataFrame) -> int:
        """Fold a batch of events (WIDE_SCHEMA) into the partials; returns events counted.

        Late and out-of-order events land in their own hour; an ``event_id`` seen before in the
        same hour is a duplicate delivery and is counted once.
        """
        frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        if frame.height == 0:
            return 0
        ts_us = pl.col("ts").dt.epoch("us") - self._anchor_us
        events = (
            frame.select(INGEST_COLUMNS)
            .with_columns((-((-ts_us) // HOUR_US)).alias("h"))
            .with_columns((-((-pl.col("h")) // 24)).alias("d"))
        )
        before = events.height
        for d in events["d"].unique().to_list():
            self._thaw_ids(int(d))
        events = events.unique(subset="event_id", keep="first", maintain_order=True)
        events = self._drop_seen(events)
        self.duplicates += before - events.height
        if events.height == 0:
            return 0
        self._areas = pl.concat([self._areas, events["area_id"]]).unique()
        self._presence.ingest(events)
        if self._horizon_h is not None:
            floor_h = self._horizon_h - self._retain_hours
            old = events.filter(pl.col("h") <= floor_h)
            if old.height:
                self.expired += old.height
                events = events.filter(pl.col("h") > floor_h)
        self._remember_ids(events)
        for h, partial in hour_partials(events).items():
            self._thaw_hours(-(-h // 24))
            pieces = self._hours.setdefault(h, [])
            pieces.append(partial)
            if len(pieces) > _MAX_PIECES:
                self._hours[h] = [merge_partials(pieces)]
            d = -(-h // 24)
            self._day_versions[d] = self._day_versions.get(d, 0) + 1
        self._generation += 1
        self.ingested += events.height
        return events.height

    def _drop_seen(self, events: pl.DataFrame) -> pl.DataFrame:
        # A duplicate delivery carries its original ts, so it is looked for only among the ids
        # of its own hour: the check costs nothing for a fresh hour and memory stays bounded.
        hours = [h for h in events["h"].unique().to_list() if h in self._ids]
        if not hours:
            return events
        # The hour column as a literal, not a Python list of the hour repeated per id.
        seen = pl.concat(
            [
                self._ids[h].to_frame("event_id").select(pl.lit(h, pl.Int64).alias("h"), "event_id")
                for h in hours
            ]
        )
        return events.join(seen, on=["h", "event_id"], how="anti")

    def _remember_ids(self, events: pl.DataFrame) -> None:
        for (h,), ids in (
            events.select("h", "event_id")
            .partition_by("h", as_dict=True, include_key=False)
            .items()
        ):
            key = int(h)  # type: ignore[call-overload]
            old = self._ids.get(key)
            col = ids["event_id"]
            self._ids[key] = col if old is None else pl.concat([old, col])

    # ---------------------------------------------------------------- packing

    def _floor_h(self) -> int | None:
        return None if self._horizon_h is None else self._horizon_h - self._retain_hours

    def _thaw_hours(self, d: int) -> None:
        """Make day ``d``'s hourly partials live (unpacked) until the next advance."""
        self._warm_hours.add(d)
        packed = self._packed_hours.pop(d, None)
        self._zip_views.pop(d, None)
        self._edge_views.pop(d, None)
        if packed is not None:
            floor_h = self._floor_h()
            for h, pieces in unpack_pieces(packed).items():
                if floor_h is None or h > floor_h:
                    self._hours[h] = pieces

    def _thaw_ids(self, d: int) -> None:
        self._warm_ids.add(d)
        packed = self._packed_ids.pop(d, None)
        if packed is not None:
            floor_h = self._floor_h()
            for h, ids in unpack_ids(packed).items():
                if floor_h is None or h > floor_h:
                    self._ids[h] = ids

    def _pack_cold(self) -> None:
        """Pack what was neither read nor written since the previous advance."""
        warm = (
            self._warm_hours,
            self._warm_ids,
            self._warm_days,
            self._warm_zips,
            self._warm_edges,
        )
        if not self._pack:
            for seen in warm:
                seen.clear()
            return
        hours: dict[int, dict[int, list[Partial]]] = {}
        for h, pieces in self._hours.items():
            hours.setdefault(-(-h // 24), {})[h] = pieces
        ids: dict[int, dict[int, pl.Series]] = {}
        for h, col in self._ids.items():
            ids.setdefault(-(-h // 24), {})[h] = col
        for d in [d for d in self._zip_views if d not in self._warm_zips]:
            del self._zip_views[d]
        for d, view in list(self._edge_views.items()):
            for h in [h for h in view if h not in self._warm_edges]:
                del view[h]
            if not view:
                del self._edge_views[d]
        for d, of_day in hours.items():
            if d not in self._warm_hours:
                self._zip_views.pop(d, None)
                self._edge_views.pop(d, None)
                self._packed_hours[d] = pack_pieces(of_day)
                for h in of_day:
                    del self._hours[h]
        for d, ids_of_day in ids.items():
            if d not in self._warm_ids:
                self._packed_ids[d] = pack_ids(ids_of_day)
                for h in ids_of_day:
                    del self._ids[h]
        for d in [d for d in self._days if d not in self._warm_days]:
            version, partial = self._days.pop(d)
            self._packed_days[d] = (version, pack_pieces({d: [partial]}))
        for seen in warm:
            seen.clear()

    # ---------------------------------------------------------------- time

    def hour_of(self, as_of: datetime) -> int:
        """The hour bucket index ending at ``as_of``.

        Raises:
            InvalidInputError: if ``as_of`` is not on the engine's hour grid.
        """
        offset = _us(as_of) - self._anchor_us
        if offset % HOUR_US:
            raise InvalidInputError(
                f"as_of {as_of.isoformat()} is not on the engine's hour grid; "
                "create the engine with anchor=as_of"
            )
        return offset // HOUR_US

    def advance(self, as_of: datetime) -> None:
        """Declare that no window will end before ``as_of`` minus a day: drop older partials."""
        h = self.hour_of(as_of)
        if self._horizon_h is not None and h <= self._horizon_h:
            return
        self._horizon_h = h
        self._generation += 1
        floor_h = h - self._retain_hours
        for old in [k for k in self._hours if k <= floor_h]:
            del self._hours[old]
            self._ids.pop(old, None)
        for old in [k for k in self._ids if k <= floor_h]:
            del self._ids[old]
        floor_d = floor_h // 24
        for d in [d for d in self._days if d <= floor_d]:
            del self._days[d]
        for d in [d for d in self._day_versions if d <= floor_d]:
            del self._day_versions[d]
        for packed in (
            self._packed_hours,
            self._packed_ids,
            self._packed_days,
            self._zip_views,
            self._edge_views,
        ):
            for d in [d for d in packed if d <= floor_d]:
                del packed[d]
        self._pack_cold()
        self._presence.expire((h - 24 * CHURN_DAYS) // 24)

    # ---------------------------------------------------------------- windows

    def _day(self, d: int) -> Partial | None:
        version = self._day_versions.get(d)
        if version is None:
            return None
        packed = self._packed_days.get(d)
        if packed is not None:
            if packed[0] == version:  # read once a day (the window's days change): stays packed
                return unpack_pieces(packed[1])[d][0]
            del self._packed_days[d]  # a late event changed the day: it rolls up again
        self._warm_days.add(d)
        cached = self._days.get(d)
        if cached is not None and cached[0] == version:
            return cached[1]
        self._thaw_hours(d)
        hours = [p for h in range(24 * (d - 1) + 1, 24 * d + 1) for p in self._hours.get(h, ())]
        rolled = merge_partials(hours, sketch_threshold=self.exact_threshold)
        self._days[d] = (version, rolled)
        return rolled

    def window_partials(self, h_lo: int, h_hi: int) -> list[Partial]:
        """The partials covering hours ``(h_lo, h_hi]``: whole days rolled up, edge hours."""
        d_first = h_lo // 24 + 1
        if h_lo % 24:
            d_first += 1  # the day holding h_lo + 1 is cut: take its hours
        d_last = h_hi // 24  # last whole day ending at or before h_hi
        out: list[Partial] = []
        if d_first > d_last:
            return self._pieces(h_lo + 1, h_hi)
        out.extend(self._pieces(h_lo + 1, 24 * (d_first - 1)))
        out.extend(self._whole_days(d_first, d_last))
        out.extend(self._pieces(24 * d_last + 1, h_hi))
        return out

    def _whole_days(self, d_first: int, d_last: int) -> list[Partial]:
        """The roll-ups of days ``d_first..d_last`` merged into one partial (or none).

        An hourly window slides an hour at a time but its whole days change once a day (or
        when a late event rewrites one): the merge of those days is kept, so each hour
        merges one partial for them with the edge hours instead of six or seven.
        """
        key = tuple(
            (d, v)
            for d in range(d_first, d_last + 1)
            if (v := self._day_versions.get(d)) is not None
        )
        if len(key) >= 2 and self._days_cache is not None and self._days_cache[0] == key:
            return [self._days_cache[1]]
        days = [day for d, _ in key if (day := self._day(d)) is not None]
        if len(days) < 2:
            return days
        merged = merge_partials(days)
        self._days_cache = (key, merged)
        return [merged]

    def _pieces(self, h_from: int, h_to: int) -> list[Partial]:
        out: list[Partial] = []
        for h in range(h_from, h_to + 1):
            d = -(-h // 24)
            packed = self._packed_hours.get(d)
            if packed is not None:
                shape = dict(packed.shape)
                if shape.get(h, 0) == 0:
                    continue
                if shape[h] == 1:  # read it, leave the day packed
                    self._warm_edges.add(h)
                    view = self._edge_views.setdefault(d, {})
                    if h not in view:
                        wanted = {
                            x
                            for x in range(h, min(h_to, 24 * d) + 1)
                            if shape.get(x) == 1 and x not in view
                        }
                        view.update(unpack_pieces(packed, wanted))
                    out.append(view[h][0])
                    continue
                self._thaw_hours(d)  # several pieces: merged below, so unpacked for good
            pieces = self._hours.get(h)
            if pieces and len(pieces) > 1:
                pieces[:] = [merge_partials(pieces)]
            if pieces:
                out.append(pieces[0])
        return out

    def window(self, as_of: datetime, *, days: int | None = None) -> Partial:
        """The merged partial of the window of ``days`` (default W) ending at ``as_of``."""
        h_hi = self.hour_of(as_of)
        h_lo = h_hi - 24 * (days if days is not None else self.window_days)
        self._check_retained(h_lo)
        key = (h_lo, h_hi, self._generation)
        if self._window_cache is not None and self._window_cache[0] == key:
            return self._window_cache[1]
        merged = merge_partials(self.window_partials(h_lo, h_hi))
        self._window_cache = (key, merged)
        return merged

    def _check_retained(self, h_lo: int) -> None:
        if self._horizon_h is not None and h_lo < self._horizon_h - self._retain_hours:
            raise InvalidInputError("that window starts before the partials this engine retains")

    # ---------------------------------------------------------------- answers

    def areas(self) -> pl.Series:
        """Every area the engine has seen an event for, sorted."""
        return self._areas.sort()

    def scorecard(self, as_of: datetime) -> pl.DataFrame:
        """Every KPI per area at ``as_of``: ``area_id`` plus one Float64 column per KPI id.

        A KPI without data in the window is null. Calling this also advances the engine's
        horizon to ``as_of`` (older partials are dropped).
        """
        self.advance(as_of)
        h_hi = self.hour_of(as_of)
        merged = self.window(as_of)
        return kpis_from_partial(
            merged,
            areas=self.areas(),
            window_days=self.window_days,
            churn=self._presence.churn(h_hi),
        )

    def units(self, as_of: datetime, unit: Unit) -> pl.DataFrame:
        """Per-unit drill-down at ``as_of`` for choosing intervention targets.

        ``tech``: area_id, tech_id, earnings_week, jobs, recall_pct (null under 5 jobs),
        nps_mean, ftf_pct, multi_part_pct (share of the tech's jobs that fitted two or more
        parts; null under 5 jobs), tenure_days (null: not in the event language).
        ``zip``: area_id, zip, lateness_p90_min, jobs, bookings_24h, bookings_prior_24h.
        ``sku``: area_id, sku, lead_time_p95_days, on_hand_min.
        """
        merged = self.window(as_of)
        if unit == "tech":
            jobs = pl.col("jobs")
            return (
                merged.techs.filter(pl.col("seen") > 0)
                .select(
                    "area_id",
                    "tech_id",
                    (pl.col("pay") * 7.0 / self.window_days).alias("earnings_week"),
                    jobs,
                    pl.when(jobs >= 5).then(100.0 * pl.col("recalls") / jobs).alias("recall_pct"),
                    pl.when(pl.col("nps_n") > 0)
                    .then(pl.col("nps_sum") / pl.col("nps_n"))
                    .alias("nps_mean"),
                    pl.when(jobs > 0).then(100.0 * pl.col("ftf") / jobs).alias("ftf_pct"),
                    pl.when(jobs >= 5)
                    .then(100.0 * pl.col("multi_part") / jobs)
                    .alias("multi_part_pct"),
                    pl.lit(None, pl.Float64).alias("tenure_days"),
                )
                .sort("area_id", "tech_id")
            )
        if unit == "zip":
            h_hi = self.hour_of(as_of)
            recent = self._zip_bookings(h_hi - 24, h_hi)
            prior = self._zip_bookings(h_hi - 48, h_hi - 24)
            late = merged.lateness.values.rename({"key": "zip"})
            p90 = late.group_by("area_id", "zip").agg(
                pctl_expr("value", 90).alias("lateness_p90_min")
            )
            keys = ["area_id", "zip"]
            return (
                merged.zips.select(*keys, "jobs")
                .join(p90, on=keys, how="full", coalesce=True)
                .join(
                    recent.select(*keys, pl.col("booked").alias("bookings_24h")),
                    on=keys,
                    how="left",
                )
                .join(
                    prior.select(*keys, pl.col("booked").alias("bookings_prior_24h")),
                    on=keys,
                    how="left",
                )
                .with_columns(
                    pl.col("jobs", "bookings_24h", "bookings_prior_24h").fill_null(0),
                )
                .select(*keys, "lateness_p90_min", "jobs", "bookings_24h", "bookings_prior_24h")
                .sort(keys)
            )
        if unit == "sku":
            keyed = merged.lead
            per_key = (
                area_quantile(
                    type(keyed)(
                        values=keyed.values.with_columns(
                            pl.concat_str("area_id", pl.lit("\x1f"), "key").alias("area_id")
                        ),
                        sketches={(f"{a}\x1f{k}", k): s for (a, k), s in keyed.sketches.items()},
                    ),
                    95,
                    "lead_time_p95_days",
                )
                .with_columns(
                    pl.col("area_id").str.split_exact("\x1f", 1).struct.rename_fields(["a", "sku"])
                )
                .unnest("area_id")
                .rename({"a": "area_id"})
            )
            return (
                merged.skus.select("area_id", "sku", "on_hand_min")
                .join(per_key, on=["area_id", "sku"], how="full", coalesce=True)
                .select("area_id", "sku", "lead_time_p95_days", "on_hand_min")
                .sort("area_id", "sku")
            )
        raise InvalidInputError(f"unknown unit {unit!r}; expected tech, zip or sku")

    def _zip_bookings(self, h_lo: int, h_hi: int) -> pl.DataFrame:
        """``area_id, zip, booked`` over hours ``(h_lo, h_hi]``: only the zips of the partials
        are merged (merging whole partials would re-merge every value of the hours)."""
        zips = self._window_zips(h_lo, h_hi)
        if not zips:
            return Partial.empty().zips.select("area_id", "zip", "booked")
        return pl.concat(zips).group_by("area_id", "zip").agg(pl.col("booked").sum())

    def _window_zips(self, h_lo: int, h_hi: int) -> list[pl.DataFrame]:
        """The ``zips`` of :meth:`window_partials` (the same pieces, merged the same way),
        read from packed hours without unpacking the rest of them."""
        d_first = h_lo // 24 + 1 + (1 if h_lo % 24 else 0)
        d_last = h_hi // 24
        if d_first > d_last:
            return self._piece_zips(h_lo + 1, h_hi)
        out = self._piece_zips(h_lo + 1, 24 * (d_first - 1))
        for d in range(d_first, d_last + 1):
            version = self._day_versions.get(d)
            packed = self._packed_days.get(d)
            if packed is not None and packed[0] == version:
                out.extend(unpack_frames(packed[1], "zips").values())
            elif (day := self._day(d)) is not None:
                out.append(day.zips)
        out.extend(self._piece_zips(24 * d_last + 1, h_hi))
        return out

    def _piece_zips(self, h_from: int, h_to: int) -> list[pl.DataFrame]:
        out: list[pl.DataFrame] = []
        for h in range(h_from, h_to + 1):
            d = -(-h // 24)
            packed = self._packed_hours.get(d)
            if packed is not None:
                self._warm_zips.add(d)
                view = self._zip_views.get(d)
                if view is None:
                    view = self._zip_views[d] = unpack_frames(packed, "zips")
                if h in view:
                    out.append(view[h])
                    continue
                if h not in dict(packed.shape):
                    continue
                self._thaw_hours(d)  # several pieces: merged, as any read of them does
            pieces = self._hours.get(h)
            if pieces and len(pieces) > 1:
                pieces[:] = [merge_partials(pieces)]
            if pieces:
                out.append(pieces[0].zips)
        return out

    def nbytes(self) -> dict[str, int]:
        """Approximate memory held, in bytes, by hourly partials, daily roll-ups, ids, presence."""
        return {
            "hours": sum(p.nbytes() for ps in self._hours.values() for p in ps)
            + sum(p.nbytes() for p in self._packed_hours.values())
            + sum(int(f.estimated_size()) for v in self._zip_views.values() for f in v.values())
            + sum(p.nbytes() for v in self._edge_views.values() for ps in v.values() for p in ps),
            "days": sum(p.nbytes() for _, p in self._days.values())
            + sum(p.nbytes() for _, p in self._packed_days.values()),
            "event_ids": sum(int(s.estimated_size()) for s in self._ids.values())
            + sum(p.nbytes() for p in self._packed_ids.values()),
            "presence": self._presence.nbytes(),
        }
