"""Reading and writing event files, the format chosen by the file's suffix.

``.jsonl`` / ``.ndjson`` (optionally ``.gz``) are JSON Lines, ``.parquet`` / ``.pq`` are
Parquet. Readers stream validated wide tables of at most ``batch_size`` events and send every
bad event or line to the dead letter; writers give the same bytes for the same events however
they are batched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Literal

import pyarrow as pa

from tailguard.errors import InvalidInputError, NotFoundError
from tailguard.events.deadletter import DeadLetterSink
from tailguard.events.jsonl import JsonlWriter, iter_jsonl
from tailguard.events.parquet import ParquetWriter, iter_parquet
from tailguard.events.schema import WIDE_SCHEMA
from tailguard.events.validate import Rejects

Format = Literal["jsonl", "parquet"]

_SUFFIXES: dict[str, Format] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson.gz": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def event_format(path: str | Path) -> Format:
    """The event file format named by a path's suffix.

    Raises:
        InvalidInputError: the suffix is not one of ``.jsonl``, ``.jsonl.gz``, ``.ndjson``,
            ``.parquet``, ``.pq``.
    """
    name = Path(path).name.lower()
    for suffix, fmt in sorted(_SUFFIXES.items(), key=lambda item: -len(item[0])):
        if name.endswith(suffix):
            return fmt
    raise InvalidInputError(
        f"{path}: cannot tell the event format from the suffix "
        f"(use one of {', '.join(sorted(_SUFFIXES))})"
    )


def read_events(
    path: str | Path,
    *,
    dead_letter: DeadLetterSink | None = None,
    batch_size: int = 65_536,
) -> Iterator[pa.Table]:
    """Stream the valid events of a file as wide tables of at most ``batch_size`` rows.

    Memory is bounded by one batch (plus, for Parquet, one row group's pages). Bad content
    never raises: each bad event or line goes to ``dead_letter`` with its reason. Without a
    sink, the first batch holding a bad event raises
    :class:`~tailguard.errors.InvalidInputError` instead, so nothing is dropped silently.

    Raises:
        NotFoundError: the file does not exist.
        InvalidInputError: unknown suffix, ``batch_size`` < 1, or (without a sink) bad events.
    """
    file = Path(path)
    fmt = event_format(file)
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    if not file.is_file():
        raise NotFoundError(f"{file}: no such event file")
    rejects = Rejects(dead_letter, str(file))
    if fmt == "jsonl":
        yield from iter_jsonl(file, rejects, batch_size=batch_size)
    else:
        yield from iter_parquet(file, rejects, batch_size=batch_size)


def read_all(path: str | Path, *, dead_letter: DeadLetterSink | None = None) -> pa.Table:
    """All valid events of a file as one wide table (see :func:`read_events`)."""
    tables = list(read_events(path, dead_letter=dead_letter))
    if not tables:
        return WIDE_SCHEMA.empty_table()
    return pa.concat_tables(tables)


def _conform(table: pa.Table | pa.RecordBatch) -> pa.Table:
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if table.schema.equals(WIDE_SCHEMA, check_metadata=False):
        return table
    try:
        return table.select(WIDE_SCHEMA.names).cast(WIDE_SCHEMA)
    except (KeyError, ValueError, pa.ArrowException) as exc:
        raise InvalidInputError(
            f"EventWriter takes tables in the wide event schema: {exc}"
        ) from None


class EventWriter:
    """Writes wide event tables to a ``.jsonl[.gz]`` or ``.parquet`` file, batch by batch.

    The same events give the same bytes however they are split into :meth:`write` calls:
    JSON Lines have a fixed key order and ``Z`` timestamps; Parquet has fixed writer options,
    zstd, fixed-size row groups and no write-time metadata. Use it as a context manager.

    Args:
        path: the output file; its suffix picks the format.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        fmt = event_format(self.path)
        self._sink: JsonlWriter | ParquetWriter = (
            JsonlWriter(self.path) if fmt == "jsonl" else ParquetWriter(self.path)
        )
        self._closed = False

    @property
    def rows_written(self) -> int:
        """How many events have been written so far."""
        return self._sink.rows_written

    def write(self, table: pa.Table | pa.RecordBatch) -> None:
        """Write one table (or record batch) in the wide schema (columns may come in any order).

        Raises:
            InvalidInputError: the table does not fit the wide schema, or the writer is closed.
        """
        if self._closed:
            raise InvalidInputError(f"{self.path}: EventWriter is closed")
        self._sink.write(_conform(table))

    def close(self) -> None:
        """Finish the file; idempotent."""
        if not self._closed:
            self._closed = True
            self._sink.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_events(table_or_batches: pa.Table | Iterable[pa.Table], path: str | Path) -> int:
    """Write a table or an iterable of tables to ``path``; returns the number of events."""
    batches = [table_or_batches] if isinstance(table_or_batches, pa.Table) else table_or_batches
    with EventWriter(path) as writer:
        for batch in batches:
            writer.write(batch)
        return writer.rows_written
