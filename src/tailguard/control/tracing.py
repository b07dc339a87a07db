"""OpenTelemetry spans for runs and steps, named by the GenAI semantic conventions.

A run is an ``invoke_agent {role}`` span and each governed call an ``execute_tool {tool}``
span under it, with ``gen_ai.*`` attributes and tailguard's ids under ``tailguard.*``. The
tracer comes from a ``TracerProvider`` passed in; without one, spans go to the no-op provider,
so exporting is opt-in and never global.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from tailguard import __version__

OP_INVOKE_AGENT = "invoke_agent"
OP_EXECUTE_TOOL = "execute_tool"

# Bound on open run spans kept per control plane: runs that never finish (a crashed caller)
# must not grow memory forever; the oldest are ended as abandoned.
_MAX_OPEN_RUNS = 10_000


class RunTracer:
    """Starts and ends the spans of runs and steps.

    Args:
        provider: the TracerProvider to take the tracer from; None means no-op.
    """

    def __init__(self, provider: trace.TracerProvider | None = None) -> None:
        provider = provider or trace.NoOpTracerProvider()
        self._tracer = provider.get_tracer("tailguard.control", __version__)
        self._open: dict[str, Span] = {}
        self._lock = threading.Lock()

    def start_run(
        self, *, run_id: str, role: str, initiator_id: str, conversation_id: str | None
    ) -> None:
        """Open the ``invoke_agent`` span of a run."""
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": OP_INVOKE_AGENT,
            "gen_ai.agent.name": role,
            "tailguard.run_id": run_id,
            "tailguard.initiator_id": initiator_id,
        }
        if conversation_id:
            attributes["gen_ai.conversation.id"] = conversation_id
        span = self._tracer.start_span(
            f"{OP_INVOKE_AGENT} {role}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        with self._lock:
            if len(self._open) >= _MAX_OPEN_RUNS:
                oldest = next(iter(self._open))
                self._open.pop(oldest).end()
            self._open[run_id] = span

    def end_run(
        self, *, run_id: str, status: str, input_tokens: int, output_tokens: int, cost_usd: float
    ) -> None:
        """Close the run's span (a no-op when this process did not open it)."""
        with self._lock:
            span = self._open.pop(run_id, None)
        if span is None:
            return
        span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        span.set_attribute("tailguard.cost_usd", cost_usd)
        span.set_attribute("tailguard.run_status", status)
        if status in ("failed", "aborted"):
            span.set_status(Status(StatusCode.ERROR, status))
        span.end()

    def step_span(
        self,
        *,
        run_id: str,
        step_id: str,
        tool_name: str,
        role: str,
        risk_level: str | None,
        gate_id: str | None = None,
        start_time: int | None = None,
    ) -> Span:
        """Start an ``execute_tool`` span, a child of the run's span when this process has it."""
        with self._lock:
            parent = self._open.get(run_id)
        context = trace.set_span_in_context(parent) if parent is not None else None
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": OP_EXECUTE_TOOL,
            "gen_ai.tool.name": tool_name,
            "gen_ai.tool.call.id": step_id,
            "gen_ai.agent.name": role,
            "tailguard.run_id": run_id,
            "tailguard.step_id": step_id,
        }
        if risk_level:
            attributes["tailguard.risk_level"] = risk_level
        if gate_id:
            attributes["tailguard.gate_id"] = gate_id
        return self._tracer.start_span(
            f"{OP_EXECUTE_TOOL} {tool_name}",
            context=context,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=start_time,
        )
