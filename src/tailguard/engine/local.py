"""``LocalEngine``: the areas on this machine, in this process or split over worker processes."""

from __future__ import annotations

from collections.abc import Sequence

from tailguard.engine.partition import AreaRouter
from tailguard.engine.sharded import ShardedScorecards
from tailguard.engine.shards import ProcessShard
from tailguard.metrics import ScorecardEngine
from tailguard.metrics.state import Scorecards, Unit

__all__ = ["LocalEngine"]


class LocalEngine:
    """The default engine: one batched :class:`ScorecardEngine` for every area (``shards=1``),
    or the areas split over ``shards`` worker processes of this machine."""

    kind = "local"

    def __init__(self, *, shards: int = 1) -> None:
        AreaRouter(shards)  # checks the count
        self.shards = shards
        self._opened: list[ShardedScorecards] = []

    def scorecards(self, *, window_days: int = 7, prefetch: Sequence[Unit] = ()) -> Scorecards:
        """One engine in this process, or ``shards`` worker processes."""
        if self.shards == 1:
            return ScorecardEngine(window_days)
        state = ShardedScorecards(
            [ProcessShard(ScorecardEngine(window_days)) for _ in range(self.shards)],
            window_days=window_days,
            prefetch=prefetch,
        )
        self._opened.append(state)
        return state

    def close(self) -> None:
        """Stop the worker processes."""
        for state in self._opened:
            state.close()
        self._opened.clear()
