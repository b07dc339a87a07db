"""The areas' scorecard state split over shards answers as one engine over every area."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tailguard.engine import (
    AreaRouter,
    LocalEngine,
    ShardedScorecards,
    detach,
    open_engine,
    shard_of,
)
from tailguard.engine.shards import InlineShard
from tailguard.errors import InvalidInputError
from tailguard.metrics import ScorecardEngine
from tailguard.metrics.state import Scorecards
from tailguard.sim import NetworkConfig, Simulator

UNITS = ("tech", "zip", "sku")


def compare_over_days(sharded: Scorecards, *, areas: int = 24, days: int = 3) -> None:
    """Feed one engine and ``sharded`` the same hours; every 6 hours their answers are equal."""
    sim = Simulator(NetworkConfig(areas=areas, seed=11))
    one = ScorecardEngine()
    for h in range(24 * days):
        events = sim.step()
        assert one.ingest(events) == sharded.ingest(events)
        if h % 6 == 5:
            assert_frame_equal(one.scorecard(sim.now), sharded.scorecard(sim.now))
            for unit in UNITS:
                assert_frame_equal(one.units(sim.now, unit), sharded.units(sim.now, unit))
    assert sharded.areas().to_list() == one.areas().to_list()
    assert sharded.duplicates == one.duplicates
    counts = sharded.window(sim.now).counts.sort("area_id")
    assert_frame_equal(one.window(sim.now).counts.sort("area_id"), counts, check_row_order=True)


def test_inline_shards_answer_as_one_engine() -> None:
    """Three shards in this process give the single engine's frames, row for row."""
    state = ShardedScorecards(
        [InlineShard(ScorecardEngine()) for _ in range(3)], prefetch=("tech", "zip", "sku")
    )
    compare_over_days(state)


@pytest.fixture
def two_processes() -> Iterator[LocalEngine]:
    engine = LocalEngine(shards=2)
    yield engine
    engine.close()


def test_worker_process_shards_answer_as_one_engine(two_processes: LocalEngine) -> None:
    """The local engine with two worker processes gives the single engine's frames."""
    state = two_processes.scorecards(prefetch=UNITS)
    assert isinstance(state, ShardedScorecards)
    compare_over_days(state)
    pids = {pid for pid, _host in state.placement()}
    assert len(pids) == 2  # two processes, neither this one
    copy = detach(state)  # the agents-off arm's copy goes on alone
    assert isinstance(copy, ShardedScorecards)
    assert_frame_equal(copy.areas().to_frame(), state.areas().to_frame())


def test_one_local_shard_is_todays_single_engine() -> None:
    """The default engine is one ScorecardEngine in this process (no behaviour change)."""
    engine = open_engine()
    state = engine.scorecards(window_days=5)
    assert type(state) is ScorecardEngine
    assert state.window_days == 5
    assert detach(state) is state
    engine.close()


@pytest.mark.parametrize(
    ("kind", "shards", "address"),
    [("spark", 2, None), ("local", 0, None), ("local", 2, "auto"), ("local", 999, None)],
)
def test_bad_engine_choices_are_refused(kind: str, shards: int, address: str | None) -> None:
    """An unknown engine, a bad shard count or an address without Ray is a clear error."""
    with pytest.raises(InvalidInputError):
        open_engine(kind, shards=shards, address=address)


@settings(max_examples=60, deadline=None)
@given(
    areas=st.lists(st.sampled_from(["A-1", "A-2", "B-7", "zz", "", "Ω-3"]), max_size=40),
    shards=st.integers(min_value=1, max_value=7),
)
def test_router_sends_each_row_to_its_areas_shard_in_order(areas: list[str], shards: int) -> None:
    """Every row reaches exactly the shard of its area, in its original order."""
    frame = pl.DataFrame({"area_id": areas, "i": list(range(len(areas)))})
    parts = AreaRouter(shards).split(frame)
    seen: list[int] = []
    for shard, part in parts.items():
        assert part.columns == ["area_id", "i"]
        assert all(shard_of(a, shards) == shard for a in part["area_id"].to_list())
        assert part["i"].to_list() == sorted(part["i"].to_list())
        seen.extend(part["i"].to_list())
    assert sorted(seen) == list(range(len(areas)))
