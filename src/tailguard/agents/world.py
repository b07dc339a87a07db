"""Wiring: a simulator's area agents with their control plane, ledger, stores and approver.

The demo, the tick benchmark and the tests all run the same assembly; this module is it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa

from tailguard.agents.approver import ApproverPolicy, SimulatedApprover
from tailguard.agents.catalogue import Catalogue, default_catalogue
from tailguard.agents.downstream import DownstreamAgent
from tailguard.agents.signals import Signals
from tailguard.agents.simdownstream import SimulatorDownstream
from tailguard.agents.tick import AreaAgents, TickReport, build_registry
from tailguard.clock import FakeClock
from tailguard.control import ApproverList, ControlPlane
from tailguard.control.approval_policies import ApprovalPolicy
from tailguard.control.delegation import DelegatedApprovers, PolicyDecider, register_policies
from tailguard.learning import SelfLearnStore
from tailguard.learning.loop import GuardConfig, PolicyLearner
from tailguard.learning.policy import ChoicePolicy, LearningConfig
from tailguard.learning.versions import PolicyStore
from tailguard.ledger import Ledger
from tailguard.metrics.state import Scorecards
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
    decider: PolicyDecider | None = None
    #: The last hour's events (for other consumers of the same stream, e.g. gamification).
    last_events: pa.Table | None = None

    def hour(self) -> TickReport:
        """Step the simulator one hour, tick every agent, let the approvers work the hour.

        At each poll the delegated approval policies (if any) decide the gates they cover
        first; the simulated person then decides what is left (outside every policy, or
        sampled for review).
        """
        events = self.sim.step()
        self.last_events = events
        now = self.sim.now
        self.clock.set(now)
        report = self.agents.tick(events)
        for minutes in APPROVER_POLLS:
            self.clock.set(now + timedelta(minutes=minutes))
            if self.decider is not None:
                self.decider.sweep(self.clock.now())
            self.approver.poll(self.clock.now())
        return report

    def close(self) -> None:
        """Release the ledger's connections."""
        self.ledger.close()


def warm_up(
    sim: Simulator,
    engine: Scorecards,
    hours: int,
    progress: Callable[[int, int], None] | None = None,
    observe: Callable[[pa.Table], None] | None = None,
) -> Signals:
    """Run ``sim`` for ``hours`` with no agents, feeding ``engine`` and a fresh agents' memory.

    Returns the memory (:class:`Signals`) to hand to :func:`build_world`: the agents then start
    with what the warm-up told (each technician's hire date from their status events, usual
    detractor rates), not with a blank roster whose tenures stay unknown until each tech next
    reports. ``observe`` sees every hour's events too (another consumer's own history).
    """
    signals = Signals()
    for h in range(hours):
        events = sim.step()
        engine.ingest(events)
        signals.update(events, sim.now)
        if observe is not None:
            observe(events)
        if progress is not None:
            progress(h + 1, hours)
    return signals


def build_world(
    sim: Simulator,
    engine: Scorecards,
    out_dir: Path,
    *,
    seed: int = 0,
    catalogue: Catalogue | None = None,
    downstream: Callable[[Simulator], DownstreamAgent] | None = None,
    approver: ApproverPolicy | None = None,
    policy: str = "fixed",
    learning_config: LearningConfig | None = None,
    guard: GuardConfig | None = None,
    choice_policy: ChoicePolicy | None = None,
    pulse: bool = True,
    signals: Signals | None = None,
    durable: bool = True,
    approval_policies: Sequence[ApprovalPolicy] = (),
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
        policy: ``fixed`` (the catalogue's weights) or ``learning`` (the nightly-updated
            Thompson-sampling policy, with its guardrail).
        learning_config, guard: the learning policy's and the guardrail's settings.
        choice_policy: with ``policy="fixed"``, another policy that does not learn (uniform
            choice, an evaluation harness's oracle) instead of the catalogue's weights.
        pulse: write the pulse store (benchmarks leave it out).
        signals: the agents' event memory, already fed the warm-up (:func:`warm_up`), so that
            they start knowing the roster (hire dates, usual detractor rates) as an agent
            deployed on a running network would; None: they start with no memory.
        durable: sync every ledger commit to disk; False (benchmarks, throw-away runs) lets
            SQLite sync only at checkpoints (``synchronous=normal``: safe against a crash of
            the process, not against a power cut).
        approval_policies: delegated approval policies (registered in the ledger as
            versions); the gates they cover are decided by them, the rest by the simulated
            approver.
    """
    approver_policy = approver or ApproverPolicy()
    clock = FakeClock(sim.now)
    cat = catalogue or default_catalogue()
    agent = downstream(sim) if downstream is not None else SimulatorDownstream(sim)
    suffix = "" if durable else "?synchronous=normal"
    ledger = Ledger.open(f"sqlite:///{out_dir / 'ledger.db'}{suffix}", clock=clock)
    people = ApproverList(approver_ids=frozenset({approver_policy.approver_id}))
    active = (
        register_policies(
            ledger, approval_policies, registered_by="demo", source="--approval-policies"
        )
        if approval_policies
        else []
    )
    control = ControlPlane(
        build_registry(cat, lambda: agent, clock),
        ledger,
        clock=clock,
        approvers=DelegatedApprovers(policies=tuple(active), people=people) if active else people,
    )
    learning = SelfLearnStore(ledger.engine)
    learner = None
    if policy == "learning":
        learner = PolicyLearner(
            store=learning,
            versions=PolicyStore(ledger),
            groups=cat.groups(),
            arms=cat.arm_info(),
            config=learning_config or LearningConfig(),
            guard=guard or GuardConfig(),
        )
    elif policy != "fixed":
        raise ValueError(f"unknown policy {policy!r} (fixed or learning)")
    areas = sim.net.areas_frame()
    agents = AreaAgents(
        catalogue=cat,
        control=control,
        learning=learning,
        scorecard=engine,
        rules=builtin_rules(),
        clock=clock,
        pulse=PulseStore.open(str(out_dir / "pulse.db")) if pulse else None,
        signals=signals,
        seed=seed,
        learner=learner,
        choice_policy=choice_policy,
        area_types=dict(zip(areas["area_id"].to_list(), areas["area_type"].to_list(), strict=True)),
    )
    return AgentWorld(
        sim=sim,
        clock=clock,
        ledger=ledger,
        control=control,
        learning=learning,
        agents=agents,
        approver=SimulatedApprover(control, approver_policy, seed=seed),
        decider=PolicyDecider(control, active) if active else None,
    )
