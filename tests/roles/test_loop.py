"""End to end through the whole chain: message -> loop -> governed tool -> ledger -> outcome."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa

from tailguard.clock import FakeClock
from tailguard.control import StepOutcome
from tailguard.errors import BudgetExceededError, ConflictError, PermissionDeniedError
from tailguard.roles.providers import (
    ChatMessage,
    ModelTurn,
    ScriptedCall,
    ScriptedProvider,
    ScriptRule,
    ToolSpec,
    Usage,
)
from tailguard.roles.recruiting import schema as t
from tailguard.roles.session import ChatStack, open_chat


def _latest(stack: ChatStack, kind: str, run_id: str) -> list[dict[str, object]]:
    latest: dict[str, dict[str, object]] = {}
    for record in stack.ledger.records(kind=kind, run_id=run_id):
        latest[record.record_id] = dict(record.fields)
    return list(latest.values())


def _john(stack: ChatStack) -> dict[str, object]:
    return stack.store.rows(
        sa.select(t.pipeline)
        .join(t.drivers, t.drivers.c.driver_id == t.pipeline.c.driver_id)
        .where(t.drivers.c.first_name == "John", t.pipeline.c.recruiter_id == "R-001")
    )[0]


def test_driver_finds_carriers_near_75001_paying_over_55_cents(chat: ChatStack) -> None:
    """find_matches runs, returns carriers, the run and its outcome are in the ledger."""
    reply = chat.agent.send(
        role="driver", user_id="drv-0001", message="Find carriers near 75001 paying over $0.55 CPM"
    )
    assert reply.status == "completed"
    assert [a.tool_name for a in reply.tool_calls] == ["find_matches"]
    assert dict(reply.tool_calls[0].arguments) == {"zip": "75001", "minCpm": 0.55}
    assert "carriers within 100 mi of 75001" in (reply.answer or "")
    [run] = _latest(chat, "run", reply.run_id)
    assert run["status"] == "completed"
    assert run["role"] == "driver"
    assert run["total_tokens"] == reply.input_tokens + reply.output_tokens > 0
    [step] = _latest(chat, "step", reply.run_id)
    assert (step["tool_name"], step["status"], step["risk_level"]) == (
        "find_matches",
        "executed",
        "read",
    )
    [outcome] = _latest(chat, "outcome", reply.run_id)
    assert outcome["quality_score"] == reply.quality_score
    assert outcome["objective_met"] == "yes"
    turns = chat.conversations.turns(reply.conversation_id)
    assert [turn.message.role for turn in turns] == ["user", "assistant", "tool", "assistant"]
    assert sum(turn.input_tokens for turn in turns) == reply.input_tokens
    assert '"carriers": [' in turns[2].message.text


def test_recruiter_shows_pipeline_and_moves_john_to_interview(chat: ChatStack) -> None:
    """get_pipeline then update_candidate_status run in order and John's stage changes."""
    reply = chat.agent.send(
        role="recruiter",
        user_id="rec-001",
        message="Show my pipeline and update John to interview stage",
    )
    assert reply.status == "completed"
    assert [(a.tool_name, a.outcome) for a in reply.tool_calls] == [
        ("get_pipeline", "executed"),
        ("update_candidate_status", "executed"),
    ]
    assert _john(chat)["status"] == "interview"
    steps = {s["tool_name"]: s for s in _latest(chat, "step", reply.run_id)}
    assert steps["update_candidate_status"]["risk_level"] == "execute_low"
    assert steps["update_candidate_status"]["approval_gate_id"] is None
    assert "John" not in str(steps["update_candidate_status"]["result_summary"])


def test_admin_checks_system_health_without_approval(chat: ChatStack) -> None:
    """get_system_health runs as a read with no gate and reports the stores healthy."""
    reply = chat.agent.send(role="admin", user_id="admin", message="Check system health")
    assert reply.status == "completed"
    assert reply.tool_calls[0].summary == "all components healthy"
    assert _latest(chat, "gate", reply.run_id) == []
    [step] = _latest(chat, "step", reply.run_id)
    assert (step["risk_level"], step["status"]) == ("read", "executed")


def test_carrier_reads_signals_for_acc_001(chat: ChatStack) -> None:
    """get_signals returns ACC-001's signals, logged at read level."""
    reply = chat.agent.send(
        role="carrier", user_id="acct-001", message="Show signals for account ACC-001"
    )
    assert reply.status == "completed"
    assert [a.tool_name for a in reply.tool_calls] == ["get_signals"]
    summary = reply.tool_calls[0].summary or ""
    assert re.match(r"^[1-9]\d* signals for ACC-001", summary)
    assert summary in (reply.answer or "")
    [step] = _latest(chat, "step", reply.run_id)
    assert step["risk_level"] == "read"


