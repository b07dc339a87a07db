"""The dead-letter file: every rejected event or line, with the reason it was rejected.

Nothing that fails validation is dropped silently: it is appended here as one JSON object per
line, ``{"reason", "source", "line", "raw", "at"}``, and counted, so a command can report
``{"count": n, "path": ...}`` and an operator can fix and replay the rejects.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import TracebackType
from typing import IO

from tailguard.clock import Clock, SystemClock, format_ts

#: Longest ``raw`` text kept per reject; a multi-megabyte garbage line is cut, with a marker.
MAX_RAW_CHARS = 65_536


class DeadLetterSink:
    """Appends rejected events to a JSON Lines file, created only when something is rejected.

    The sink is thread-safe and appends (an existing file is never truncated, so earlier
    rejects are never lost). ``path`` is reported even when nothing was written.

    Args:
        path: the dead-letter file.
        clock: where the ``at`` timestamp comes from (defaults to the system clock).
    """

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock: Clock = clock or SystemClock()
        self._count = 0
        self._file: IO[str] | None = None
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """How many rejects this sink has written."""
        return self._count

    def add(self, *, reason: str, raw: str, source: str, line: int | None) -> None:
        """Record one rejected event or line.

        Args:
            reason: why it was rejected, e.g. ``nps 11 out of range 0-10``.
            raw: the rejected text (cut to :data:`MAX_RAW_CHARS`).
            source: where it came from (a file path, a bus name).
            line: its 1-based line (JSONL) or row (Parquet) number, if known.
        """
        if len(raw) > MAX_RAW_CHARS:
            raw = raw[:MAX_RAW_CHARS] + f"...[cut, {len(raw)} chars]"
        record = {
            "reason": reason,
            "source": source,
            "line": line,
            "raw": raw,
            "at": format_ts(self._clock.now()),
        }
        # ensure_ascii keeps lone surrogates from invalid input writable as \\ud800 escapes.
        text = json.dumps(record, ensure_ascii=True) + "\n"
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(text)
            self._count += 1

    def flush(self) -> None:
        """Push written rejects to the file."""
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        """Flush and close the file (if one was created); the sink can still be read."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> DeadLetterSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AlreadyRecorded(DeadLetterSink):
    """A sink for input read a second time (a bus's replay after a restart): its rejects were
    recorded the first time it was read, so they are counted here and not written again."""

    def __init__(self) -> None:
        super().__init__(Path("/dev/null"))

    def add(self, *, reason: str, raw: str, source: str, line: int | None) -> None:
        """Count the reject; write nothing."""
        del reason, raw, source, line
        with self._lock:
            self._count += 1
