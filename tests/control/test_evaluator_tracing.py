"""The outcome heuristic and the OpenTelemetry spans of runs and steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tailguard.clock import FakeClock
from tailguard.control import ApproverList, Evaluation, HeuristicScorer, RunView
from tailguard.ledger import Ledger

from ._toolkit import Effects, make_plane


def _step(status: str, summary: str = "object (a)") -> dict[str, Any]:
    return {"step_id": f"s-{status}", "tool_name": "t", "status": status, "result_summary": summary}


@pytest.mark.parametrize(
    ("steps", "gates", "follow_up", "score", "objective"),
    [
        ([], [], None, 50, "unknown"),
        ([_step("executed")], [], None, 60, "yes"),
        ([_step("executed")] * 5, [], True, 100, "yes"),
        ([_step("error", "error")] * 2, [], None, 20, "no"),
        (
            [_step("executed", "empty")],
            [{"decision": "timeout", "tool_name": "t", "gate_id": "g"}],
            None,
            25,
            "no",
        ),
        (
            [_step("rejected", "rejected")],
            [{"decision": "rejected", "tool_name": "t", "gate_id": "g"}],
            False,
            50,
            "partial",
        ),
    ],
)
def test_heuristic_scores_like_the_product_document(
    steps: list[dict[str, Any]],
    gates: list[dict[str, Any]],
    follow_up: bool | None,
    score: float,
    objective: str,
) -> None:
    """Baseline 50, -15 per error, +20 follow-up, -25 per timeout, +10 per productive step (max 30)."""
    result = HeuristicScorer().score(
        RunView(run={"run_id": "r"}, steps=tuple(steps), gates=tuple(gates), follow_up=follow_up)
    )
    assert result.quality_score == score
    assert result.objective_met == objective


def test_heuristic_proposes_follow_ups_for_errors_and_rejections() -> None:
    """Errors, rejected and timed-out gates each become a follow-up task."""
    result = HeuristicScorer().score(
        RunView(
            run={"run_id": "r"},
            steps=(_step("error", "error"),),
            gates=(
                {"decision": "rejected", "tool_name": "send", "gate_id": "g1", "decided_by": "b"},
                {"decision": "timeout", "tool_name": "send", "gate_id": "g2"},
            ),
        )
    )
    assert len(result.follow_up_tasks) == 3
    assert any("g2" in task for task in result.follow_up_tasks)


def test_custom_scorer_is_used_and_recorded(tmp_path: Path) -> None:
    """A pluggable scorer replaces the heuristic and its verdict lands in the outcome record."""

    class Always:
        def score(self, view: RunView) -> Evaluation:
            return Evaluation(
                quality_score=88, objective_met="partial", follow_up_tasks=("call back",)
            )

    clock = FakeClock()
    with Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", clock=clock) as ledger:
        plane = make_plane(ledger, Effects(tmp_path / "e"), clock=clock, scorer=Always())
        run = plane.start_run("driver", "u", None)
        plane.finish_run(run, "completed")
        record = next(iter(ledger.records(kind="outcome")))
        assert (record.fields["quality_score"], record.fields["objective_met"]) == (88, "partial")
        assert record.fields["follow_up_tasks"] == ["call back"]


def test_runs_and_steps_emit_genai_spans(tmp_path: Path) -> None:
    """invoke_agent and execute_tool spans carry gen_ai.* and tailguard.* attributes, nested."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    clock = FakeClock()
    with Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", clock=clock) as ledger:
        plane = make_plane(
            ledger,
            Effects(tmp_path / "e"),
            clock=clock,
            tracer_provider=provider,
            approvers=ApproverList(approver_ids=frozenset({"boss"})),
        )
        run = plane.start_run("recruiter", "alice", "goal")
        plane.execute(run, "think", {"tokens": 12, "cost": 0.01})
        gated = plane.execute(run, "send_message", {"receiverId": "d", "content": "x"})
        assert gated.gate_id is not None
        plane.decide(gated.gate_id, "reject", "boss")
        plane.finish_run(run, "completed")
    spans = {span.name: span for span in exporter.get_finished_spans()}
    agent = spans["invoke_agent recruiter"]
    tool = spans["execute_tool think"]
    send = spans["execute_tool send_message"]
    assert agent.attributes is not None
    assert tool.attributes is not None
    assert send.attributes is not None
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "recruiter"
    assert agent.attributes["tailguard.run_id"] == run.run_id
    assert agent.attributes["gen_ai.usage.input_tokens"] == 12
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "think"
    assert tool.attributes["gen_ai.tool.call.id"] == tool.attributes["tailguard.step_id"]
    assert tool.attributes["tailguard.risk_level"] == "suggest"
    assert tool.attributes["gen_ai.usage.input_tokens"] == 12
    assert send.attributes["tailguard.gate_id"] == gated.gate_id
    assert tool.parent is not None
    assert tool.parent.span_id == agent.context.span_id


def test_a_step_span_covers_its_handler(tmp_path: Path) -> None:
    """The execute_tool span is written after the commit, but spans the handler's own run."""
    import time

    from tailguard.control import Policy, RiskLevel, Tool, ToolRegistry

    seen: list[int] = []
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = ToolRegistry()
    registry.register(
        Tool(
            name="probe",
            description="notes when it runs",
            parameters={"type": "object"},
            handler=lambda args, ctx: seen.append(time.time_ns()) or {"ok": True},
            policy=Policy(risk_level=RiskLevel.READ),
        )
    )
    from tailguard.control import ControlPlane

    clock = FakeClock()
    with Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", clock=clock) as ledger:
        plane = ControlPlane(registry, ledger, clock=clock, tracer_provider=provider)
        run = plane.start_run("ops", "olga", "probe")
        plane.execute(run, "probe", {})
        done_ns = time.time_ns()
        plane.finish_run(run)
    span = next(s for s in exporter.get_finished_spans() if s.name == "execute_tool probe")
    assert span.start_time is not None
    assert span.end_time is not None
    assert span.start_time <= seen[0] <= span.end_time <= done_ns
