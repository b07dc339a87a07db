"""A restarted ``agents run`` picks up where the last one stopped (issue 5).

The runner that stops is closed as a process that dies would leave the stores: its open runs
and the chooser's state are lost from memory, nothing is finished. A person decides gates in
between, through the service's decide + resume (as the dashboard does), and a new runner on the
same stores must resume every approved gate exactly once, record the rejected and timed-out
ones, close the runs and not act again on a target still in cooldown. Every test talks to a
real loopback downstream agent and real stores (SQLite, or PostgreSQL with Redis).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from tailguard.agents.catalogue import default_catalogue
from tailguard.agents.choose import Chooser, week_key
from tailguard.agents.routing import DownstreamRoutes
from tailguard.agents.runner import AgentRunner, RunnerConfig
from tailguard.agents.testing import RecordingDownstreamServer
from tailguard.cli import main
from tailguard.control.store import runs as control_runs
from tailguard.events import open_bus
from tailguard.learning import DecisionState
from tailguard.ledger import Ledger

from ._runs import Person, write_sim_events

FINAL = {"executed", "rejected", "timeout", "failed"}


@pytest.fixture(scope="module")
def sim_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine simulated days of three areas (seven fill the windows)."""
    return write_sim_events(tmp_path_factory.mktemp("events") / "events.jsonl", days=9)


def _config(db: str, pulse: str, url: str, tmp_path: Path) -> RunnerConfig:
    return RunnerConfig(
        db=db,
        pulse=pulse,
        downstream=DownstreamRoutes.parse([url]),
        dead_letter=tmp_path / "dead.jsonl",
    )


def _run_status(runner: AgentRunner, run_ids: set[str]) -> dict[str, str]:
    c = control_runs.c
    with runner.control.store.read() as conn:
        rows = conn.execute(sa.select(c.run_id, c.status).where(c.run_id.in_(run_ids))).all()
    return {r.run_id: r.status for r in rows}


def _verify(db: str) -> None:
    """The chain verifies, and no run closed before it started (no epoch-stamped records)."""
    with pytest.raises(SystemExit) as done:
        main(["ledger", "verify", "--db", db])
    assert done.value.code == 0
    with Ledger.open(db) as ledger:
        for record in ledger.records(kind="run"):
            ended = record.fields.get("completed_at")
            assert ended is None or ended >= record.fields["started_at"], record.fields


def _key(d: DecisionState) -> tuple[str, str, str]:
    """What a cooldown is kept on: area, entry and target ('*' for customers and areas)."""
    target = "*" if d.target_type in ("customers", "area") else d.target_id
    return d.area_id, d.entry_id, target


def test_a_new_runner_resumes_the_gates_people_decided_after_the_old_one_stopped(
    stores: tuple[str, str], sim_file: Path, tmp_path: Path
) -> None:
    """Approved gates run once, rejected and undecided ones are recorded, runs close, no
    target in cooldown is acted on again."""
    db, pulse = stores
    cooldown = {e.id: e.cooldown for e in default_catalogue().entries}
    with RecordingDownstreamServer() as server:
        old = AgentRunner(_config(db, pulse, server.url, tmp_path))
        person = Person(db, old.clock)
        try:
            hours = old.replay_hours(sim_file, hours=30)
            while len(old.control.pending_gates()) < 4:  # tick until four gates wait
                next(hours)
            hours.close()
            ticked = old.summary.ticks
            pending = old.control.pending_gates()
            before = {d.decision_id: d for d in old.learning.decision_states()}
        finally:
            old.close()  # the process is gone: no finish, nothing settled
        approved, rejected, late, *undecided = pending
        person.decide(approved.gate_id, "approve")
        person.decide(rejected.gate_id, "reject")
        decided_late: list[datetime] = []
        try:
            with AgentRunner(_config(db, pulse, server.url, tmp_path)) as new:
                assert new.summary.recovered.gates == len(pending)
                assert new.summary.recovered.runs == len({g.run_id for g in pending})
                assert new.agents.open_runs == new.summary.recovered.runs

                def decide_late(as_of: datetime, report: object) -> None:
                    if not decided_late:  # after the restart, while the new runner warms up
                        person.decide(late.gate_id, "approve")
                        decided_late.append(as_of)

                summary = new.replay(sim_file, hours=ticked + 6, on_hour=decide_late)
                after = {d.decision_id: d for d in new.learning.decision_states()}
                runs = _run_status(new, {d.run_id for d in before.values() if d.run_id})
        finally:
            person.close()
        received = Counter(r.idempotency_key for r in server.received)
    # Each approved gate ran exactly once, by the new runner; the others never ran.
    assert received[approved.idempotency_key] == received[late.idempotency_key] == 1
    assert rejected.idempotency_key not in received
    assert all(g.idempotency_key not in received for g in undecided)
    assert max(received.values()) == 1
    status = {
        g.gate_id: d.status for d in after.values() for g in pending if d.gate_id == g.gate_id
    }
    assert status[approved.gate_id] == status[late.gate_id] == "executed"
    assert status[rejected.gate_id] == "rejected"
    assert all(status[g.gate_id] == "timeout" for g in undecided)
    # Every decision of the old runner ended in a final status; all its runs closed.
    assert {after[d].status for d in before} <= FINAL
    assert set(runs.values()) == {"completed"}
    assert summary.recovered.gates == len(pending)
    assert summary.gates["approved"] >= 2
    # The new runner caught up on the old one's hours without choosing in them again, then
    # acted, choosing nothing still cooling down.
    new_decisions = [d for d in after.values() if d.decision_id not in before]
    assert new_decisions
    last_old = max(d.decided_at for d in before.values())
    assert min(d.decided_at for d in new_decisions) > last_old
    for d in new_decisions:
        for old_d in before.values():
            if _key(old_d) == _key(d):
                assert d.decided_at >= old_d.decided_at + cooldown[d.entry_id], (d, old_d)
    _verify(db)


