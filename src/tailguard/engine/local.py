"""``LocalEngine``: the areas on this machine, in this process or split over worker processes."""

from __future__ import annotations

from collections.abc import Sequence

from tailguard.engine.partition import AreaRouter
from tailguard.engine.sharded import ShardedScorecards
from tailguard.engine.shards import ProcessShard
from tailguard.engine.streams import ShardStreams, shard_bus_url
from tailguard.errors import InvalidInputError
from tailguard.metrics import ScorecardEngine
from tailguard.metrics.state import Scorecards, Unit

__all__ = ["LocalEngine"]


class LocalEngine:
    """The default engine: one batched :class:`ScorecardEngine` for every area (``shards=1``),
    or the areas split over ``shards`` worker processes of this machine; with ``bus`` (a NATS
    or Redis URL) each worker reads its own areas' events from a stream of its own."""

    kind = "local"

    def __init__(self, *, shards: int = 1, bus: str | None = None) -> None:
        AreaRouter(shards)  # checks the count
        if bus is not None:
            if shards < 2:
                raise InvalidInputError("partitioned ingest (a bus) needs at least 2 shards")
            shard_bus_url(bus, 0)  # checks the URL
        self.shards = shards
        self.bus = bus
        self._opened: list[ShardedScorecards] = []

    def scorecards(self, *, window_days: int = 7, prefetch: Sequence[Unit] = ()) -> Scorecards:
        """One engine in this process, or ``shards`` worker processes (each reading its own
        stream when the engine has a bus: :mod:`tailguard.engine.streams`)."""
        if self.shards == 1:
            return ScorecardEngine(window_days)

        def spawn() -> ProcessShard:
            return ProcessShard(ScorecardEngine(window_days))

        state = ShardedScorecards(
            [spawn() for _ in range(self.shards)],
            window_days=window_days,
            prefetch=prefetch,
            streams=None if self.bus is None else ShardStreams(self.bus, self.shards),
            spawn=spawn,
        )
        self._opened.append(state)
        return state

    def close(self) -> None:
        """Stop the worker processes."""
        for state in self._opened:
            state.close()
        self._opened.clear()
