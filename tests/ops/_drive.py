"""Driving the self-healing drill step by step, so tests can look at every real side effect."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from tailguard.clock import SystemClock
from tailguard.ledger.queries import latest_entities
from tailguard.ops import Deployment, DeploymentConfig, Healing
from tailguard.ops.drill import DownstreamFleet


def start_of_today() -> datetime:
    """Midnight of the session's today (the clock may run a year ahead)."""
    now = SystemClock().now()
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


@contextmanager
def deployment(db: str, fleet: DownstreamFleet, tmp_path: Path) -> Iterator[Deployment]:
    """A drill deployment on ``db`` talking to ``fleet``; reopening continues where it was."""
    config = DeploymentConfig(
        db=db,
        downstream=fleet.urls,
        compendium_dir=str(tmp_path / "compendium"),
        start=start_of_today(),
    )
    with Deployment(config) as dep:
        yield dep


def steps_by_status(dep: Deployment, tool: str) -> Counter[str]:
    """How many steps of ``tool`` stand at each status (their latest record)."""
    rows = latest_entities(dep.ledger, "step", limit=10_000, equals={"tool_name": tool})
    return Counter(str(r.record.fields["status"]) for r in rows)


def incident_statuses(dep: Deployment, incident_id: str) -> list[str]:
    """The statuses of an incident's ``incident`` ledger records, in chain order."""
    records = [
        r for r in dep.ledger.records(kind="incident") if r.fields["incident_id"] == incident_id
    ]
    return [str(r.fields["status"]) for r in sorted(records, key=lambda r: r.seq)]


def heal_until_gate(healing: Healing, fault: str) -> str:
    """Detect ``fault`` (already injected), open its incident, run it to the remedy's gate."""
    from tailguard.ops.drill import detect_fault

    anomaly = detect_fault(fault, healing)
    assert anomaly is not None, f"{fault} was not detected"
    incident = healing.open(anomaly)
    incident = healing.advance(incident.incident_id, until="awaiting_approval")
    assert incident.status == "awaiting_approval"
    return incident.incident_id
