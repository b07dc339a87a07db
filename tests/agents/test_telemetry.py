"""OpenTelemetry from the OTEL_* variables (to an in-process OTLP receiver) and the Prometheus
metrics of `agents run` (tick durations, decisions) on --metrics-port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tailguard.clock import FakeClock
from tailguard.control import ApproverList, ControlPlane, ToolRegistry
from tailguard.errors import InvalidInputError
from tailguard.ledger import Ledger
from tailguard.telemetry import REGISTRY, configure_tracing, trace_exporters

_OTEL_VARS = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
)


class OtlpReceiver:
    """An OTLP/HTTP trace receiver on loopback: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.services: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    for attr in resource_spans.resource.attributes:
                        if attr.key == "service.name":
                            receiver.services.add(attr.value.string_value)
                    for scope in resource_spans.scope_spans:
                        for span in scope.spans:
                            receiver.spans.append(
                                {
                                    "name": span.name,
                                    "attributes": {a.key: _value(a.value) for a in span.attributes},
                                    "span_id": span.span_id,
                                    "parent": span.parent_span_id,
                                }
                            )
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    """A running OTLP receiver."""
    r = OtlpReceiver()
    yield r
    r.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OTEL_* variable from the environment the tests run in."""
    for name in _OTEL_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "exporters"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ],
)
def test_the_environment_decides_which_exporters_run(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], exporters: list[str]
) -> None:
    """Exporting is opt-in: an exporter or an OTLP endpoint must be named."""
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert trace_exporters() == exporters


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "unknown exporter zipkin"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"),
    ],
)
def test_what_cannot_be_exported_is_refused_with_the_reason(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], reason: str
) -> None:
    """An unknown exporter or the gRPC protocol is a clear error, not silence."""
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(InvalidInputError, match=reason):
        configure_tracing("t", set_global=False)


def test_one_governed_call_reaches_an_otlp_receiver_with_genai_spans(
    clean_env: pytest.MonkeyPatch, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT alone sends the run and step spans of a governed call."""
    from tailguard.control import Policy, Tool, ToolOutput

    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    clean_env.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
    provider = configure_tracing("tailguard-test", set_global=False)
    assert provider is not None
    registry = ToolRegistry()
    registry.register(
        Tool(
            name="lookup",
            description="Look something up.",
            parameters={"type": "object", "properties": {"q": {"type": "string"}}},
            handler=lambda args, ctx: ToolOutput(value={"found": args.get("q")}),
            policy=Policy(risk_level="read"),
        )
    )
    clock = FakeClock()
    with Ledger.open(f"sqlite:///{tmp_path / 'l.db'}", clock=clock) as ledger:
        plane = ControlPlane(
            registry,
            ledger,
            clock=clock,
            approvers=ApproverList(approver_ids=frozenset()),
            tracer_provider=provider,
        )
        run = plane.start_run("dispatcher", "alice", "find it")
        step = plane.execute(run, "lookup", {"q": "x"})
        plane.finish_run(run, "completed")
    assert step.outcome == "executed"
    provider.force_flush()
    provider.shutdown()
    by_name = {s["name"]: s for s in receiver.spans}
    agent, tool = by_name["invoke_agent dispatcher"], by_name["execute_tool lookup"]
    assert agent["attributes"]["gen_ai.operation.name"] == "invoke_agent"
    assert agent["attributes"]["gen_ai.agent.name"] == "dispatcher"
    assert tool["attributes"]["gen_ai.operation.name"] == "execute_tool"
    assert tool["attributes"]["gen_ai.tool.name"] == "lookup"
    assert tool["attributes"]["gen_ai.tool.call.id"] == step.step_id
    assert tool["parent"] == agent["span_id"]
    assert receiver.services == {"tailguard-test"}


def _env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _OTEL_VARS}
    env.update(more)
    return env


