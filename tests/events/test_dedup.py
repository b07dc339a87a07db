"""De-duplication by event_id: first copy wins, memory stays bounded."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.events import Deduplicator, synthetic_events


def _ids(ids: list[str]) -> pa.Table:
    return pa.table({"event_id": ids, "n": list(range(len(ids)))})


def test_repeats_within_and_across_batches_are_dropped_first_wins() -> None:
    """A repeated id is dropped whether it repeats inside a batch or in a later one."""
    dedup = Deduplicator()
    first = dedup(_ids(["a", "b", "a", "c"]))
    second = dedup(_ids(["c", "d", "b"]))
    assert first.column("n").to_pylist() == [0, 1, 3]
    assert second.column("event_id").to_pylist() == ["d"]
    assert dedup.duplicates == 3


def test_memory_is_bounded_by_capacity() -> None:
    """Never more than ``capacity`` ids are held; the last capacity/2 are always caught."""
    dedup = Deduplicator(capacity=100)
    for start in range(0, 1_000, 30):
        dedup(_ids([f"id{i}" for i in range(start, start + 30)]))
        assert dedup.remembered <= 100
    recent = dedup(_ids([f"id{i}" for i in range(950, 1_000)]))
    assert recent.num_rows == 0
    ancient = dedup(_ids(["id0"]))
    assert ancient.num_rows == 1


def test_redelivered_synthetic_batch_counts_once() -> None:
    """Feeding the same events twice keeps them once and counts every repeat."""
    table = synthetic_events(1_000, seed=4)
    dedup = Deduplicator()
    assert dedup(table).equals(table)
    assert dedup(table).num_rows == 0
    assert dedup.duplicates == 1_000


@settings(max_examples=80, deadline=None)
@given(
    batches=st.lists(st.lists(st.sampled_from("abcdefghij"), max_size=12), max_size=6),
    capacity=st.integers(min_value=30, max_value=40),
)
def test_dedup_matches_a_plain_set_when_within_capacity(
    batches: list[list[str]], capacity: int
) -> None:
    """Below capacity, the output equals first-occurrence filtering with an unbounded set."""
    dedup = Deduplicator(capacity=capacity)
    seen: set[str] = set()
    for ids in batches:
        expected = []
        for i in ids:
            if i not in seen:
                seen.add(i)
                expected.append(i)
        assert dedup(_ids(ids)).column("event_id").to_pylist() == expected
