"""The incremental engine agrees with the exact Polars reference on every KPI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from tailguard.metrics.engine import ScorecardEngine
from tailguard.metrics.exact import exact_scorecard
from tailguard.metrics.kpis import KPI_IDS
from tailguard.metrics.synthetic import synthetic_events

START = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def week() -> pa.Table:
    """Nine days of synthetic events for 12 areas."""
    return synthetic_events(areas=12, days=9, start=START, seed=7)


def _ingest_shuffled(engine: ScorecardEngine, tab: pa.Table, *, seed: int, batches: int) -> None:
    order = np.random.default_rng(seed).permutation(tab.num_rows)
    shuffled = tab.take(pa.array(order))
    for chunk in np.array_split(np.arange(tab.num_rows), batches):
        engine.ingest(shuffled.slice(int(chunk[0]), len(chunk)))


@pytest.mark.parametrize(
    ("window_days", "offset_hours"),
    [(7, 0), (7, 5), (7, 17), (3, 11), (1, 0), (1, 13)],
)
def test_engine_matches_exact_on_synthetic_week(
    week: pa.Table, window_days: int, offset_hours: int
) -> None:
    """Every KPI equals the exact value for windows ending on and off day boundaries."""
    as_of = START + timedelta(days=8, hours=offset_hours)
    engine = ScorecardEngine(window_days)
    _ingest_shuffled(engine, week, seed=offset_hours, batches=9)
    got = engine.scorecard(as_of)
    want = exact_scorecard(week, as_of, window_days)
    assert got.columns == ["area_id", *KPI_IDS]
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    assert got.drop("area_id").null_count().sum_horizontal().item() == 0


def test_successive_ticks_match_exact(week: pa.Table) -> None:
    """Ingesting hour by hour and scoring each tick matches the exact answer at every tick."""
    engine = ScorecardEngine(7)
    frame = pl.from_arrow(week)
    assert isinstance(frame, pl.DataFrame)
    first = START + timedelta(days=7)
    engine.ingest(frame.filter(pl.col("ts") <= first))
    for k in range(0, 30, 7):
        as_of = first + timedelta(hours=k)
        engine.ingest(
            frame.filter((pl.col("ts") > as_of - timedelta(hours=7)) & (pl.col("ts") <= as_of))
            if k
            else frame.head(0)
        )
        got = engine.scorecard(as_of)
        want = exact_scorecard(frame.filter(pl.col("ts") <= as_of), as_of)
        assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def test_anchor_allows_an_as_of_off_the_hour(week: pa.Table) -> None:
    """An engine anchored on an arbitrary timestamp answers exactly at that timestamp."""
    as_of = START + timedelta(days=8, hours=3, minutes=17, seconds=5)
    engine = ScorecardEngine(7, anchor=as_of)
    engine.ingest(week)
    assert_frame_equal(
        engine.scorecard(as_of), exact_scorecard(week, as_of), check_exact=False, rel_tol=1e-9
    )


def test_as_of_off_the_grid_is_refused() -> None:
    """A window end that is not on the engine's hour grid is an input error."""
    from tailguard.errors import InvalidInputError

    engine = ScorecardEngine()
    with pytest.raises(InvalidInputError, match="hour grid"):
        engine.scorecard(START + timedelta(minutes=30))
