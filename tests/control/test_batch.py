"""Batched governance: the same checks and records as one-by-one calls, in a few transactions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa

from tailguard.clock import FakeClock
from tailguard.control import (
    ApproverList,
    ControlPlane,
    DecisionRequest,
    GateDecision,
    Policy,
    RiskLevel,
    RunBudget,
    RunRequest,
    StepOutcome,
    StepResult,
    Tool,
    ToolContext,
    ToolRegistry,
)
from tailguard.control.store import claims
from tailguard.errors import ConflictError, NotFoundError, TailguardError
from tailguard.ledger import Ledger

from ._toolkit import OBJ, RATE_LIMIT, Effects, make_plane, make_registry

SEND = {"receiverId": "d1", "content": "hello"}
_ID = re.compile(r"\b(run|step|gate|out)_[0-9a-f]{32}\b")
_TIMES = {"latency_ms"}

# Every kind of outcome in one run: a read, a reversible execute_low (intent + payload), a
# failing execute_low, invalid arguments, an unknown tool, a policy refusal (wrong role).
MIXED: list[tuple[str, Mapping[str, Any]]] = [
    ("lookup", {"zip": "10115"}),
    ("update_status", {"interest_id": "i1", "new_status": "hired"}),
    ("broken", {}),
    ("lookup", {"zip": "nope"}),
    ("no_such_tool", {}),
    ("think", {"tokens": 3, "cost": 0.0}),
]


def _norm(value: Any) -> Any:
    """Ids reduced to their kind; lists sorted (a batch records a run's steps in another order)."""
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if k not in _TIMES}
    if isinstance(value, list):
        return sorted((_norm(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, str):
        return _ID.sub(lambda m: m.group(1), value)
    return value


def _run_records(ledger: Ledger, run_id: str) -> list[str]:
    """The run's records with ids reduced to their kind, as sorted canonical JSON."""
    return sorted(
        json.dumps({"kind": r.kind, **_norm(dict(r.fields))}, sort_keys=True)
        for r in ledger.records(run_id=run_id)
    )


def _one_by_one(
    plane: ControlPlane, role: str, calls: list[tuple[str, Mapping[str, Any]]]
) -> tuple[str, list[StepResult]]:
    run = plane.start_run(role, "alice", "goal")
    results = [plane.execute(run, tool, args) for tool, args in calls]
    if not any(r.outcome is StepOutcome.PENDING_APPROVAL for r in results):
        plane.finish_run(run, "completed")
    return run.run_id, results


def test_a_batch_writes_the_records_one_by_one_calls_write(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """Same calls, same checks, same records per run (order aside), and a valid chain."""
    seq_id, seq_results = _one_by_one(plane, "planner", MIXED)
    done = plane.execute_batch(
        [RunRequest(role="planner", initiator_id="alice", goal_text="goal", calls=MIXED)]
    )
    assert len(done) == 1
    assert done[0].finished
    batch_results = done[0].results
    assert [r.outcome for r in batch_results] == [r.outcome for r in seq_results]
    assert [r.outcome for r in batch_results] == [
        StepOutcome.EXECUTED,
        StepOutcome.EXECUTED,
        StepOutcome.ERROR,
        StepOutcome.ERROR,
        StepOutcome.ERROR,
        StepOutcome.REJECTED,
    ]
    assert [r.reason for r in batch_results] == [r.reason for r in seq_results]
    assert _run_records(ledger, done[0].run.run_id) == _run_records(ledger, seq_id)
    kinds = [r.kind for r in ledger.records(run_id=done[0].run.run_id)]
    assert kinds[0] == "run"
    assert kinds[-2:] == ["run", "outcome"]
    assert effects.count("update:") == 2
    assert effects.count("broken") == 2
    assert ledger.verify().ok


def test_a_gated_batch_opens_gates_without_running_and_leaves_the_run_open(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """Gated calls wait at durable gates; their run is waiting_approval, not completed."""
    calls: list[tuple[str, Mapping[str, Any]]] = [
        ("send_message", SEND),
        ("lookup", {"zip": "10115"}),
        ("send_message", {**SEND, "receiverId": "d2"}),
    ]
    seq_id, _ = _one_by_one(plane, "recruiter", calls)
    [done] = plane.execute_batch(
        [RunRequest(role="recruiter", initiator_id="alice", goal_text="goal", calls=calls)]
    )
    assert not done.finished
    gate_ids = [r.gate_id for r in done.results if r.gate_id]
    assert len(gate_ids) == 2
    assert effects.count("send:") == 0
    assert sorted(g.gate_id for g in plane.pending_gates(done.run.run_id)) == sorted(gate_ids)
    statuses = [r.fields["status"] for r in ledger.records(kind="run", run_id=done.run.run_id)]
    assert statuses == ["running", "waiting_approval"]

    def shape(run_id: str) -> list[str]:  # steps_count differs: see the batch module docstring
        return [line for line in _run_records(ledger, run_id) if '"kind": "run"' not in line]

    assert shape(done.run.run_id) == shape(seq_id)


def test_every_intent_is_committed_before_its_handler_runs(
    ledger: Ledger, effects: Effects, clock: FakeClock
) -> None:
    """Write-ahead: a handler of the batch finds its own intent already in the ledger."""
    seen: list[bool] = []
    registry = make_registry(effects)

    def act(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        intents = [
            r
            for r in ledger.records(kind="step_detail")
            if r.record_id == ctx.step_id and r.fields["phase"] == "intent"
        ]
        seen.append(len(intents) == 1)
        return {"ok": True}

    registry.register(
        Tool(
            name="act",
            description="Acts.",
            parameters={**OBJ, "properties": {}},
            handler=act,
            policy=Policy(risk_level=RiskLevel.EXECUTE_LOW),
        )
    )
    plane = ControlPlane(registry, ledger, clock=clock)
    plane.execute_batch(
        [
            RunRequest(role="r", initiator_id=f"u{i}", goal_text=None, calls=[("act", {})] * 2)
            for i in range(3)
        ]
    )
    assert seen == [True] * 6


def test_a_batch_counts_rate_limits_and_denies_gates_without_approvers(
    ledger: Ledger, effects: Effects, clock: FakeClock
) -> None:
    """The rate limit counts every call of the batch; no approver means gated calls are denied."""
    plane = make_plane(ledger, effects, clock=clock)
    [done] = plane.execute_batch(
        [
            RunRequest(
                role="recruiter",
                initiator_id="alice",
                goal_text=None,
                calls=[("limited", {})] * (RATE_LIMIT + 2) + [("send_message", SEND)],
            )
        ]
    )
    outcomes = [r.outcome for r in done.results]
    assert outcomes.count(StepOutcome.EXECUTED) == RATE_LIMIT
    assert outcomes.count(StepOutcome.RATE_LIMITED) == 2
    assert outcomes[-1] is StepOutcome.REJECTED
    assert done.finished
    assert plane.pending_gates() == []


def test_a_batch_stops_at_the_run_budget_like_one_by_one_calls(plane: ControlPlane) -> None:
    """Usage reported by an earlier call of the batch counts against the next one's check."""
    budget = RunBudget(max_tokens=100)
    calls: list[tuple[str, Mapping[str, Any]]] = [("think", {"tokens": 80, "cost": 0.0})] * 3
    run = plane.start_run("recruiter", "alice", None, budget=budget)
    one_by_one = [plane.execute(run, t, a).outcome for t, a in calls]
    [done] = plane.execute_batch(
        [
            RunRequest(
                role="recruiter", initiator_id="bob", goal_text=None, calls=calls, budget=budget
            )
        ]
    )
    assert [r.outcome for r in done.results] == one_by_one
    assert one_by_one == [
        StepOutcome.EXECUTED,
        StepOutcome.EXECUTED,
        StepOutcome.BUDGET_EXCEEDED,
    ]
    assert plane.budgets.totals(done.run.run_id).total_tokens == 160


def _gated_batch(plane: ControlPlane, runs: int) -> list[list[str]]:
    done = plane.execute_batch(
        [
            RunRequest(
                role="recruiter",
                initiator_id=f"user{i}",
                goal_text=None,
                calls=[("send_message", {**SEND, "receiverId": f"r{i}-{j}"}) for j in range(2)],
            )
            for i in range(runs)
        ]
    )
    return [[r.gate_id for r in d.results if r.gate_id] for d in done]


def test_resume_batch_runs_each_approved_call_exactly_once(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """Approved calls run once (also against a one-by-one resume); others never run."""
    gates = _gated_batch(plane, 3)
    approved = [gates[0][0], gates[0][1], gates[1][0], gates[2][0]]
    for gate_id in approved:
        plane.decide(gate_id, "approve", "boss")
    plane.decide(gates[1][1], "reject", "boss", reason="no")
    first = plane.resume(gates[2][0])  # resumed elsewhere first: the batch replays it
    out = plane.resume_batch([*approved, gates[1][1], gates[2][1], "gate_unknown"])
    for gate_id in approved:
        result = out[gate_id]
        assert isinstance(result, StepResult)
        assert result.outcome is StepOutcome.EXECUTED
    replay = out[gates[2][0]]
    assert isinstance(replay, StepResult)
    assert replay.replayed
    assert replay.step_id == first.step_id
    assert isinstance(out[gates[1][1]], ConflictError)  # rejected
    assert isinstance(out[gates[2][1]], ConflictError)  # still pending
    assert isinstance(out["gate_unknown"], NotFoundError)
    assert effects.count("send:") == 4
    again = plane.resume_batch(approved)
    assert all(isinstance(r, StepResult) and r.replayed for r in again.values())
    assert effects.count("send:") == 4
    for gate_id in approved:
        result = out[gate_id]
        assert isinstance(result, StepResult)
        step = ledger.latest("step", result.step_id)
        assert step is not None
        assert (step.fields["status"], step.fields["approval_gate_id"]) == ("executed", gate_id)
    run0 = plane.gates.get(gates[0][0]).run_id
    closed = plane.finish_runs(
        [plane.get_run(run0), plane.get_run(plane.gates.get(gates[2][1]).run_id)]
    )
    assert not isinstance(closed[run0], Exception)
    assert [isinstance(v, ConflictError) for v in closed.values()] == [False, True]
    statuses = [r.fields["status"] for r in ledger.records(kind="run", run_id=run0)]
    assert statuses[-1] == "completed"
    assert ledger.verify().ok


@pytest.mark.parametrize("batched", [False, True], ids=["resume", "resume_batch"])
def test_resume_checks_the_tool_before_claiming_the_gate(
    plane: ControlPlane, ledger: Ledger, effects: Effects, clock: FakeClock, batched: bool
) -> None:
    """A plane without the gate's tool refuses to resume and leaves the gate unclaimed."""
    run = plane.start_run("recruiter", "alice", None)
    gate_id = plane.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    plane.decide(gate_id, "approve", "boss")
    registry = ToolRegistry()
    for tool in make_registry(effects):
        if tool.name != "send_message":
            registry.register(tool)
    other = ControlPlane(
        registry, ledger, clock=clock, approvers=ApproverList(approver_ids=frozenset({"boss"}))
    )
    if batched:
        assert isinstance(other.resume_batch([gate_id])[gate_id], NotFoundError)
    else:
        with pytest.raises(NotFoundError, match="not registered"):
            other.resume(gate_id)
    with ledger.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(claims)).scalar() == 0
    assert plane.resume(gate_id).outcome is StepOutcome.EXECUTED
    assert effects.count("send:") == 1


def test_expire_gates_times_out_many_gates_in_one_go(
    plane: ControlPlane, ledger: Ledger, clock: FakeClock, effects: Effects
) -> None:
    """Every overdue gate times out, its step is skipped, and its run goes back to running."""
    gates = _gated_batch(plane, 2)
    clock.advance(601)
    expired = plane.expire_gates()
    assert sorted(expired) == sorted(g for pair in gates for g in pair)
    assert plane.expire_gates() == []
    for pair in gates:
        for gate_id in pair:
            assert [
                r.fields["decision"] for r in ledger.records(kind="gate") if r.record_id == gate_id
            ] == ["pending", "timeout"]
            with pytest.raises(ConflictError):
                plane.decide(gate_id, "approve", "boss")
        run_id = plane.gates.get(pair[0]).run_id
        runs = [r.fields for r in ledger.records(kind="run", run_id=run_id)]
        assert [(r["status"], r["steps_count"]) for r in runs] == [
            ("running", 0),
            ("waiting_approval", 0),
            ("running", 2),
        ]
        steps = [r.fields["status"] for r in ledger.records(kind="step", run_id=run_id)]
        assert steps == ["pending_approval", "pending_approval", "skipped", "skipped"]
    assert effects.count("send:") == 0
    assert ledger.verify().ok


def _decisions(gates: list[list[str]]) -> list[DecisionRequest]:
    """Every outcome of a decision: approvals (one edited), a rejection, and five refusals."""
    return [
        DecisionRequest(gates[0][0], "approve", "boss", reason="fine"),
        DecisionRequest(gates[0][1], "reject", "deputy", reason="not now"),
        DecisionRequest(gates[1][0], "approve", "boss", {**SEND, "content": "hi"}),
        DecisionRequest(gates[1][0], "reject", "deputy"),  # already approved just before
        DecisionRequest(gates[1][1], "approve", "user1"),  # started the run
        DecisionRequest(gates[1][1], "maybe", "boss"),  # no such decision
        DecisionRequest(gates[2][0], "approve", "boss", {"receiverId": 3}),  # bad edit
        DecisionRequest("gate_unknown", "approve", "boss"),
        DecisionRequest(gates[2][1], "approve", "deputy"),
    ]


def test_decide_many_decides_and_records_like_one_by_one_decisions(
    plane: ControlPlane, ledger: Ledger
) -> None:
    """Same outcomes, same errors, same records per run as ``decide`` one request at a time."""
    one, many = _gated_batch(plane, 3), _gated_batch(plane, 3)
    expected: list[object] = []
    for request in _decisions(one):
        try:
            expected.append(
                plane.decide(
                    request.gate_id,
                    request.decision,
                    request.approver_id,
                    edited_args=request.edited_args,
                    reason=request.reason,
                )
            )
        except TailguardError as exc:
            expected.append(exc)
    got = plane.decide_many(_decisions(many))

    def shape(outcome: object) -> object:
        if isinstance(outcome, GateDecision):
            return (outcome.decision, outcome.decided_by, outcome.reason, outcome.edited)
        assert isinstance(outcome, TailguardError)
        return (type(outcome).__name__, _ID.sub(lambda m: m.group(1), str(outcome)))

    assert [shape(o) for o in got] == [shape(o) for o in expected]
    assert [type(o).__name__ for o in got] == [
        "GateDecision",
        "GateDecision",
        "GateDecision",
        "ConflictError",
        "PermissionDeniedError",
        "InvalidInputError",
        "InvalidInputError",
        "NotFoundError",
        "GateDecision",
    ]
    for a, b in zip(one, many, strict=True):
        run_a, run_b = plane.gates.get(a[0]).run_id, plane.gates.get(b[0]).run_id
        assert _run_records(ledger, run_b) == _run_records(ledger, run_a)
    # Run 0 had both gates decided: it runs again, with both (gated) steps counted once.
    run0 = plane.gates.get(many[0][0]).run_id
    runs = [
        (r.fields["status"], r.fields["steps_count"])
        for r in ledger.records(kind="run", run_id=run0)
    ]
    assert runs == [("running", 0), ("waiting_approval", 0), ("running", 2)]
    left = {g.gate_id for g in plane.pending_gates()}  # the refused requests' gates
    assert left == {one[1][1], one[2][0], many[1][1], many[2][0]}
    assert ledger.verify().ok


def test_decide_many_times_out_gates_past_their_deadline(
    plane: ControlPlane, ledger: Ledger, clock: FakeClock
) -> None:
    """A late decision in a batch is refused like ``decide`` refuses it; the gate times out."""
    gates = _gated_batch(plane, 1)[0]
    clock.advance(601)
    first, second = plane.decide_many(
        [DecisionRequest(gates[0], "approve", "boss"), DecisionRequest(gates[0], "approve", "boss")]
    )
    assert isinstance(first, ConflictError)
    assert "timed out" in str(first)
    assert isinstance(second, ConflictError)
    assert "already timeout" in str(second)
    assert plane.gates.get(gates[0]).decision == "timeout"
    assert plane.gates.get(gates[1]).decision == "pending"  # not named: left to the sweep
    assert [
        r.fields["decision"] for r in ledger.records(kind="gate") if r.record_id == gates[0]
    ] == [
        "pending",
        "timeout",
    ]
    assert ledger.verify().ok
