"""Parquet events: a streaming, vectorised reader and a deterministic writer.

The reader iterates record batches with ``ParquetFile.iter_batches`` (memory is bounded by three
decoded pieces: one validated, one queued, one decoding on a thread) and validates each with
:func:`~tailguard.events.tables.validate_table`'s rules, so narrow per-type files, wide files
and files with missing or extra columns all load. A file that breaks mid-way becomes a dead letter
for the rest; one Arrow cannot read at all (truncated, not Parquet) is also an
:class:`~tailguard.errors.UnreadableInputError` once its dead letter is written.

The writer fixes every option that affects the bytes (zstd level 3, dictionary encoding,
statistics, format version, data page size) and cuts row groups at a fixed row count however the
caller batches its writes, so the same events always give the same file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from tailguard.errors import UnreadableInputError
from tailguard.events.ahead import read_ahead
from tailguard.events.schema import WIDE_SCHEMA
from tailguard.events.tables import reject_rows
from tailguard.events.validate import Rejects

#: Rows per row group in files we write (bounded writer memory; also the reader's unit).
ROW_GROUP_ROWS: Final = 131_072
#: The most rows the reader decodes at once (memory: one such piece plus its valid rows).
READ_ROWS: Final = 262_144

WRITER_OPTIONS: Final[dict[str, Any]] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_size": 1 << 20,
    "data_page_version": "1.0",
    "store_schema": True,
}


def iter_parquet(path: Path, rejects: Rejects, *, batch_size: int) -> Iterator[pa.Table]:
    """Yield validated wide tables of at most ``batch_size`` events from a Parquet file."""
    row = 1
    try:
        reader = pq.ParquetFile(path)
        # Decode whole row groups (up to READ_ROWS) with a thread per column, then hand out
        # slices of at most batch_size: decoding in smaller pieces costs more than validating.
        groups = reader.metadata.num_row_groups
        group_rows = reader.metadata.row_group(0).num_rows if groups else 0
        unit = max(batch_size, min(group_rows, READ_ROWS))
        # The next piece decodes on a thread while this one is validated.
        batches = read_ahead(reader.iter_batches(batch_size=unit, use_threads=True), depth=1)
    except Exception as exc:
        reason = f"unreadable Parquet file: {_word(exc)}"
        rejects.add(line=None, reason=reason, raw="")
        rejects.end_batch()
        # Nothing of the file can be used: an error, not an empty result (the dead letter
        # keeps the detail).
        raise UnreadableInputError(f"{path}: {reason}") from None
    try:
        with reader:
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except Exception as exc:
                    reason = f"unreadable Parquet data from row {row}: {_word(exc)}"
                    rejects.add(line=None, reason=reason, raw="")
                    if row == 1:
                        rejects.end_batch()
                        raise UnreadableInputError(f"{path}: {reason}") from None
                    break
                try:
                    table = reject_rows(batch, rejects, first_row=row)
                except Exception as exc:
                    rejects.add(
                        line=None,
                        reason=f"rows {row}-{row + batch.num_rows - 1} unusable: {_word(exc)}",
                        raw="",
                    )
                    table = WIDE_SCHEMA.empty_table()
                row += batch.num_rows
                rejects.end_batch()
                for start in range(0, table.num_rows, batch_size):
                    yield table.slice(start, batch_size)
    finally:
        batches.close()  # stops the decoding thread before the file closes
        rejects.end_batch()


def _word(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class ParquetWriter:
    """Writes wide tables to a Parquet file in fixed-size row groups."""

    def __init__(self, path: Path, *, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.path = path
        self.rows_written = 0
        self._row_group_rows = row_group_rows
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer = pq.ParquetWriter(str(path), WIDE_SCHEMA, **WRITER_OPTIONS)

    def write(self, table: pa.Table) -> None:
        """Buffer one wide table; full row groups are written as they fill."""
        if table.num_rows == 0:
            return
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows_written += table.num_rows
        if self._pending_rows >= self._row_group_rows:
            self._drain(final=False)

    def _drain(self, *, final: bool) -> None:
        data = pa.concat_tables(self._pending).combine_chunks()
        size = self._row_group_rows
        full = data.num_rows // size * size
        end = data.num_rows if final else full
        for start in range(0, end, size):
            chunk = data.slice(start, min(size, end - start))
            self._writer.write_table(chunk, row_group_size=size)
        rest = data.slice(end)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def close(self) -> None:
        """Write the last partial row group and the footer."""
        if self._pending_rows:
            self._drain(final=True)
        self._writer.close()
