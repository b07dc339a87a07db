"""The areas' scorecard state split over shards, behind the one-engine interface.

:class:`ShardedScorecards` answers as one :class:`~tailguard.metrics.ScorecardEngine` over
every area would, row for row: each area's events reach only its shard (in their original
order), every KPI is computed per area, and the shards' answers are put together sorted by
their keys as the single engine sorts them. The tests compare the two frame for frame.

After a scorecard the coordinator asks for the drill-downs (tech, zip, SKU) it will need: the
shards compute them while the coordinator evaluates rules and gates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa

from tailguard.engine.partition import AreaRouter
from tailguard.engine.shards import InlineShard, Reply, Shard
from tailguard.engine.streams import ShardStreams
from tailguard.metrics import ScorecardEngine
from tailguard.metrics.partials import Partial, merge_partials
from tailguard.metrics.state import Unit

__all__ = ["UNIT_KEYS", "ShardedScorecards"]

#: The keys each drill-down is sorted by (as :meth:`ScorecardEngine.units` sorts it).
UNIT_KEYS: dict[str, tuple[str, ...]] = {
    "tech": ("area_id", "tech_id"),
    "zip": ("area_id", "zip"),
    "sku": ("area_id", "sku"),
}


class ShardedScorecards:
    """Scorecard state of many areas over ``shards`` (area ``a`` lives on ``shard_of(a, n)``).

    Args:
        shards: the shards, in shard order.
        window_days: W, the scorecard window (every shard's engine has the same).
        prefetch: drill-downs to start computing at each scorecard (the agents' tick asks
            for all three; the agents-off arm for none).
        streams: partitioned ingest (:mod:`tailguard.engine.streams`): :meth:`ingest`
            publishes each area's events on its shard's stream and each shard reads its own
            (None: events are handed to the shards directly).
        spawn: makes a new, empty shard (what :meth:`restart` replaces a lost one with).
    """

    def __init__(
        self,
        shards: Sequence[Shard],
        *,
        window_days: int = 7,
        prefetch: Sequence[Unit] = (),
        streams: ShardStreams | None = None,
        spawn: Callable[[], Shard] | None = None,
    ) -> None:
        self.window_days = window_days
        self.shards = list(shards)
        self._router = AreaRouter(len(self.shards))
        self._prefetch = tuple(prefetch)
        self._ahead: dict[tuple[datetime, str], list[Reply]] = {}
        self.streams = streams
        self._spawn = spawn
        if streams is not None:
            if streams.router.shards != len(self.shards):
                raise ValueError("one stream per shard")
            replies = [
                s.call("attach", url) for s, url in zip(self.shards, streams.urls, strict=True)
            ]
            for reply in replies:
                reply.get()

    # ------------------------------------------------------------ calls

    def _all(self, method: str, *args: Any) -> list[Any]:
        replies = [s.call(method, *args) for s in self.shards]
        return [r.get() for r in replies]

    def call_all(self, method: str, *args: Any) -> list[Any]:
        """Call ``method`` on every shard; their answers in shard order."""
        return self._all(method, *args)

    def _stale(self) -> None:
        """Answers asked ahead of a state change are dropped (read, so none is left queued)."""
        for replies in self._ahead.values():
            for reply in replies:
                reply.get()
        self._ahead.clear()

    # ------------------------------------------------------------ the interface

    @property
    def duplicates(self) -> int:
        """Duplicate deliveries counted once, over every shard."""
        return sum(self._all("duplicates"))

    def ingest(self, table: pa.Table | pl.DataFrame) -> int:
        """Send each area's events to its shard (with streams: publish them on the shards'
        streams, then let every shard take what waits on its own); the events counted."""
        frame = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        self._stale()
        if self.streams is not None:
            self.streams.publish(frame)
            return sum(int(n) for n in self._all("pump"))
        parts = self._router.split(frame)
        replies = [self.shards[i].call("ingest", part) for i, part in sorted(parts.items())]
        return sum(int(r.get()) for r in replies)

    def advance(self, as_of: datetime) -> None:
        """Advance every shard's horizon."""
        self._stale()
        self._all("advance", as_of)

    def scorecard(self, as_of: datetime) -> pl.DataFrame:
        """Every area's KPIs at ``as_of`` (then the prefetched drill-downs start)."""
        self._stale()
        replies = [s.call("scorecard", as_of) for s in self.shards]
        for unit in self._prefetch:
            self._ahead[(as_of, unit)] = [s.call("units", as_of, unit) for s in self.shards]
        return _together([r.get() for r in replies], ("area_id",))

    def units(self, as_of: datetime, unit: Unit) -> pl.DataFrame:
        """The drill-down at ``as_of`` (prefetched at the scorecard when asked for)."""
        replies = self._ahead.pop((as_of, unit), None)
        if replies is None:
            replies = [s.call("units", as_of, unit) for s in self.shards]
        return _together([r.get() for r in replies], UNIT_KEYS[unit])

    def window(self, as_of: datetime, *, days: int | None = None) -> Partial:
        """The shards' windows merged (areas are disjoint: every sum is one shard's)."""
        return merge_partials(self._all("window", as_of, days))

    def areas(self) -> pl.Series:
        """Every area seen by any shard, sorted."""
        series: pl.Series = pl.concat(self._all("areas")).sort()
        return series

    # ------------------------------------------------------------ beyond the interface

    def restart(self, shard: int) -> int:
        """Replace shard ``shard`` (its process or actor lost, or to be moved) by a new empty
        one that rebuilds its areas' state from its stream; the events it replayed.

        Raises:
            ValueError: the state reads no streams, or was made without a way to spawn shards.
        """
        if self.streams is None or self._spawn is None:
            raise ValueError("only a state that reads per-shard streams can restart a shard")
        for replies in self._ahead.values():  # the lost shard's answers never come
            for i, reply in enumerate(replies):
                if i != shard:
                    reply.get()
        self._ahead.clear()
        with contextlib.suppress(Exception):  # it is gone already: the new one replaces it
            self.shards[shard].close()
        self.shards[shard] = self._spawn()
        replayed = int(self.shards[shard].call("attach", self.streams.urls[shard]).get())
        self.shards[shard].call("pump").get()
        return replayed

    def nbytes(self) -> list[dict[str, int]]:
        """Each shard's :meth:`ScorecardEngine.nbytes`."""
        return list(self._all("nbytes"))

    def placement(self) -> list[tuple[int, str]]:
        """Each shard's process id and host name (where the areas live)."""
        return [(int(p), str(h)) for p, h in self._all("pid")]

    def detach(self) -> ShardedScorecards:
        """An independent copy in this process (each shard's state exported), without
        prefetching: the agents-off arm starts from it."""
        self._stale()
        return ShardedScorecards(
            [InlineShard(state) for state in self.export()], window_days=self.window_days
        )

    def export(self) -> list[ScorecardEngine]:
        """Each shard's engine (a copy, when the shard is another process)."""
        return list(self._all("export"))

    def close(self) -> None:
        """Stop the shards (and the publisher's connections)."""
        self._stale()
        for s in self.shards:
            s.close()
        if self.streams is not None:
            self.streams.close()


def _together(frames: list[pl.DataFrame], keys: Sequence[str]) -> pl.DataFrame:
    """The shards' frames as the single engine gives them: one frame sorted by ``keys``."""
    full = [f for f in frames if f.height]
    if not full:
        return frames[0]
    if len(full) == 1:
        return full[0]
    return pl.concat(full, how="vertical").sort(list(keys))
