"""Packing the scorecard state a tick does not read changes no answer (issue 19).

The engine packs hours, event ids and day roll-ups into zstd Arrow IPC between advances; an
engine that packs and one that never does (``pack=False``) must give bit-identical scorecards,
drill-downs, windows and duplicate counts on the same batches, late and duplicated ones
included, while the packing one holds much less.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from tailguard.metrics.engine import ScorecardEngine
from tailguard.metrics.packing import (
    pack_ids,
    pack_pieces,
    unpack_frames,
    unpack_ids,
    unpack_pieces,
)
from tailguard.metrics.partials import Partial, hour_partials, merge_partials
from tailguard.metrics.synthetic import synthetic_events

START = datetime(2026, 1, 5, tzinfo=UTC)
HOUR_US = 3_600_000_000


def _hourly(tab: pa.Table) -> list[pa.Table]:
    """The table cut into hourly batches (right-closed hours from START)."""
    frame = pl.from_arrow(tab)
    assert isinstance(frame, pl.DataFrame)
    start_us = int(START.timestamp()) * 1_000_000
    h = -((start_us - pl.col("ts").dt.epoch("us")) // HOUR_US)
    parts = frame.with_columns(h.alias("_h")).partition_by("_h", as_dict=True)
    return [parts[(k,)].drop("_h").to_arrow() for k in sorted(k[0] for k in parts)]


@pytest.fixture(scope="module")
def days() -> pa.Table:
    """Eleven days of synthetic events for 6 areas."""
    return synthetic_events(areas=6, days=11, start=START, seed=11, techs_per_area=8)


def _assert_partials_equal(a: Partial, b: Partial) -> None:
    for kind in ("counts", "techs", "zips", "skus"):
        assert_frame_equal(getattr(a, kind), getattr(b, kind), check_exact=True)
    for kind in ("lateness", "parts", "lead"):
        assert_frame_equal(getattr(a, kind).values, getattr(b, kind).values, check_exact=True)
        assert set(getattr(a, kind).sketches) == set(getattr(b, kind).sketches)


def test_pack_round_trip_keeps_every_piece_and_row(days: pa.Table) -> None:
    frame = pl.from_arrow(days.slice(0, 4000))
    assert isinstance(frame, pl.DataFrame)
    h = -((-frame["ts"].dt.epoch("us")) // HOUR_US)
    frame = frame.with_columns(h.alias("h"))
    first = hour_partials(frame.head(2500))
    second = hour_partials(frame.tail(1500))
    hours: dict[int, list[Partial]] = {k: [v] for k, v in first.items()}
    for k, v in second.items():
        hours.setdefault(k, []).append(v)
    day = merge_partials([p for ps in hours.values() for p in ps], sketch_threshold=5)
    hours[-1] = [day]  # a roll-up with sketches packs too
    assert any(day.lateness.sketches.values()) or any(day.parts.sketches.values())
    packed = pack_pieces(hours)
    back = unpack_pieces(packed)
    assert sorted(back) == sorted(hours)
    for k, pieces in hours.items():
        assert len(back[k]) == len(pieces)
        for a, b in zip(pieces, back[k], strict=True):
            _assert_partials_equal(a, b)
    some = sorted(hours)[:2]
    assert sorted(unpack_pieces(packed, set(some))) == some
    zips = unpack_frames(packed, "zips")
    assert set(zips) == {k for k, ps in hours.items() if len(ps) == 1}
    for k, z in zips.items():
        assert_frame_equal(z, hours[k][0].zips, check_exact=True)
    ids = {k: frame.filter(pl.col("h") == k)["event_id"] for k in sorted(first)}
    ids[10**6] = frame["event_id"].clear()
    got = unpack_ids(pack_ids(ids))
    assert list(got) == list(ids)
    for k, s in ids.items():
        assert got[k].to_list() == s.to_list()


def test_packing_engine_answers_like_one_that_never_packs(days: pa.Table) -> None:
    batches = _hourly(days)
    packing = ScorecardEngine(7, exact_threshold=40)
    plain = ScorecardEngine(7, exact_threshold=40, pack=False)
    checked = 0
    for i, batch in enumerate(batches):
        # re-deliveries of the last hour and of a day ago, late events for a packed day and
        # for hours no longer retained
        extra = [batch]
        for back, n in ((1, 40), (30, 80), (24 * 8, 30), (24 * 9 + 5, 20)):
            if i >= back:
                extra.append(batches[i - back].slice(0, n))
        for engine in (packing, plain):
            for b in extra:
                engine.ingest(b)
        as_of = START + timedelta(hours=i + 1)
        if i < 48 or i % 11 not in (0, 5):
            continue
        checked += 1
        assert_frame_equal(packing.scorecard(as_of), plain.scorecard(as_of), check_exact=True)
        for unit in ("tech", "zip", "sku"):
            assert_frame_equal(
                packing.units(as_of, unit), plain.units(as_of, unit), check_exact=True
            )
        back = as_of - timedelta(hours=31)
        assert_frame_equal(
            packing.window(back, days=5).techs.sort("area_id", "tech_id"),
            plain.window(back, days=5).techs.sort("area_id", "tech_id"),
            check_exact=True,
        )
        assert (packing.duplicates, packing.expired, packing.ingested) == (
            plain.duplicates,
            plain.expired,
            plain.ingested,
        )
    assert checked > 30
    assert packing.duplicates > 0
    assert packing.expired > 0
    # two quiet hours: what the late batches unpacked is packed again
    for k in (1, 2):
        end = START + timedelta(hours=len(batches) + k)
        assert_frame_equal(packing.scorecard(end), plain.scorecard(end), check_exact=True)
    # hours and ids shrink (the days here are mostly KLL sketches, kept as they are)
    held, full = packing.nbytes(), plain.nbytes()
    assert held["hours"] + held["event_ids"] < 0.6 * (full["hours"] + full["event_ids"])
    assert held["days"] <= 1.1 * full["days"]
