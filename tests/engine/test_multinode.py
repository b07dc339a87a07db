"""Two Ray nodes on one machine (Ray's local cluster utilities): the shards spread over both
and the areas' scorecards are unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tailguard.engine import ShardedScorecards
from tailguard.engine.rayengine import RayEngine, nodes_of

from .test_sharded import compare_over_days

# Engine equality does not depend on the date: left out of the year-ahead run.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[str]:
    """A head node and a worker node, one CPU each; yields the cluster's address."""
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()  # a local Ray left by another module's tests would be joined instead
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        yield str(cluster.address)
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_shards_spread_over_two_nodes_and_answer_as_one_engine(two_nodes: str) -> None:
    """Four actors land on both nodes; their scorecards are the single engine's."""
    engine = RayEngine(shards=4, address=two_nodes)
    try:
        import ray

        alive = [n for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
        assert len(alive) == 2
        state = engine.scorecards(prefetch=("tech",))
        assert isinstance(state, ShardedScorecards)
        assert len(set(nodes_of(state))) == 2
        compare_over_days(state, areas=12, days=2)
    finally:
        engine.close()
