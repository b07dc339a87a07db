"""The read-ahead thread of score_file: order, errors and early stops."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tailguard.errors import InvalidInputError
from tailguard.events.ahead import read_ahead


def _numbers(n: int, fail_at: int | None = None) -> Iterator[int]:
    for i in range(n):
        if i == fail_at:
            raise InvalidInputError(f"bad item {i}")
        yield i


def test_items_come_in_order() -> None:
    assert list(read_ahead(_numbers(50), depth=2)) == list(range(50))


def test_a_producer_error_is_raised_after_the_items_before_it() -> None:
    items = read_ahead(_numbers(20, fail_at=7), depth=2)
    seen = [next(items) for _ in range(7)]
    assert seen == list(range(7))
    with pytest.raises(InvalidInputError, match="bad item 7"):
        next(items)


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    produced: list[int] = []

    def counting() -> Iterator[int]:
        for i in range(1_000):
            produced.append(i)
            yield i

    for item in read_ahead(counting(), depth=2):
        if item == 3:
            break
    assert len(produced) <= 3 + 1 + 2 + 1  # the item taken, the queue, one in hand
