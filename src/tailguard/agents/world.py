"""Wiring: a simulator's area agents with their control plane, ledger, stores and approver.

The demo, the tick benchmark and the tests all run the same assembly; this module is it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tailguard.agents.approver import ApproverPolicy, SimulatedApprover
from tailguard.agents.catalogue import Catalogue, default_catalogue
from tailguard.agents.downstream import DownstreamAgent
from tailguard.agents.simdownstream import SimulatorDownstream
from tailguard.agents.tick import AreaAgents, TickReport, build_registry
from tailguard.clock import FakeClock
from tailguard.control import ApproverList, ControlPlane
from tailguard.learning import SelfLearnStore
from tailguard.ledger import Ledger
from tailguard.metrics import ScorecardEngine
from tailguard.pulse import PulseStore
from tailguard.rules import builtin_rules
from tailguard.sim import Simulator

#: Minutes past each hour at which the simulated approver looks at its inbox.
APPROVER_POLLS = (20, 40, 59)


@dataclass
class AgentWorld:
    """A simulated network with its area agents running against real stores."""

    sim: Simulator
    clock: FakeClock
    ledger: Ledger
    control: ControlPlane
    learning: SelfLearnStore
    agents: AreaAgents
    approver: SimulatedApprover

    def hour(self) -> TickReport:
        """Step the simulator one hour, tick every agent, let the approver work the hour."""
        events = self.sim.step()
        now = self.sim.now
        self.clock.set(now)
        report = self.agents.tick(events)
        for minutes in APPROVER_POLLS:
            self.clock.set(now + timedelta(minutes=minutes))
            self.approver.poll(self.clock.now())
        return report

    def close(self) -> None:
        """Release the ledger's connections."""
        self.ledger.close()


def build_world(
    sim: Simulator,
    engine: ScorecardEngine,
    out_dir: Path,
    *,
    seed: int = 0,
    catalogue: Catalogue | None = None,
    downstream: Callable[[Simulator], DownstreamAgent] | None = None,
    approver: ApproverPolicy | None = None,
) -> AgentWorld:
    """Area agents for ``sim`` writing ``ledger.db`` and ``pulse.db`` into ``out_dir``.

    Args:
        sim: the simulator (its clock position is the agents' start).
        engine: the scorecard engine (already fed any warm-up).
        out_dir: where the SQLite ledger (with the self-learn table) and pulse store go.
        seed: the choice policy's and the approver's seed.
        catalogue: the intervention catalogue (default: the built-in one).
        downstream: who carries out jobs (default: the simulator's actuators).
        approver: the simulated approver's policy (default: :class:`ApproverPolicy`).
    """
    policy = approver or ApproverPolicy()
    clock = FakeClock(sim.now)
    cat = catalogue or default_catalogue()
    agent = downstream(sim) if downstream is not None else SimulatorDownstream(sim)
    ledger = Ledger.open(f"sqlite:///{out_dir / 'ledger.db'}", clock=clock)
    control = ControlPlane(
        build_registry(cat, lambda: agent, clock),
        ledger,
        clock=clock,
        approvers=ApproverList(approver_ids=frozenset({policy.approver_id})),
    )
    learning = SelfLearnStore(ledger.engine)
    agents = AreaAgents(
        catalogue=cat,
        control=control,
        learning=learning,
        scorecard=engine,
        rules=builtin_rules(),
        clock=clock,
        pulse=PulseStore.open(str(out_dir / "pulse.db")),
        seed=seed,
    )
    return AgentWorld(
        sim=sim,
        clock=clock,
        ledger=ledger,
        control=control,
        learning=learning,
        agents=agents,
        approver=SimulatedApprover(control, policy, seed=seed),
    )
