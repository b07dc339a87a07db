"""JSON Lines events: a streaming reader with bounded memory and a deterministic writer.

The reader takes the file in chunks of bytes, split into lines (a line longer than
``max_line_bytes`` is rejected without being held whole), and validates ``batch_size`` lines at
a time (:mod:`tailguard.events.lines`: lines of the common shape in bulk with Polars, the rest
parsed one by one with orjson, or the standard ``json`` module where orjson would differ), so
memory is bounded by one batch plus one chunk. The writer turns a wide
table into one JSON object per event with Polars' vectorised struct encoder: common fields,
then the type's own fields in INTERFACES.md order (nullable ones written as ``null``), then the
extra fields in sorted order; timestamps are RFC 3339 UTC with a ``Z``.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from operator import methodcaller
from pathlib import Path
from typing import IO, Final, cast

import polars as pl
import pyarrow as pa

from tailguard.errors import UnreadableInputError
from tailguard.events._rules import COMMON_NAMES, KINDS
from tailguard.events.lines import check_lines
from tailguard.events.schema import TYPE_FIELDS, WIDE_SCHEMA
from tailguard.events.validate import Rejects

#: Lines longer than this are rejected unread (1 MiB; an event is a few hundred bytes).
MAX_LINE_BYTES: Final = 1 << 20


#: Bytes read at once: plain files in large chunks, gzip in small ones (a corrupt stream loses
#: at most one chunk's lines).
_CHUNK: Final = 1 << 20
_GZIP_CHUNK: Final = 1 << 16
_BOM: Final = b"\xef\xbb\xbf"


class _Lines:
    """Splits a byte stream into numbered lines, chunk by chunk, never holding a long line.

    Each :meth:`feed` returns the complete lines of a chunk as ``(line number, bytes)``
    (without the newline); lines longer than ``max_line_bytes`` become rejects instead, with
    their size and first KiB.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max = max_line_bytes
        self.lineno = 0
        self.carry = b""
        self.skipped: int | None = None  # bytes of an over-long line seen so far
        self.head = b""
        self.rejects: list[tuple[int, str, str]] = []

    def _long(self, size: int) -> None:
        self.lineno += 1
        raw = self.head[:1024].decode("utf-8", errors="backslashreplace")
        self.rejects.append((self.lineno, f"line longer than {self.max} bytes ({size} bytes)", raw))
        self.skipped = None
        self.head = b""

    def feed(self, chunk: bytes) -> list[tuple[int, list[bytes]]]:
        """The complete lines of a chunk, as runs of ``(first line number, lines)``."""
        parts = chunk.split(b"\n")
        tail = parts.pop()  # not yet ended by a newline
        out: list[tuple[int, list[bytes]]] = []
        if parts:
            first = parts[0]
            if self.skipped is not None:
                self._long(self.skipped + len(first) + 1)
                parts = parts[1:]
            else:
                parts[0] = self.carry + first
            self.carry = b""
            if parts and max(map(len, parts)) <= self.max:
                out = [(self.lineno + 1, parts)]
                self.lineno += len(parts)
            else:
                for part in parts:
                    if len(part) > self.max:
                        self.head = part
                        self._long(len(part) + 1)
                    else:
                        self.lineno += 1
                        out.append((self.lineno, [part]))
        if self.skipped is not None:
            self.skipped += len(tail)
        else:
            self.carry += tail
            if len(self.carry) > self.max:
                self.head, self.skipped, self.carry = self.carry[:1024], len(self.carry), b""
        return out

    def close(self) -> list[tuple[int, list[bytes]]]:
        """The last line, if the stream does not end with a newline."""
        if self.skipped is not None:
            self._long(self.skipped)
            return []
        if not self.carry:
            return []
        self.lineno += 1
        line, self.carry = self.carry, b""
        return [(self.lineno, [line])]


def _texts(
    runs: list[tuple[int, list[bytes]]], rejects: list[tuple[int, str, str]]
) -> tuple[list[int], list[str]]:
    """Decode runs of lines (UTF-8; a BOM on line 1 is dropped), keeping the non-blank ones.

    Returns:
        The line numbers and the texts (without the line end).
    """
    numbers: list[int] = []
    texts: list[str] = []
    for first, lines in runs:
        if first == 1 and lines and lines[0].startswith(_BOM):
            lines = [lines[0][3:], *lines[1:]]
        try:
            decoded = b"\n".join(lines).decode("utf-8").split("\n")
            numbers.extend(range(first, first + len(lines)))
            texts.extend(decoded)
        except UnicodeDecodeError:
            for n, line in enumerate(lines, first):
                try:
                    texts.append(line.decode("utf-8"))
                    numbers.append(n)
                except UnicodeDecodeError as exc:
                    raw = line.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
                    rejects.append((n, f"invalid UTF-8: {exc}", raw))
    if any(map(methodcaller("endswith", "\r"), texts)):
        texts = [text.rstrip("\r\n") for text in texts]
    if "" in texts or any(map(str.isspace, texts)):
        kept = [
            (n, text) for n, text in zip(numbers, texts, strict=True) if text and not text.isspace()
        ]
        numbers = [n for n, _ in kept]
        texts = [text for _, text in kept]
    return numbers, texts


def iter_jsonl(
    path: Path,
    rejects: Rejects,
    *,
    batch_size: int,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[pa.Table]:
    """Yield validated wide tables of at most ``batch_size`` events from a JSONL(.gz) file.

    The bytes are read in chunks, split and decoded a chunk at a time; each batch of lines is
    validated by :func:`~tailguard.events.lines.check_lines` (the common line shape in bulk,
    the rest line by line with orjson).
    """
    gz = path.name.endswith(".gz")
    splitter = _Lines(max_line_bytes)
    numbers: list[int] = []  # the pending lines' numbers and texts
    texts: list[str] = []
    early: list[tuple[int, str, str]] = []  # rejects found while reading, by line

    def check(batch: tuple[list[int], list[str]], last: int | None) -> pa.Table:
        nonlocal early
        keep = []
        for n, reason, raw in early:
            if last is None or n <= last:
                rejects.add(line=n, reason=reason, raw=raw)
            else:
                keep.append((n, reason, raw))
        early = keep
        table = check_lines(*batch, rejects)
        rejects.end_batch()
        return table

    with path.open("rb") as raw:
        stream = cast(IO[bytes], gzip.GzipFile(fileobj=raw) if gz else raw)
        size = _GZIP_CHUNK if gz else _CHUNK
        try:
            while True:
                chunk = stream.read(size)
                lines = splitter.feed(chunk) if chunk else splitter.close()
                early.extend(splitter.rejects)
                splitter.rejects = []
                if lines:
                    more_numbers, more_texts = _texts(lines, early)
                    numbers.extend(more_numbers)
                    texts.extend(more_texts)
                while len(texts) >= batch_size:
                    batch = (numbers[:batch_size], texts[:batch_size])
                    numbers, texts = numbers[batch_size:], texts[batch_size:]
                    table = check(batch, batch[0][-1])
                    if table.num_rows:
                        yield table
                if not chunk:
                    break
        except (OSError, EOFError, zlib.error) as exc:
            # A corrupt or truncated gzip stream: keep what was read, record why it stopped.
            reason = f"unreadable compressed stream: {exc}"
            early.append((splitter.lineno + 1, reason, ""))
            if splitter.lineno == 0:
                # Not one line could be read: an error, not an empty result (the dead
                # letter keeps the detail).
                check(([], []), None)
                raise UnreadableInputError(f"{path}: {reason}") from None
        table = check((numbers, texts), None)
        if table.num_rows:
            yield table


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
