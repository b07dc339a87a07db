"""JSON Lines events: a streaming reader with bounded memory and a deterministic writer.

The reader takes the file line by line (a line longer than ``max_line_bytes`` is rejected
without being held whole), parses each with the standard ``json`` module and validates
``batch_size`` lines at a time, so memory is bounded by one batch. The writer turns a wide
table into one JSON object per event with Polars' vectorised struct encoder: common fields,
then the type's own fields in INTERFACES.md order (nullable ones written as ``null``), then the
extra fields in sorted order; timestamps are RFC 3339 UTC with a ``Z``.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final, cast

import polars as pl
import pyarrow as pa

from tailguard.errors import UnreadableInputError
from tailguard.events._rules import COMMON_NAMES, KINDS
from tailguard.events.schema import TYPE_FIELDS, WIDE_SCHEMA
from tailguard.events.validate import Rejects, check_records

#: Lines longer than this are rejected unread (1 MiB; an event is a few hundred bytes).
MAX_LINE_BYTES: Final = 1 << 20


def iter_jsonl(
    path: Path,
    rejects: Rejects,
    *,
    batch_size: int,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[pa.Table]:
    """Yield validated wide tables of at most ``batch_size`` events from a JSONL(.gz) file."""
    with path.open("rb") as raw:
        stream = cast(IO[bytes], gzip.GzipFile(fileobj=raw) if path.name.endswith(".gz") else raw)
        batch: list[tuple[int | None, str]] = []
        lineno = 0
        try:
            while True:
                chunk = stream.readline(max_line_bytes + 1)
                if not chunk:
                    break
                lineno += 1
                if len(chunk) > max_line_bytes and not chunk.endswith(b"\n"):
                    size = len(chunk) + _skip_rest_of_line(stream, max_line_bytes)
                    rejects.add(
                        line=lineno,
                        reason=f"line longer than {max_line_bytes} bytes ({size} bytes)",
                        raw=chunk[:1024].decode("utf-8", errors="backslashreplace"),
                    )
                    continue
                try:
                    # utf-8-sig on line 1 drops a byte-order mark some editors write.
                    text = chunk.decode("utf-8-sig" if lineno == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    rejects.add(
                        line=lineno,
                        reason=f"invalid UTF-8: {exc}",
                        raw=chunk.decode("utf-8", errors="backslashreplace").rstrip("\r\n"),
                    )
                    continue
                text = text.rstrip("\r\n")
                if not text.strip():
                    continue  # blank lines separate nothing and carry no event
                batch.append((lineno, text))
                if len(batch) >= batch_size:
                    table = check_records(batch, rejects)
                    rejects.end_batch()
                    batch = []
                    if table.num_rows:
                        yield table
        except (OSError, EOFError, zlib.error) as exc:
            # A corrupt or truncated gzip stream: keep what was read, record why it stopped.
            reason = f"unreadable compressed stream: {exc}"
            rejects.add(line=lineno + 1, reason=reason, raw="")
            if lineno == 0:
                # Not one line could be read: an error, not an empty result (the dead
                # letter keeps the detail).
                rejects.end_batch()
                raise UnreadableInputError(f"{path}: {reason}") from None
        table = check_records(batch, rejects)
        rejects.end_batch()
        if table.num_rows:
            yield table


def _skip_rest_of_line(stream: IO[bytes], limit: int) -> int:
    skipped = 0
    while True:
        more = stream.readline(limit + 1)
        skipped += len(more)
        if not more or more.endswith(b"\n"):
            return skipped


def _ts_text(name: str) -> pl.Expr:
    col = pl.col(name)
    # format_ts spelling: fraction only when there is one, always a Z.
    return (
        pl.when(col.dt.microsecond() == 0)
        .then(col.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        .otherwise(col.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        .alias(name)
    )


def encode_jsonl(table: pa.Table) -> bytes:
    """The JSON Lines bytes of a wide table (one line per event, each ending in a newline)."""
    if table.num_rows == 0:
        return b""
    frame = pl.from_arrow(table.select(WIDE_SCHEMA.names))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_row_index("_row").with_columns(
        [_ts_text(name) for name, kind in KINDS.items() if kind == "ts"]
    )
    parts: list[pl.DataFrame] = []
    for event_type, fields in TYPE_FIELDS.items():
        rows = frame.filter(pl.col("type") == event_type)
        if rows.height == 0:
            continue
        encoded = pl.struct([*COMMON_NAMES, *fields]).struct.json_encode()
        extra = pl.col("extra")
        # Splice the extra object's members in after the known fields: '{...}' + ',' + '...}'.
        has_extra = extra.is_not_null() & (extra.str.len_bytes() > 2)
        line = (
            pl.when(has_extra)
            .then(encoded.str.head(-1) + pl.lit(",") + extra.str.tail(-1))
            .otherwise(encoded)
        )
        parts.append(rows.select(pl.col("_row"), line.alias("line")))
    lines = pl.concat(parts).sort("_row")["line"]
    text: str = lines.str.join("\n").item()
    return (text + "\n").encode("utf-8")


class JsonlWriter:
    """Writes wide tables to a JSON Lines file, batch by batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw: IO[bytes] | None = None
        self._file: IO[bytes] | None = None
        self.rows_written = 0

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self._raw = raw = self.path.open("wb")
            # mtime=0 and no file name in the header: the same events give the same bytes.
            self._file = cast(
                IO[bytes],
                gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0)
                if self.path.name.endswith(".gz")
                else raw,
            )
        return self._file

    def write(self, table: pa.Table) -> None:
        """Append one wide table."""
        self._open().write(encode_jsonl(table))
        self.rows_written += table.num_rows

    def close(self) -> None:
        """Close the file (creating it empty if nothing was written)."""
        file = self._open()
        file.close()
        if self._raw is not None and self._raw is not file:
            self._raw.close()
