"""The engine interface: where the areas' state lives and who computes it.

An :class:`Engine` hands out the scorecard state of a set of areas (:class:`Scorecards`): the
tick (:class:`~tailguard.agents.tick.AreaAgents`), the agents' runner and the demo ask it the
same questions whatever the engine. What crosses areas (the benchmark, the crowd exchange,
the nightly learning update, the ledger's chain) stays with the coordinator, the process that
drives the tick.

- ``local`` (:class:`~tailguard.engine.local.LocalEngine`, the default): one
  :class:`~tailguard.metrics.ScorecardEngine` in this process; with ``shards`` above one, the
  areas split over worker processes of this machine.
- ``ray`` (:class:`~tailguard.engine.rayengine.RayEngine`): the areas split over Ray actors,
  hundreds to thousands of areas per actor (never one per area), on a local Ray or a cluster.

Either way the figures are the same for the same seed (tests/engine/ compares them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tailguard.errors import InvalidInputError
from tailguard.metrics import ScorecardEngine
from tailguard.metrics.state import Scorecards, Unit

__all__ = ["ENGINES", "Engine", "detach", "open_engine"]

#: The engines ``--engine`` names.
ENGINES = ("local", "ray")


class Engine(Protocol):
    """Where the areas' scorecard state lives."""

    kind: str
    shards: int

    def scorecards(self, *, window_days: int = 7, prefetch: Sequence[Unit] = ()) -> Scorecards:
        """Empty scorecard state for the areas (filled as events are ingested).

        Args:
            window_days: W, the scorecard window.
            prefetch: drill-downs a sharded state starts computing at each scorecard,
                because its caller will ask for them (the agents' tick asks for all three).
        """
        ...

    def close(self) -> None:
        """Stop what the engine started (worker processes, Ray actors, a local Ray)."""
        ...


def open_engine(
    kind: str = "local", *, shards: int = 1, address: str | None = None, bus: str | None = None
) -> Engine:
    """The engine ``kind`` (``local`` or ``ray``) with ``shards`` shards.

    Args:
        kind: ``local`` or ``ray``.
        shards: how many parts the areas are split into (``local``: 1 is one process).
        address: with ``ray``, the address of a running cluster to join (``auto``, or
            ``host:port``); None starts a local Ray with no dashboard and no network.
        bus: partitioned ingest: a NATS or Redis bus URL on which each shard reads its own
            areas' events from a stream of its own (:mod:`tailguard.engine.streams`).

    Raises:
        InvalidInputError: an unknown kind, a bad shard count, an address without ``ray``,
            or ``ray`` without the ``ray`` extra installed.
    """
    if kind not in ENGINES:
        raise InvalidInputError(f"--engine must be local or ray, got {kind!r}")
    if shards < 1:
        raise InvalidInputError(f"--shards must be at least 1, got {shards}")
    if kind == "local":
        if address is not None:
            raise InvalidInputError("--ray-address needs --engine ray")
        from tailguard.engine.local import LocalEngine

        return LocalEngine(shards=shards, bus=bus)
    try:
        from tailguard.engine.rayengine import RayEngine
    except ImportError as exc:  # the optional extra
        raise InvalidInputError("--engine ray needs Ray: pip install 'tailguard[ray]'") from exc
    return RayEngine(shards=shards, address=address, bus=bus)


def detach(state: Scorecards) -> Scorecards:
    """An independent copy of ``state`` in this process, picklable into another one (the
    agents-off arm's copy of the world). One engine is returned as it is: pickling it (as
    spawning a process with it does) copies it."""
    if isinstance(state, ScorecardEngine):
        return state
    from tailguard.engine.sharded import ShardedScorecards

    if isinstance(state, ShardedScorecards):
        return state.detach()
    raise TypeError(f"cannot detach a {type(state).__name__}")
