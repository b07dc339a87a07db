"""The control plane's read API: runs and gates as other packages ask for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tailguard.clock import FakeClock
from tailguard.control import ControlPlane, RunRequest, StepOutcome, queries
from tailguard.control.store import ControlStore, runs
from tailguard.ledger import Ledger

SEND = {"receiverId": "d1", "content": "hello"}
HOUR = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _open(plane: ControlPlane, area_id: str, hour: datetime, *, gated: bool = False) -> str:
    (done,) = plane.execute_batch(
        [
            RunRequest(
                role="recruiter",
                initiator_id=f"agent:{area_id}",
                goal_text="anything: recovery does not read it",
                calls=[("send_message", SEND) if gated else ("lookup", {"zip": "75001"})],
                area_id=area_id,
                hour=hour,
            )
        ]
    )
    return done.run.run_id


def test_runs_carry_their_area_and_hour_and_are_found_by_them(
    plane: ControlPlane, ledger: Ledger, clock: FakeClock
) -> None:
    """A run opened for an area and an hour is found by role, initiator, area and hour."""
    first = _open(plane, "PA-1", HOUR)
    _open(plane, "PA-2", HOUR)
    later = _open(plane, "PA-1", HOUR + timedelta(hours=1))
    found = queries.runs_of(
        ledger.engine, role="recruiter", initiator_id="agent:PA-1", area_id="PA-1", hour=HOUR
    )
    assert [s.run.run_id for s in found] == [first]
    assert found[0].run.area_id == "PA-1"
    assert found[0].run.hour == HOUR
    assert found[0].status == "completed"
    assert plane.get_run(later).hour == HOUR + timedelta(hours=1)
    assert [s.run.area_id for s in queries.runs_of(ledger.engine, area_id="PA-1")] == [
        "PA-1",
        "PA-1",
    ]
    clock.advance(60)
    assert queries.runs_of(ledger.engine, since=clock.now()) == []
    fresh = plane.start_run("recruiter", "u1", None)
    assert [s.run.run_id for s in queries.runs_of(ledger.engine, since=clock.now())] == [
        fresh.run_id
    ]
    assert (
        queries.runs_by_id(ledger.engine, [fresh.run_id, "run_missing"])[fresh.run_id].run == fresh
    )


def test_gates_are_read_by_run_and_by_decision(plane: ControlPlane, ledger: Ledger) -> None:
    """Pending gates, their runs' gates and the decided ones, as the agents and service ask."""
    run_a = _open(plane, "PA-1", HOUR, gated=True)
    run_b = _open(plane, "PA-2", HOUR, gated=True)
    (gate_a,) = queries.gates_of_runs(ledger.engine, [run_a])
    (gate_b,) = queries.gates_of_runs(ledger.engine, [run_b])
    now = plane.clock.now()
    assert queries.count_pending_gates(ledger.engine, now=now) == 2
    pending = queries.pending_gates(ledger.engine, now=now, limit=10)
    assert {row.gate_id for row in pending} == {gate_a.gate_id, gate_b.gate_id}
    plane.decide(gate_a.gate_id, "approve", "boss")
    decided = queries.gate_decisions(
        ledger.engine, [gate_a.gate_id, gate_b.gate_id], decided_only=True
    )
    assert list(decided) == [gate_a.gate_id]
    assert decided[gate_a.gate_id].decision == "approved"
    assert decided[gate_a.gate_id].decided_by == "boss"
    every = queries.gate_decisions(ledger.engine, [gate_a.gate_id, gate_b.gate_id])
    assert every[gate_b.gate_id].decision == "pending"
    awaiting = queries.awaiting_gates(ledger.engine, limit=10)
    assert [row.gate_id for row in awaiting] == [gate_a.gate_id]
    assert plane.resume(gate_a.gate_id).outcome is StepOutcome.EXECUTED
    assert queries.awaiting_gates(ledger.engine, limit=10) == []
    assert [g.gate_id for g in queries.all_gates(ledger.engine)] == [
        g.gate_id for g in sorted([gate_a, gate_b], key=lambda g: (g.presented_at, g.gate_id))
    ]


def test_a_database_of_an_earlier_release_gets_the_area_and_hour_columns(db_url: str) -> None:
    """The run table of an earlier release gains the new columns; its runs read as before."""
    engine = sa.create_engine(db_url)
    try:
        old = sa.MetaData()
        sa.Table(
            "tailguard_control_runs",
            old,
            *[
                sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                for c in runs.columns
                if c.name not in ("area_id", "hour")
            ],
        )
        old.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO tailguard_control_runs (run_id, role, initiator_id, started_at, "
                    "status, input_tokens, output_tokens, cost_micros, reserved_tokens, "
                    "reserved_cost_micros, alerted) VALUES ('run_old', 'r', 'u', 0, 'running', "
                    "0, 0, 0, 0, 0, false)"
                )
            )
        ControlStore(engine)
        columns = {c["name"] for c in sa.inspect(engine).get_columns("tailguard_control_runs")}
        assert {"area_id", "hour"} <= columns
        (state,) = queries.runs_of(engine, role="r")
        assert state.run.run_id == "run_old"
        assert state.run.area_id is None
        assert state.run.hour is None
        ControlStore(engine)  # a second opening finds nothing to add
    finally:
        engine.dispose()
