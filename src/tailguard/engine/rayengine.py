"""``RayEngine``: the areas split over Ray actors, on a local Ray or an existing cluster.

Each actor owns the scorecard state of the areas :func:`~tailguard.engine.partition.shard_of`
gives it: hundreds to thousands of areas (an actor costs tens of MiB; one per area would not
fit). The actors ask for no CPU of their own (``num_cpus=0``) and are spread over the
cluster's nodes; the coordinator (the process driving the tick) keeps what crosses areas.

Locally, ``ray.init`` starts a Ray of this machine only: no dashboard, no usage report, no
network beyond loopback. With an address it joins that cluster instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import ray

from tailguard.engine.partition import AreaRouter
from tailguard.engine.sharded import ShardedScorecards
from tailguard.engine.shards import Reply, ShardServer
from tailguard.engine.streams import ShardStreams, shard_bus_url
from tailguard.metrics import ScorecardEngine
from tailguard.metrics.state import Scorecards, Unit

__all__ = ["RayEngine", "RayShard", "RayShardServer", "nodes_of"]


class _Ref:
    __slots__ = ("_ref",)

    def __init__(self, ref: Any) -> None:
        self._ref = ref

    def get(self) -> Any:
        return ray.get(self._ref)


class RayShardServer(ShardServer):
    """The shard's server in a Ray actor: also says which Ray node it is on."""

    def _m_node(self) -> str:
        return str(ray.get_runtime_context().get_node_id())


class RayShard:
    """A shard held by a Ray actor (calls run in the order they were sent)."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def call(self, method: str, *args: Any) -> Reply:
        """Send the call to the actor."""
        return _Ref(self.actor.call.remote(method, *args))

    def close(self) -> None:
        """End the actor."""
        ray.kill(self.actor)


class RayEngine:
    """Areas over Ray actors.

    Args:
        shards: actors per scorecard state.
        address: a cluster to join (``auto`` or ``host:port``); None starts a local Ray.
        num_cpus: the local Ray's CPUs (default: this machine's, at most 2).
        bus: a NATS or Redis URL: each actor reads its own areas' events from a stream of its
            own (:mod:`tailguard.engine.streams`); None: the coordinator hands them over.
    """

    kind = "ray"

    def __init__(
        self,
        *,
        shards: int = 2,
        address: str | None = None,
        num_cpus: int | None = None,
        bus: str | None = None,
    ) -> None:
        AreaRouter(shards)  # checks the count
        if bus is not None:
            shard_bus_url(bus, 0)  # checks the URL
        self.shards = shards
        self.bus = bus
        self._started = False
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            if address is None:
                ray.init(
                    num_cpus=num_cpus or min(2, os.cpu_count() or 1),
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                )
            else:
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            self._started = True
        elif address is not None and address != "auto" and not address.startswith("ray://"):
            joined = ray.get_runtime_context().gcs_address
            if joined != address:
                raise ValueError(
                    f"this process is already connected to the Ray at {joined}, not {address}"
                )
        # One Polars thread per actor: the actors together, not each, use the machine.
        self._actor = ray.remote(RayShardServer)
        self._opened: list[ShardedScorecards] = []

    def _placed(self, i: int) -> Any:
        """The actor class placed for shard ``i``: round-robin over the cluster's alive nodes.

        Ray's SPREAD is best effort and put every actor on one node at times. A soft node
        affinity did too, on a loaded machine: a node the scheduler has not yet seen
        resources for counts as unavailable, and soft falls back. The affinity is therefore
        hard: the actor waits for its node. A shard does not outlive its node in either case
        (the actors are not restarted)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))  # type: ignore[no-untyped-call]
        strategy: Any = (
            NodeAffinitySchedulingStrategy(node_id=nodes[i % len(nodes)], soft=False)
            if nodes
            else "SPREAD"
        )
        return self._actor.options(
            num_cpus=0,
            scheduling_strategy=strategy,
            runtime_env={"env_vars": {"POLARS_MAX_THREADS": "1"}},
        )

    def scorecards(self, *, window_days: int = 7, prefetch: Sequence[Unit] = ()) -> Scorecards:
        """``shards`` actors, each with an empty engine, spread over the cluster's nodes."""
        spawned = 0

        def spawn() -> RayShard:
            nonlocal spawned
            spawned += 1
            return RayShard(self._placed(spawned - 1).remote(ScorecardEngine(window_days)))

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
        """End the actors, and the local Ray if this engine started it."""
        for state in self._opened:
            state.close()
        self._opened.clear()
        if self._started:
            ray.shutdown()
            self._started = False


def nodes_of(state: Scorecards) -> list[str]:
    """The Ray node id of each shard of ``state`` (made by a :class:`RayEngine`)."""
    assert isinstance(state, ShardedScorecards)
    return [str(node) for node in state.call_all("node")]