def _send_john(stack: ChatStack) -> str:
    reply = stack.agent.send(
        role="recruiter",
        user_id="rec-001",
        message='Message John: "Hi John, we have a Dallas regional opening. Talk tomorrow?"',
    )
    assert reply.status == "waiting_approval"
    assert reply.answer is None
    [gate] = reply.gates
    assert (gate.tool_name, gate.risk_level) == ("send_message", "execute_high")
    [run] = _latest(stack, "run", reply.run_id)
    assert run["status"] == "waiting_approval"
    assert (
        stack.store.rows(
            sa.select(t.messages).where(t.messages.c.content.like("%Dallas regional%"))
        )
        == []
    )
    return gate.gate_id


def test_send_message_pauses_then_runs_after_approval_across_a_restart(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The run waits at its gate, survives a restart, and sends exactly once when approved."""
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    first = open_chat(url, clock=clock)
    gate_id = _send_john(first)
    first.close()
    clock.advance(600)  # ten minutes waiting for a person do not count against the time cap
    second = open_chat(url, clock=clock)
    reply = second.agent.decide(gate_id, "approve", "admin")
    assert reply.status == "completed"
    assert [(a.tool_name, a.outcome) for a in reply.tool_calls] == [("send_message", "executed")]
    sent = second.store.rows(
        sa.select(t.messages).where(t.messages.c.content.like("%Dallas regional%"))
    )
    assert len(sent) == 1
    [gate] = _latest(second, "gate", reply.run_id)
    assert (gate["decision"], gate["decided_by"]) == ("approved", "admin")
    [step] = _latest(second, "step", reply.run_id)
    assert (step["status"], step["approval_gate_id"]) == ("executed", gate_id)
    with pytest.raises(ConflictError):
        second.agent.resume(reply.run_id)
    assert second.ledger.verify().ok
    second.close()


def test_rejected_message_is_never_sent(chat: ChatStack) -> None:
    """A rejected gate skips the tool, the model hears so, and the run completes."""
    gate_id = _send_john(chat)
    reply = chat.agent.decide(gate_id, "reject", "admin-2", reason="too pushy")
    assert reply.status == "completed"
    assert reply.tool_calls[0].outcome == "rejected"
    assert "rejected by the approver" in (reply.answer or "")
    assert (
        chat.store.rows(sa.select(t.messages).where(t.messages.c.content.like("%Dallas regional%")))
        == []
    )
    [step] = _latest(chat, "step", reply.run_id)
    assert step["status"] == "rejected"


def test_the_requester_cannot_approve_their_own_message(chat: ChatStack) -> None:
    """The recruiter who asked may not decide the gate; the run keeps waiting."""
    gate_id = _send_john(chat)
    with pytest.raises(PermissionDeniedError):
        chat.agent.decide(gate_id, "approve", "rec-001")
    assert chat.control.pending_gates()[0].gate_id == gate_id


def test_a_new_message_waits_while_the_conversation_has_a_paused_run(chat: ChatStack) -> None:
    """The conversation refuses another run until the pending gate is decided."""
    gate_id = _send_john(chat)
    conversation = chat.control.gates.get(gate_id).run_id
    state = chat.conversations.state(conversation)
    with pytest.raises(ConflictError, match="waiting for approval"):
        chat.agent.send(
            role="recruiter",
            user_id="rec-001",
            message="pipeline",
            conversation_id=state.conversation_id,
        )


def test_an_approved_status_change_can_be_rolled_back(chat: ChatStack) -> None:
    """The control plane's rollback of update_candidate_status puts John back."""
    reply = chat.agent.send(role="recruiter", user_id="rec-001", message="update John to offer")
    assert _john(chat)["status"] == "offer"
    result = chat.control.rollback(reply.tool_calls[0].step_id, requested_by="admin")
    assert result.outcome is StepOutcome.EXECUTED
    assert _john(chat)["status"] == "screening"
    [step] = _latest(chat, "step", reply.run_id)
    assert step["status"] == "rolled_back"


RUNAWAY = [
    ScriptRule(
        pattern="forever", calls=(ScriptedCall(tool="get_recruiter_analytics"),), repeat=True
    )
]


def _stack(tmp_path: Path, clock: FakeClock, provider: object, **kw: object) -> ChatStack:
    return open_chat(f"sqlite:///{tmp_path / 'b.db'}", clock=clock, provider=provider, **kw)  # type: ignore[arg-type]


def test_a_runaway_loop_stops_at_five_model_turns(tmp_path: Path, clock: FakeClock) -> None:
    """A model that never stops calling tools is cut off after five turns."""
    stack = _stack(tmp_path, clock, ScriptedProvider(RUNAWAY))
    reply = stack.agent.send(role="recruiter", user_id="rec-001", message="check forever")
    assert (reply.status, reply.stop_reason, reply.model_turns) == ("aborted", "turn_cap", 5)
    [run] = _latest(stack, "run", reply.run_id)
    assert run["status"] == "aborted"
    stack.close()


class Expensive:
    """A provider whose every turn is large and dear, to hit token and cost limits."""

    def __init__(
        self, tokens: int, cost: float, clock: FakeClock | None = None, seconds: float = 0
    ) -> None:
        self.inner = ScriptedProvider(RUNAWAY)
        self.tokens, self.cost, self.clock, self.seconds = tokens, cost, clock, seconds

    @property
    def name(self) -> str:
        return "scripted:rules"

    def complete(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelTurn:
        if self.clock is not None:
            self.clock.advance(self.seconds)
        turn = self.inner.complete(system, messages, tools)
        return ModelTurn(
            text=turn.text,
            tool_calls=turn.tool_calls,
            stop_reason=turn.stop_reason,
            usage=Usage(input_tokens=self.tokens, output_tokens=100),
            cost_usd=self.cost,
        )


def test_token_cap_stops_the_run_without_passing_it(tmp_path: Path, clock: FakeClock) -> None:
    """With 3,000-token turns the 10,000-token cap ends the run before it is passed."""
    stack = _stack(tmp_path, clock, Expensive(tokens=2900, cost=0.0))
    reply = stack.agent.send(role="recruiter", user_id="rec-001", message="check forever")
    assert (reply.status, reply.stop_reason) == ("aborted", "token_cap")
    assert reply.input_tokens + reply.output_tokens <= 10_000
    assert reply.model_turns == 3
    stack.close()


def test_time_cap_stops_a_slow_run(tmp_path: Path, clock: FakeClock) -> None:
    """Twelve seconds per model turn passes the 30-second cap on the third turn."""
    stack = _stack(tmp_path, clock, Expensive(tokens=10, cost=0.0, clock=clock, seconds=12))
    reply = stack.agent.send(role="recruiter", user_id="rec-001", message="check forever")
    assert (reply.status, reply.stop_reason, reply.model_turns) == ("aborted", "time_cap", 3)
    stack.close()


def test_a_run_over_fifty_cents_writes_an_alert(tmp_path: Path, clock: FakeClock) -> None:
    """Crossing $0.50 in one run leaves an alert record in the ledger."""
    stack = _stack(tmp_path, clock, Expensive(tokens=10, cost=0.2))
    reply = stack.agent.send(role="recruiter", user_id="rec-001", message="check forever")
    alerts = [r.fields for r in stack.ledger.records(kind="alert") if r.run_id == reply.run_id]
    assert len(alerts) == 1
    assert reply.cost_usd == pytest.approx(1.0)
    stack.close()


def test_the_daily_run_cap_refuses_the_next_run(tmp_path: Path, clock: FakeClock) -> None:
    """After the user's daily cap, a new message starts no run."""
    stack = _stack(tmp_path, clock, None, daily_run_cap=2)
    for _ in range(2):
        stack.agent.send(role="admin", user_id="admin", message="Check system health")
    runs_before = len(list(stack.ledger.records(kind="run")))
    with pytest.raises(BudgetExceededError):
        stack.agent.send(role="admin", user_id="admin", message="Check system health")
    assert len(list(stack.ledger.records(kind="run"))) == runs_before
    stack.close()


def test_a_user_cannot_speak_as_another_role(chat: ChatStack) -> None:
    """A recruiter account is refused the driver agent before any run starts."""
    with pytest.raises(PermissionDeniedError):
        chat.agent.send(role="driver", user_id="rec-001", message="Find carriers near 75001")
    assert list(chat.ledger.records(kind="run")) == []


@pytest.mark.postgres
def test_approval_round_trip_on_postgresql(pg_url: str, clock: FakeClock) -> None:
    """The gated send and its approval work the same on PostgreSQL."""
    stack = open_chat(pg_url, clock=clock)
    gate_id = _send_john(stack)
    reply = stack.agent.decide(gate_id, "approve", "admin")
    assert reply.status == "completed"
    assert stack.ledger.verify().ok
    stack.close()
