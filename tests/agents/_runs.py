"""What the runner tests share: simulated event files, malformed lines, a person at the gates.

The downstream agent they talk to is the library's own recording server
(:class:`tailguard.agents.testing.RecordingDownstreamServer`), a real HTTP server on loopback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from tailguard.clock import Clock
from tailguard.control import GateDecision
from tailguard.events.io import EventWriter
from tailguard.service import ServiceSettings
from tailguard.service.approvals import decide, resume_decided
from tailguard.service.auth import KeyStore, Role
from tailguard.service.settings import ServiceState
from tailguard.sim import NetworkConfig, Simulator

START = datetime(2026, 1, 5, tzinfo=UTC)

#: Three malformed lines, each with the reason the dead letter should give.
MALFORMED = (
    ("this is not json", "invalid JSON"),
    (
        json.dumps(
            {
                "event_id": "BAD-1",
                "type": "cx.survey",
                "ts": "2026-01-05T00:30:00Z",
                "area_id": "PA-0001",
                "job_id": "J1",
                "customer_id": "C1",
                "tech_id": "T1",
                "nps": 11,
            }
        ),
        "nps",
    ),
    (
        json.dumps({"event_id": "BAD-2", "type": "tech.status", "ts": "2026-01-05T00:40:00Z"}),
        "area_id",
    ),
)


def write_sim_events(path: Path, *, areas: int = 3, days: int = 8, seed: int = 11) -> Path:
    """Write ``days`` of a simulated network's events to ``path`` (as ``tailguard simulate``)."""
    sim = Simulator(NetworkConfig(areas=areas, seed=seed, start=START))
    with EventWriter(path) as writer:
        for table in sim.run(days * 24):
            writer.write(table)
    return path


def with_malformed(src: Path, dst: Path) -> Path:
    """A copy of the JSONL file ``src`` with the :data:`MALFORMED` lines among the first ones."""
    lines = src.read_text(encoding="utf-8").splitlines()
    for k, (line, _reason) in enumerate(MALFORMED):
        lines.insert(5 + 7 * k, line)
    dst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dst


class Person:
    """An approver deciding gates through the service's decide + resume, as the dashboard does.

    The service here has no handler for the area agents' tools (as ``tailguard serve`` by
    default), so an approved call is left for the agents' runner to resume.
    """

    def __init__(self, db: str, clock: Clock, name: str = "ops-anna") -> None:
        self.name = name
        self.state = ServiceState.open(ServiceSettings(ledger_url=db, clock=clock))
        KeyStore(self.state.ledger.engine).create(name, Role.APPROVER)

    def decide(self, gate_id: str, decision: str) -> GateDecision:
        """Approve or reject ``gate_id``; returns the decision (the resumption is attempted)."""
        decided = decide(self.state, self.name, gate_id, decision, reason="test")
        resume_decided(self.state, decided, through_agent=False)
        return decided

    def close(self) -> None:
        """Release the service's ledger connections."""
        self.state.close()
