"""The embedded downstream agent: the simulator's actuators behind the DownstreamAgent protocol.

A job becomes the simulator's typed request (:func:`tailguard.sim.parse_intervention`) and is
applied now. The job id is the idempotency key: a job sent again (a retry, or a resumption after
a crash) returns the first result and applies nothing, like a well-behaved REST agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tailguard.agents.downstream import DownstreamResult, InterventionJob
from tailguard.errors import TailguardError
from tailguard.sim.interventions import parse_intervention

if TYPE_CHECKING:
    from tailguard.sim.engine import Simulator


class SimulatorDownstream:
    """Carry out intervention jobs on a running :class:`~tailguard.sim.Simulator`."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._done: dict[str, DownstreamResult] = {}

    def send(self, job: InterventionJob) -> DownstreamResult:
        """Apply ``job`` once; a repeated job id returns the stored result."""
        done = self._done.get(job.job_id)
        if done is not None:
            return done
        try:
            request = parse_intervention(job.kind, {**job.target, **job.params})
        except TailguardError as exc:
            result = DownstreamResult(status="failed", detail=f"bad job: {exc.message}")
        else:
            applied = self.sim.apply(request)
            result = DownstreamResult(
                status="executed" if applied.accepted else "refused",
                detail=applied.reason,
                cost_usd=applied.cost_usd,
                external_ref=applied.intervention_id,
            )
        self._done[job.job_id] = result
        return result

    @property
    def jobs_sent(self) -> int:
        """Distinct jobs carried out (or refused)."""
        return len(self._done)