def test_a_new_follow_runner_resumes_an_approval_before_any_event_arrives(
    sim_file: Path, tmp_path: Path
) -> None:
    """Follow mode polls adopted gates from the start, even while its bus is still empty."""
    db, pulse = f"sqlite:///{tmp_path / 'l.db'}", str(tmp_path / "p.db")
    with RecordingDownstreamServer() as server:
        old = AgentRunner(_config(db, pulse, server.url, tmp_path))
        try:
            hours = old.replay_hours(sim_file, hours=30)
            while not old.control.pending_gates():
                next(hours)
            hours.close()
            gate = old.control.pending_gates()[0]
        finally:
            old.close()
        person = Person(db, old.clock)
        try:
            with AgentRunner(_config(db, pulse, server.url, tmp_path)) as new:
                person.decide(gate.gate_id, "approve")
                bus = open_bus("memory://")
                stop = threading.Timer(0.3, new.stop)
                stop.start()
                try:
                    summary = new.follow(bus, source="memory", tick_every=0.01, poll_s=0.02)
                finally:
                    stop.join()
                    bus.close()
                row = new.learning.frame().filter(pl.col("gate_id") == gate.gate_id)
        finally:
            person.close()
        received = Counter(r.idempotency_key for r in server.received)
    assert summary.ticks == summary.warmup_hours == 0  # no event came
    assert summary.stopped_by == "stopped"
    assert received[gate.idempotency_key] == 1
    assert row["status"].item() == "executed"
    # Resumed at the time the stores had reached, not at the new runner's epoch-zero clock.
    assert row["executed_at"].item() >= gate.presented_at
    _verify(db)


def test_without_recovery_the_same_hours_choose_the_same_targets(
    sim_file: Path, tmp_path: Path
) -> None:
    """The control of the cooldown check above: fresh stores choose the old targets again."""

    def first_hours(where: Path) -> set[tuple[str, str, str, datetime]]:
        where.mkdir()
        with (
            RecordingDownstreamServer() as server,
            AgentRunner(
                _config(f"sqlite:///{where / 'l.db'}", str(where / "p.db"), server.url, where)
            ) as runner,
        ):
            runner.replay(sim_file, hours=4)
            return {(*_key(d), d.decided_at) for d in runner.learning.decision_states()}

    one, two = first_hours(tmp_path / "one"), first_hours(tmp_path / "two")
    assert one
    assert one == two


class _Died(Exception):
    """The runner's process ends here."""


