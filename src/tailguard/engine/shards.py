"""One shard: a :class:`ScorecardEngine` for the areas it owns, and how the coordinator calls it.

A shard is called by method name and answers in call order. Three transports, one server:

- :class:`InlineShard`: in the caller's process (the agents-off arm's copy; tests).
- :class:`ProcessShard`: a worker process of this machine, over a pipe (``LocalEngine``
  with more than one shard).
- a Ray actor (:mod:`tailguard.engine.rayengine`), on this machine or a cluster.

A call returns a :class:`Reply` at once; :meth:`Reply.get` waits for it. The coordinator
therefore sends the same call to every shard before waiting for any, and may send calls it
will need later (the drill-downs after a scorecard) so the shards work while it does.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
from datetime import datetime
from typing import Any, Protocol

from tailguard.metrics import ScorecardEngine

__all__ = ["InlineShard", "ProcessShard", "Reply", "Shard", "ShardServer"]


class ShardServer:
    """The shard's side: its areas' scorecard state and the methods the coordinator calls."""

    def __init__(self, state: ScorecardEngine) -> None:
        self.state = state
        self.feed: Any = None

    def call(self, method: str, *args: Any) -> Any:
        """Run ``method`` on the shard's state (names are this class's ``_m_`` methods)."""
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            raise ValueError(f"a shard has no method {method!r}")
        return handler(*args)

    def _m_ingest(self, frame: Any) -> int:
        return self.state.ingest(frame)

    def _m_advance(self, as_of: datetime) -> None:
        self.state.advance(as_of)

    def _m_scorecard(self, as_of: datetime) -> Any:
        return self.state.scorecard(as_of)

    def _m_units(self, as_of: datetime, unit: Any) -> Any:
        return self.state.units(as_of, unit)

    def _m_window(self, as_of: datetime, days: int | None) -> Any:
        return self.state.window(as_of, days=days)

    def _m_areas(self) -> Any:
        return self.state.areas()

    def _m_duplicates(self) -> int:
        return self.state.duplicates

    def _m_export(self) -> ScorecardEngine:
        return self.state

    def _m_nbytes(self) -> dict[str, int]:
        return self.state.nbytes()

    def _m_pid(self) -> tuple[int, str]:
        return os.getpid(), os.uname().nodename

    def _m_attach(self, url: str) -> int:
        """Read this shard's own stream from now on; first rebuild the state from it."""
        from tailguard.engine.streams import StreamFeed

        if self.feed is not None:
            self.feed.close()
        self.feed = StreamFeed(url, self.state)
        return int(self.feed.rebuild())

    def _m_pump(self) -> int:
        if self.feed is None:
            raise ValueError("this shard reads no stream (attach it first)")
        return int(self.feed.pump())


class Reply(Protocol):
    """A call's answer, once it comes."""

    def get(self) -> Any:
        """Wait for the answer (a failure in the shard is raised here)."""
        ...


class Shard(Protocol):
    """A shard as the coordinator sees it."""

    def call(self, method: str, *args: Any) -> Reply:
        """Send a call; answers come in call order."""
        ...

    def close(self) -> None:
        """Stop the shard (its state is lost unless exported first)."""
        ...


class _Done:
    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def get(self) -> Any:
        return self._value


class InlineShard:
    """A shard in the caller's process: each call runs at once."""

    def __init__(self, state: ScorecardEngine) -> None:
        self.server = ShardServer(state)

    def call(self, method: str, *args: Any) -> Reply:
        """Run the call now."""
        return _Done(self.server.call(method, *args))

    def close(self) -> None:
        """Nothing to stop."""


class _Failed:
    """An exception raised in a worker process, carried back to the caller."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _serve(conn: multiprocessing.connection.Connection, state: ScorecardEngine) -> None:
    """A worker process's loop: answer calls in order until the pipe closes."""
    server = ShardServer(state)
    while True:
        try:
            method, args = conn.recv()
        except EOFError:
            return
        try:
            answer: Any = server.call(method, *args)
        except Exception as exc:  # carried back to the caller, who raises it
            answer = _Failed(exc)
        conn.send(answer)


class _Pending:
    __slots__ = ("_seq", "_shard")

    def __init__(self, shard: ProcessShard, seq: int) -> None:
        self._shard, self._seq = shard, seq

    def get(self) -> Any:
        return self._shard.answer(self._seq)


class ProcessShard:
    """A shard in a worker process of this machine (spawned: Polars does not survive fork).

    The worker runs one Polars thread: the shards together, not each, use the machine.
    """

    def __init__(self, state: ScorecardEngine) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        before = os.environ.get("POLARS_MAX_THREADS")
        os.environ["POLARS_MAX_THREADS"] = "1"
        try:
            self._proc = ctx.Process(target=_serve, args=(child, state), daemon=True)
            self._proc.start()
        finally:
            if before is None:
                del os.environ["POLARS_MAX_THREADS"]
            else:
                os.environ["POLARS_MAX_THREADS"] = before
        child.close()
        self._sent = 0
        self._received = 0
        self._answers: dict[int, Any] = {}

    def call(self, method: str, *args: Any) -> Reply:
        """Send a call to the worker."""
        self._conn.send((method, args))
        self._sent += 1
        return _Pending(self, self._sent)

    def answer(self, seq: int) -> Any:
        """The answer to call ``seq``, reading the pipe up to it."""
        while seq not in self._answers:
            try:
                got = self._conn.recv()
            except EOFError:
                raise RuntimeError(
                    f"a scorecard shard's process ended (exit code {self._proc.exitcode})"
                ) from None
            self._received += 1
            self._answers[self._received] = got
        got = self._answers.pop(seq)
        if isinstance(got, _Failed):
            raise got.error
        return got

    def kill(self) -> None:
        """End the worker at once, as a crash would (its state is lost; drills and tests)."""
        self._proc.kill()
        self._proc.join()

    def close(self) -> None:
        """Stop the worker."""
        self._conn.close()
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
