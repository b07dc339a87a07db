"""The operations-manager chat role, offline with the scripted stand-in: the reference
question answered from the ledger, the self-learn store and the pulse through governed read
tools; approvals decided through the same gates; the analyst refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tailguard.clock import FakeClock
from tailguard.control.queries import runs_of
from tailguard.roles.fieldservice.registry import OPS_ANALYST, OPS_MANAGER
from tailguard.roles.fieldservice.session import OpsStack, open_ops_chat

from .network import LEAD, SURGE_TOOL, Network

MANAGER = "maria"


@pytest.fixture
def stack(db_url: str, pulse_url: str, network: Network) -> Iterator[OpsStack]:
    opened = open_ops_chat(
        db_url, pulse_url=pulse_url, clock=FakeClock(network.now), approvers=[MANAGER]
    )
    yield opened
    opened.close()


def test_the_reference_question_is_answered_from_the_records(
    stack: OpsStack, network: Network
) -> None:
    reply = stack.agent.send(
        role=OPS_MANAGER,
        user_id=MANAGER,
        message="Why did PA-0004 get a surge window yesterday, and did it work?",
    )
    assert reply.status == "completed"
    assert reply.stand_in  # the scripted provider says it is one
    assert [c.tool_name for c in reply.tool_calls] == ["fs_explain_intervention"]
    answer = reply.answer or ""
    day = network.yesterday.date().isoformat()
    for part in (
        f"PA-0004 on {day}",
        SURGE_TOOL,
        "demand_surge",
        "bookings 3.4x",
        f"by {LEAD}",
        "ftf_rate 0.7 -> 0.76",
        "it worked",
    ):
        assert part in answer, (part, answer)
    # The read went through the control plane: a run of the manager's role in the ledger.
    runs = runs_of(stack.ledger.engine, role=OPS_MANAGER)
    assert [r.run.initiator_id for r in runs] == [MANAGER]


def test_an_area_without_that_intervention_says_so(stack: OpsStack, network: Network) -> None:
    reply = stack.agent.send(
        role=OPS_MANAGER, user_id=MANAGER, message="why did PA-0007 get a surge window today?"
    )
    assert f"PA-0007 had no surge intervention on {network.now.date().isoformat()}" in (
        reply.answer or ""
    )


@pytest.mark.parametrize(
    ("question", "tool", "expected"),
    [
        ("what is the pulse of PA-0007?", "fs_pulse", "pulse of 1 area(s)"),
        ("how is PA-0004 doing?", "fs_area_scorecard", "ftf_rate 0.7 -> 0.76"),
        ("show me the OKRs", "fs_okrs", "1 OKR record(s)"),
        ("what approvals are waiting for me?", "fs_approvals", "1 approval(s) waiting"),
        (
            "which interventions did PA-0007 get?",
            "fs_interventions",
            "1 intervention(s) in PA-0007",
        ),
        ("which areas are in the tail?", "fs_tails", "tail(s) firing"),
    ],
)
def test_the_other_reference_questions(
    stack: OpsStack, question: str, tool: str, expected: str
) -> None:
    reply = stack.agent.send(role=OPS_MANAGER, user_id=MANAGER, message=question)
    assert [c.tool_name for c in reply.tool_calls] == [tool]
    assert expected in (reply.answer or ""), reply.answer


def test_the_manager_decides_an_approval_through_the_gates(
    stack: OpsStack, network: Network
) -> None:
    reply = stack.agent.send(
        role=OPS_MANAGER, user_id=MANAGER, message=f"approve gate {network.waiting_gate_id}"
    )
    assert [(c.tool_name, c.outcome) for c in reply.tool_calls] == [
        ("fs_decide_approval", "executed")
    ]
    assert stack.control.pending_gates() == []
    decided = [
        g for g in stack.control.awaiting_execution() if g.gate_id == network.waiting_gate_id
    ]
    assert decided
    assert decided[0].decided_by == MANAGER


def test_someone_who_is_not_an_approver_is_refused(
    db_url: str, pulse_url: str, network: Network
) -> None:
    opened = open_ops_chat(db_url, pulse_url=pulse_url, clock=FakeClock(network.now), approvers=[])
    try:
        reply = opened.agent.send(
            role=OPS_MANAGER, user_id="intruder", message=f"approve gate {network.waiting_gate_id}"
        )
        assert [c.outcome for c in reply.tool_calls] == ["error"]
        assert len(opened.control.pending_gates()) == 1
    finally:
        opened.close()


def test_the_analyst_is_offered_no_decide_tool_and_refused_if_it_calls_it(
    stack: OpsStack, network: Network
) -> None:
    specs = {s.name for s in stack.agent.domain.tool_specs(OPS_ANALYST)}
    assert "fs_decide_approval" not in specs
    assert "fs_explain_intervention" in specs
    run = stack.control.start_run(OPS_ANALYST, "ana", "decide")
    result = stack.control.execute(
        run, "fs_decide_approval", {"gate_id": network.waiting_gate_id, "decision": "approve"}
    )
    assert result.outcome == "rejected"
    assert "role" in (result.reason or "")
    assert len(stack.control.pending_gates()) == 1