def test_agents_run_exports_its_governed_calls_through_the_global_provider(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    """`agents run` configured only by OTEL_* variables exports its control plane's spans."""
    from tailguard.agents.testing import RecordingDownstreamServer

    from ._runs import write_sim_events

    events = write_sim_events(tmp_path / "ev.jsonl", areas=3, days=3, seed=5)
    with RecordingDownstreamServer() as server:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "tailguard",
                "agents",
                "run",
                "--events",
                str(events),
                "--db",
                str(tmp_path / "l.db"),
                "--downstream",
                server.url,
                "--warmup-days",
                "2",
                "--hours",
                "12",
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            check=False,
            env=_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_SERVICE_NAME="ops-agents"),
            timeout=240,
        )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["decisions"]["total"] > 0
    names = {s["name"] for s in receiver.spans}
    assert any(n.startswith("invoke_agent ") for n in names), names
    assert any(n.startswith("execute_tool ") for n in names), names
    assert receiver.services == {"ops-agents"}


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_agents_run_serves_prometheus_metrics_on_metrics_port(tmp_path: Path) -> None:
    """--metrics-port serves tick durations and decision counts while the agents follow a bus."""
    from tailguard.agents.testing import RecordingDownstreamServer

    port = _free_port()
    with RecordingDownstreamServer() as server:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tailguard",
                "agents",
                "run",
                "--bus",
                "memory://",
                "--db",
                str(tmp_path / "l.db"),
                "--downstream",
                server.url,
                "--poll",
                "0.05",
                "--metrics-port",
                str(port),
                "--format",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        try:
            assert proc.stderr is not None
            assert proc.stderr.readline().startswith("following memory://")
            text = _scrape(port)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out)["stopped_by"] == "stopped"
    assert "# TYPE tailguard_tick_duration_seconds histogram" in text
    assert "tailguard_tick_duration_seconds_count 0.0" in text
    assert "# TYPE tailguard_decisions_total counter" in text


def test_every_tick_is_timed_and_every_decision_counted(tmp_path: Path) -> None:
    """A replay's ticks land in the tick histogram and its decisions in the counter by kind."""
    from tailguard.agents.catalogue import default_catalogue
    from tailguard.agents.routing import DownstreamRoutes
    from tailguard.agents.runner import AgentRunner, RunnerConfig
    from tailguard.agents.testing import RecordingDownstreamServer

    from ._runs import write_sim_events

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    events = write_sim_events(tmp_path / "ev.jsonl", areas=3, days=3, seed=5)
    ticks_before = sample("tailguard_tick_duration_seconds_count")
    kinds = {e.kind for e in default_catalogue().entries} | {"hold"}
    decided_before = sum(sample("tailguard_decisions_total", kind=k) for k in kinds)
    with RecordingDownstreamServer() as server:
        config = RunnerConfig(
            db=str(tmp_path / "l.db"),
            pulse=str(tmp_path / "p.db"),
            downstream=DownstreamRoutes.parse([server.url]),
            dead_letter=tmp_path / "dl.jsonl",
            warmup=timedelta(days=2),
        )
        with AgentRunner(config) as runner:
            summary = runner.replay(events, hours=6)
    assert sample("tailguard_tick_duration_seconds_count") == ticks_before + 6
    assert sample("tailguard_tick_duration_seconds_sum") > 0
    decided = sum(sample("tailguard_decisions_total", kind=k) for k in kinds)
    assert decided - decided_before == sum(summary.decisions_by_kind.values())
    assert decided > decided_before


def test_the_service_hands_the_global_tracer_provider_to_its_control_plane(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A service opened without a provider of its own traces runs to the global provider."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tailguard.service import ServiceSettings
    from tailguard.service.settings import ServiceState

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # The process-wide provider can be set once per process: stand in for it here only.
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    state = ServiceState.open(
        ServiceSettings(ledger_url=str(tmp_path / "l.db"), pulse_url=str(tmp_path / "p.db"))
    )
    try:
        run = state.plane.start_run("ops", "alice", "check the spans")
        state.plane.finish_run(run, "completed")
    finally:
        state.close()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert "invoke_agent ops" in spans
    attributes = spans["invoke_agent ops"].attributes
    assert attributes is not None
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
