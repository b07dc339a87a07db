"""The planning-area agents: intervention catalogue, hourly tick, downstream clients."""

from tailguard.agents.downstream import (
    DownstreamAgent,
    DownstreamResult,
    InterventionJob,
    RestDownstream,
)

__all__ = ["DownstreamAgent", "DownstreamResult", "InterventionJob", "RestDownstream"]
