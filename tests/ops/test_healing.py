"""Self-healing end to end: each fault injected into a small deployment on real parts,
detected, remedied after a person approves the gate, verified and written to the compendium;
rejected remedies never apply; restarts in the middle repeat no step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tailguard.compendium import Compendium, parse_cards
from tailguard.ops import PLAYBOOK, Deployment, Healing, ScriptedApprover, inject
from tailguard.ops.drill import APPROVER, DownstreamFleet, downstream_fleet
from tailguard.ops.remedies import breaker_key, paused_key, worker_key
from tailguard.ops.watch import FAULTS

from ._drive import deployment, heal_until_gate, incident_statuses, steps_by_status


def _effect(fault: str, dep: Deployment, fleet: DownstreamFleet) -> dict[str, Any]:
    """What the remedy of ``fault`` changes, read from the real parts."""
    if fault == "hanging_downstream":
        return {"breaker": (dep.ops.switch(breaker_key("roster_routing")) or {}).get("state")}
    if fault == "budget_burn":
        return {"paused": dep.ops.switch(paused_key("locker_buffer"), False)}
    if fault == "harmful_policy":
        return {"active": dep.policies.state().active}
    return {"worker": dep.ops.switch(worker_key("approvals"))}


_APPLIED = {
    "hanging_downstream": {"breaker": "open"},
    "budget_burn": {"paused": True},
    "harmful_policy": {"active": "drill-v1"},
    "gate_backlog": {"worker": {"state": "running", "restarts": 1}},
}
_NOT_APPLIED = {
    "hanging_downstream": {"breaker": None},
    "budget_burn": {"paused": False},
    "harmful_policy": {"active": "drill-v2"},
    "gate_backlog": {"worker": {"state": "wedged", "restarts": 0}},
}
#: The downstream agent a remedy stops traffic to (its request count must freeze).
_SILENCED = {"hanging_downstream": "roster_routing", "budget_burn": "parts"}


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_is_detected_remedied_after_approval_and_verified_across_restarts(
    fault: str, db_url: str, tmp_path: Path
) -> None:
    """Detected, gated, applied once after approval, verified, carded; two restarts between."""
    remedy = PLAYBOOK[fault][0]
    with downstream_fleet() as fleet:
        with deployment(db_url, fleet, tmp_path) as dep:
            healing = Healing(dep)
            dep.run_hours(2)
            inject(fault, dep, fleet)
            incident_id = heal_until_gate(healing, fault)
            # The remedy waits at its gate: nothing is applied yet.
            assert _effect(fault, dep, fleet) == _NOT_APPLIED[fault]
            assert steps_by_status(dep, remedy) == {"pending_approval": 1}
            gate_id = str(healing.get(incident_id).state["gate_id"])
        # Restart 1: a new process decides the gate and carries the incident to `remedied`.
        with deployment(db_url, fleet, tmp_path) as dep:
            assert ScriptedApprover(dep.control).decide(gate_id) == "approved"
            incident = Healing(dep).advance(incident_id, until="remedied")
            assert incident.status == "remedied"
            assert _effect(fault, dep, fleet) == _APPLIED[fault]
            silenced = _SILENCED.get(fault)
            sent_before = len(fleet.servers[silenced].received) if silenced else 0
        # Restart 2: another process verifies and writes the postmortem.
        with deployment(db_url, fleet, tmp_path) as dep:
            healing = Healing(dep)
            incident = healing.advance(incident_id)
            assert incident.status == "closed"
            assert incident.state["verified"] is True
            assert incident.state["approved_by"] == APPROVER
            assert incident.state["gate_id"] == gate_id
            if silenced:  # the remedy really stopped the traffic during verification
                assert len(fleet.servers[silenced].received) == sent_before
            # Applied exactly once, one gate, every status recorded once in order.
            assert steps_by_status(dep, remedy) == {"executed": 1}
            assert incident_statuses(dep, incident_id) == [
                "detected",
                "triaged",
                "awaiting_approval",
                "remedied",
                "verified",
                "closed",
            ]
            # Calling it again changes nothing.
            assert healing.advance(incident_id).status == "closed"
            assert len(incident_statuses(dep, incident_id)) == 6
            rel, card_id = str(incident.state["compendium_entry"]).split("#")
            text = Compendium(dep.config.compendium_dir).read(rel)
            assert text is not None
            card = next(c for c in parse_cards(text, rel) if c.card_id == card_id)
            assert incident_id in card.evidence
            assert card.status == "proven"
            assert dep.ledger.verify().ok


@pytest.mark.parametrize(
    ("fault", "backend"),
    [
        *((f, "sqlite") for f in FAULTS),
        pytest.param(FAULTS[0], "postgres", marks=pytest.mark.postgres),
    ],
)
def test_rejected_remedy_is_never_applied_and_the_incident_stays_open(
    fault: str, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A person rejects the remedy: it never runs, no card is written, the incident stays open.
    Every fault on SQLite; on PostgreSQL one fault (the rejection path does not depend on the
    fault, and the approval path runs every fault on both databases above)."""
    db_url = (
        f"sqlite:///{tmp_path / 'ledger.db'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    remedy = PLAYBOOK[fault][0]
    with downstream_fleet() as fleet, deployment(db_url, fleet, tmp_path) as dep:
        healing = Healing(dep)
        dep.run_hours(2)
        inject(fault, dep, fleet)
        incident_id = heal_until_gate(healing, fault)
        gate_id = str(healing.get(incident_id).state["gate_id"])
        assert ScriptedApprover(dep.control, decision="reject").decide(gate_id) == "rejected"
        incident = healing.advance(incident_id)
        assert incident.status == "rejected"
        assert incident.state["decision"] == "rejected"
        assert "compendium_entry" not in incident.state
        dep.run_hours(1)
        assert healing.advance(incident_id).status == "rejected"
        assert _effect(fault, dep, fleet) == _NOT_APPLIED[fault]
        assert steps_by_status(dep, remedy) == {"rejected": 1}
        assert [i.incident_id for i in dep.ops.incidents(open_only=True)] == [incident_id]
        assert (
            Compendium(dep.config.compendium_dir).read(f"reliability/patterns/{fault}.md") is None
        )
        # The fault is still there: the agent still sees it.
        assert fault in {a.fault for a in healing.look()}
