"""The area engine: where the areas' state lives (this process, worker processes, Ray actors).

See :mod:`tailguard.engine.api`. Ray is the optional ``ray`` extra; ``open_engine("ray")``
says so when it is missing.
"""

from tailguard.engine.api import ENGINES, Engine, detach, open_engine
from tailguard.engine.local import LocalEngine
from tailguard.engine.partition import AreaRouter, shard_of
from tailguard.engine.sharded import ShardedScorecards

__all__ = [
    "ENGINES",
    "AreaRouter",
    "Engine",
    "LocalEngine",
    "ShardedScorecards",
    "detach",
    "open_engine",
    "shard_of",
]
