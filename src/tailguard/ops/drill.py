"""The self-healing drill: inject a fault into a small deployment and let the agent heal it.

``tailguard ops drill --fault F --db URL`` (INTERFACES.md section 6) runs :func:`run_drill`:
three downstream agents as real HTTP servers on loopback (the library's recording server),
a :class:`~tailguard.ops.deployment.Deployment` of a few areas on the database, a couple of
healthy hours, the fault, hourly looks of the reliability agent until it detects the fault,
then the incident's workflow with a scripted approver at the remedy's gate. Faults:

* ``hanging_downstream``: the ``roster_routing`` agent stops answering (requests hang past
  the client's timeout); remedy: hold its circuit breaker open;
* ``budget_burn``: the ``parts`` agent starts charging ten times its price; remedy: pause the
  ``locker_buffer`` intervention kind;
* ``harmful_policy``: a policy version that costs the network guard-band share takes over;
  remedy: roll it back;
* ``gate_backlog``: the approvals worker wedges and gates pile up; remedy: drain and restart it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from tailguard.agents.testing import RecordingDownstreamServer
from tailguard.clock import Clock, SystemClock
from tailguard.compendium import default_dir
from tailguard.control import ControlPlane, StepOutcome
from tailguard.errors import ConflictError, InvalidInputError
from tailguard.ops.deployment import Deployment, DeploymentConfig
from tailguard.ops.healing import Healing, Incident
from tailguard.ops.remedies import RESET_BREAKER, RESUME, WORKERS, worker_key
from tailguard.ops.watch import FAULTS, Anomaly

#: The downstream agents of the drill's deployment and what each charges per job.
AGENTS: Final = {"roster_routing": 0.0, "parts": 30.0, "technician_assistant": 20.0}
HEALTHY_HOURS: Final = 2
MAX_DETECT_HOURS: Final = 4
APPROVER: Final = "oncall-anna"


class ScriptedApprover:
    """A person at the remedy gates who always answers the same (the drill's approver)."""

    def __init__(
        self, control: ControlPlane, approver_id: str = APPROVER, *, decision: str = "approve"
    ):
        if decision not in ("approve", "reject"):
            raise InvalidInputError(f"a scripted decision is approve or reject, not {decision!r}")
        self.control = control
        self.approver_id = approver_id
        self.decision = decision

    def decide(self, gate_id: str) -> str:
        """Decide one gate; returns the decision recorded."""
        decided = self.control.decide(
            gate_id, self.decision, self.approver_id, reason="scripted approver (drill)"
        )
        return decided.decision


@dataclass
class DownstreamFleet:
    """The drill's downstream agents, real HTTP servers on loopback."""

    servers: dict[str, RecordingDownstreamServer] = field(default_factory=dict)

    @property
    def urls(self) -> dict[str, str]:
        """Agent name -> base URL."""
        return {name: s.url for name, s in self.servers.items()}

    def stop(self) -> None:
        """Stop every server."""
        for server in self.servers.values():
            server.stop()


@contextmanager
def downstream_fleet() -> Iterator[DownstreamFleet]:
    """Start the drill's downstream agents for a ``with`` block."""
    fleet = DownstreamFleet(
        {
            name: RecordingDownstreamServer(hang_s=1.0, cost_usd=cost).start()
            for name, cost in AGENTS.items()
        }
    )
    try:
        yield fleet
    finally:
        fleet.stop()


def restore_baseline(deployment: Deployment) -> list[str]:
    """Undo earlier drills' lasting remedies (a held breaker, a paused kind) so a drill on a
    reused database starts healthy; each undo is a governed call of an ``operator`` run.

    Returns the tools called.
    """
    calls: list[tuple[str, dict[str, Any]]] = []
    for name, value in sorted(deployment.ops.switches("breaker:").items()):
        if isinstance(value, dict) and value.get("state") == "open":
            calls.append((RESET_BREAKER, {"agent": name.removeprefix("breaker:")}))
    for name, value in sorted(deployment.ops.switches("paused:").items()):
        if value is True:
            calls.append((RESUME, {"kind": name.removeprefix("paused:")}))
    if not calls:
        return []
    control = deployment.control
    run = control.start_run("operator", "drill", "restore the deployment before a drill")
    done = []
    for tool, args in calls:
        result = control.execute(run, tool, {**args, "reason": "drill baseline"})
        if result.outcome is not StepOutcome.EXECUTED:
            raise ConflictError(f"cannot restore the baseline: {tool}: {result.reason}")
        done.append(tool)
    control.finish_run(run, "completed")
    return done


def inject(fault: str, deployment: Deployment, fleet: DownstreamFleet) -> None:
    """Inject ``fault`` (see the module docstring).

    Raises:
        InvalidInputError: an unknown fault.
    """
    if fault == "hanging_downstream":
        fleet.servers["roster_routing"].set_mode("hang")
    elif fault == "budget_burn":
        fleet.servers["parts"].set_mode("ok", cost_usd=AGENTS["parts"] * 10)
    elif fault == "harmful_policy":
        deployment.add_policy_version(f"drill-v{deployment.policies.count() + 1}", effect=-12.0)
    elif fault == "gate_backlog":
        key = worker_key(WORKERS[0])
        current = deployment.ops.switch(key) or {}
        deployment.ops.set_switch(key, {**current, "state": "wedged"}, now=deployment.clock.now())
    else:
        raise InvalidInputError(f"unknown fault {fault!r} (one of {', '.join(FAULTS)})")


def detect_fault(
    fault: str, healing: Healing, *, max_hours: int = MAX_DETECT_HOURS
) -> Anomaly | None:
    """Run the deployment hour by hour until the agent sees ``fault`` (None: it never did)."""
    for _ in range(max_hours):
        healing.dep.hour()
        for anomaly in healing.look():
            if anomaly.fault == fault:
                return anomaly
    return None


def result_of(fault: str, incident: Incident | None, anomaly: Anomaly | None) -> dict[str, Any]:
    """The drill's JSON (INTERFACES.md section 6, with more keys)."""
    state = incident.state if incident is not None else {}
    return {
        "fault": fault,
        "detected": anomaly is not None,
        "remedy": state.get("remedy"),
        "gate_id": state.get("gate_id"),
        "approved_by": state.get("approved_by"),
        "verified": bool(state.get("verified", False)),
        "compendium_entry": state.get("compendium_entry"),
        "incident_id": incident.incident_id if incident else None,
        "status": incident.status if incident else None,
        "decision": state.get("decision"),
        "anomaly": anomaly.summary if anomaly else None,
        "known_patterns": state.get("known_patterns", []),
        "signal_before": state.get("signal_before"),
        "signal_after": state.get("signal_after"),
    }


def run_drill(
    fault: str,
    db: str,
    *,
    compendium_dir: Path | str | None = None,
    decision: str = "approve",
    seed: int = 7,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Inject ``fault`` into a small deployment on ``db`` and run self-healing end to end.

    Raises:
        InvalidInputError: an unknown fault or decision.
    """
    if fault not in FAULTS:
        raise InvalidInputError(f"unknown fault {fault!r} (one of {', '.join(FAULTS)})")
    if decision not in ("approve", "reject"):
        raise InvalidInputError(f"--decision is approve or reject, not {decision!r}")
    now = (clock or SystemClock()).now()
    start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    with downstream_fleet() as fleet:
        config = DeploymentConfig(
            db=db,
            downstream=fleet.urls,
            compendium_dir=str(compendium_dir or default_dir(db)),
            seed=seed,
            start=start,
        )
        with Deployment(config) as dep:
            healing = Healing(dep)
            restore_baseline(dep)
            dep.run_hours(HEALTHY_HOURS)
            inject(fault, dep, fleet)
            anomaly = detect_fault(fault, healing)
            if anomaly is None:
                return result_of(fault, None, None)
            incident = healing.open(anomaly)
            incident = healing.advance(incident.incident_id, until="awaiting_approval")
            ScriptedApprover(dep.control, decision=decision).decide(str(incident.state["gate_id"]))
            incident = healing.advance(incident.incident_id)
            return result_of(fault, incident, anomaly)