@pytest.mark.parametrize("where", ["after_execute", "before_execute"])
def test_decisions_a_dying_runner_left_unrecorded_end_in_a_final_status(
    where: str, stores: tuple[str, str], sim_file: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    """A runner dies between choosing and recording what its calls did: the next one settles
    the decisions from the ledger (adopting the gated ones) or records them as never sent."""
    db, pulse = stores
    with RecordingDownstreamServer(cost_usd=12.5) as server:
        old = AgentRunner(_config(db, pulse, server.url, tmp_path))
        if where == "after_execute":
            # The store write after the calls ran (their runs, steps and gates are recorded).
            record = old.learning.update_status

            def die(updates: Any) -> None:
                batch = list(updates)
                if any(u.status == "pending_approval" for u in batch):
                    raise _Died
                record(batch)

            monkeypatch.setattr(old.learning, "update_status", die)
        else:
            # Before the calls are sent: the decisions are recorded, nothing else.
            def die_first(requests: Any, **kw: Any) -> Any:
                raise _Died

            monkeypatch.setattr(old.control, "execute_batch", die_first)
        try:
            with pytest.raises(_Died):
                for _ in old.replay_hours(sim_file, hours=30):
                    pass
            stopped_at = old.clock.now()
            left = [d for d in old.learning.decision_states() if d.status == "decided"]
            pending = old.control.pending_gates()
        finally:
            old.close()
        assert left
        person = Person(db, old.clock)
        try:
            with AgentRunner(_config(db, pulse, server.url, tmp_path)) as new:
                found = new.summary.recovered
                settled = {d.decision_id: new.learning.get(d.decision_id) for d in left}
                if where == "before_execute":
                    assert (found.abandoned, found.settled) == (len(left), 0)
                    assert {r["status"] for r in settled.values()} == {"failed"}
                    assert all("never sent" in r["reason"] for r in settled.values())
                    assert not pending
                else:
                    assert (found.abandoned, found.settled) == (0, len(left))
                    assert found.gates == len(pending) > 0
                    at_gate = {r["gate_id"]: r for r in settled.values() if r["gate_id"]}
                    assert set(at_gate) == {g.gate_id for g in pending}
                    assert {r["status"] for r in at_gate.values()} == {"pending_approval"}
                    # The calls that ran before the death are recorded from the ledger.
                    ran = [r for r in settled.values() if not r["gate_id"]]
                    assert ran
                    assert all(r["status"] == "executed" for r in ran)
                    assert {r["cost_usd"] for r in ran} == {12.5}
                    assert all(r["step_id"] in server.executed for r in ran)
                    # A gate approved now is resumed once by the new runner.
                    person.decide(pending[0].gate_id, "approve")
                    new.poll_gates(stopped_at + timedelta(minutes=10))
                    assert new.learning.get(at_gate[pending[0].gate_id]["decision_id"])[
                        "status"
                    ] == ("executed")
                    assert new.agents.open_runs == len({g.run_id for g in pending[1:]})
        finally:
            person.close()
        received = Counter(r.idempotency_key for r in server.received)
    assert not received or max(received.values()) == 1
    if pending:
        assert received[pending[0].idempotency_key] == 1
    _verify(db)


def test_the_chooser_rebuilds_cooldowns_and_weekly_budgets_from_decisions() -> None:
    """Cooldowns from every decision, spend from those not given back, pending ones reserved."""
    cat = default_catalogue()
    entry = next(e for e in cat.entries if e.kind == "surge_pay_window")
    assert entry.weekly_budget_usd is not None
    now = datetime(2026, 1, 14, 12, tzinfo=UTC)  # a Wednesday
    last_week = now - timedelta(days=7)

    def decided(n: int, status: str, at: datetime, entry_id: str = entry.id) -> DecisionState:
        return DecisionState(
            decision_id=f"dec-{n}",
            area_id="PA-1",
            entry_id=entry_id,
            kind=entry.kind,
            tool_name=entry.tool,
            target_type="zip",
            target_id=f"Z{n}",
            args={},
            decided_at=at,
            status=status,
            run_id=None,
            step_id=None,
            gate_id=None,
        )

    rows = [
        decided(0, "executed", last_week),
        decided(1, "executed", now - timedelta(hours=3)),
        decided(2, "rejected", now - timedelta(hours=2)),
        decided(3, "pending_approval", now - timedelta(hours=1)),
        decided(4, "executed", now, entry_id="no-longer-in-the-catalogue"),
    ]
    chooser = Chooser(cat)
    assert chooser.restore(rows) == 4
    st = chooser.state("PA-1")
    week = week_key(now)
    assert st.spend[week] == st.entry_spend[(entry.id, week)] == 2 * entry.cost_usd
    assert st.entry_count[(entry.id, week)] == 3  # a rejection still counts as an action
    assert st.spend[week_key(last_week)] == entry.cost_usd
    for n, at in ((1, 3), (2, 2), (3, 1)):  # a rejected target cools down too
        until = st.cooldown_until[(entry.id, f"Z{n}")]
        assert until == now - timedelta(hours=at) + entry.cooldown
    # The pending one is reserved again: its rejection gives its cost back.
    chooser.release("dec-3")
    assert st.spend[week] == entry.cost_usd
    # Replaying the same decisions again changes nothing.
    assert chooser.restore(rows) == 0
    assert st.entry_count[(entry.id, week)] == 3
