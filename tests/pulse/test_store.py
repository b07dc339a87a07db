"""One suite for both pulse backends: SQLite files and the machine's real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import redis
from polars.testing import assert_frame_equal

from tailguard.errors import InvalidInputError
from tailguard.metrics.kpis import KPI_IDS
from tailguard.pulse import PulseStore

T = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "sqlite-bare", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PulseStore]:
    """A fresh pulse store of each backend, cleaned up afterwards."""
    if request.param == "sqlite":
        s = PulseStore.open(f"sqlite:///{tmp_path / 'pulse.db'}")
        yield s
        s.close()
        return
    if request.param == "sqlite-bare":
        s = PulseStore.open(str(tmp_path / "pulse.db"))
        yield s
        s.close()
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("unique_prefix")
    s = PulseStore.open(f"{url}?prefix={prefix}")
    yield s
    s.close()
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def card(areas: list[str], base: float) -> pl.DataFrame:
    """A scorecard with every KPI column, one null per area."""
    data: dict[str, object] = {"area_id": areas}
    for i, k in enumerate(KPI_IDS):
        data[k] = [
            None if j == i % (len(areas) + 1) else base + i + 0.25 * j for j in range(len(areas))
        ]
    return pl.DataFrame(data, schema={"area_id": pl.String, **dict.fromkeys(KPI_IDS, pl.Float64)})


def test_latest_returns_the_newest_row_per_area(store: PulseStore) -> None:
    """After several ticks, latest() holds each area's newest row with nulls kept."""
    store.write(T, card(["PA-1", "PA-2"], 1.0))
    store.write(T + timedelta(hours=1), card(["PA-1", "PA-2"], 2.0))
    got = store.latest()
    want = (
        card(["PA-1", "PA-2"], 2.0)
        .with_columns(pl.lit(T + timedelta(hours=1)).cast(pl.Datetime("us", "UTC")).alias("as_of"))
        .select("area_id", "as_of", *KPI_IDS)
    )
    assert_frame_equal(got, want)


def test_an_older_write_does_not_replace_latest(store: PulseStore) -> None:
    """Writing an earlier tick (a recomputation) updates history but not latest."""
    store.write(T, card(["PA-1"], 5.0))
    store.write(T - timedelta(hours=3), card(["PA-1"], 1.0))
    assert store.latest()["as_of"].to_list() == [T]
    assert store.history(area_id="PA-1")["as_of"].to_list() == [T - timedelta(hours=3), T]


def test_history_filters_by_area_and_time(store: PulseStore) -> None:
    """history() returns rows in [since, until] for one area or all, sorted."""
    for h in range(5):
        store.write(T + timedelta(hours=h), card(["PA-1", "PA-2"], float(h)))
    everything = store.history()
    assert everything.height == 10
    assert everything.columns == ["area_id", "as_of", *KPI_IDS]
    some = store.history(area_id="PA-2", since=T + timedelta(hours=1), until=T + timedelta(hours=3))
    assert some["as_of"].to_list() == [T + timedelta(hours=h) for h in (1, 2, 3)]
    assert some["area_id"].unique().to_list() == ["PA-2"]
    assert some["lateness_p90_min"].to_list() == [h + 2 + 0.25 for h in (1.0, 2.0, 3.0)]
    assert some["nps_p90"].to_list() == [None, None, None]


def test_rewriting_a_tick_replaces_it(store: PulseStore) -> None:
    """The same (area, as_of) written twice is stored once, with the newer values."""
    store.write(T, card(["PA-1"], 1.0))
    store.write(T, card(["PA-1"], 9.0))
    hist = store.history()
    assert hist.height == 1
    assert hist["nps_p90"].item() == 10.0


def test_empty_store_answers_empty_frames(store: PulseStore) -> None:
    """A store with nothing written returns empty frames with the KPI columns."""
    assert store.latest().height == 0
    assert store.history().columns == ["area_id", "as_of", *KPI_IDS]


def test_unknown_scheme_is_refused() -> None:
    """A URL of an unsupported backend is an input error."""
    with pytest.raises(InvalidInputError):
        PulseStore.open("mongodb://x")
