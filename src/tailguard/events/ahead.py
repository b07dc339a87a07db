"""Compute the next items of an iterator on a thread while the caller uses this one.

Arrow and Polars release the GIL in their kernels, so on two cores a Parquet decode (or a whole
read-and-validate) overlaps the work done on the previous batch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar, cast

T = TypeVar("T")


def read_ahead(items: Iterator[T], *, depth: int) -> Generator[T, None, None]:
    """Yield ``items`` while a thread computes up to ``depth`` of the next ones.

    Memory is bounded by ``depth`` items; an exception in the producer is raised here, at the
    point of the item it replaced; a consumer that stops early stops the producer.
    """
    slots: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((False, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            more, value = slots.get()
            if not more:
                if isinstance(value, BaseException):
                    raise value
                return
            yield cast(T, value)
    finally:
        stop.set()
        worker.join()
