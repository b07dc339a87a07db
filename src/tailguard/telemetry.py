"""Process telemetry: OpenTelemetry tracing configured by the standard ``OTEL_*`` variables, and
the Prometheus metrics every long-running command shares.

**Tracing.** :func:`configure_tracing` builds an SDK ``TracerProvider`` from the environment, as
the OpenTelemetry specification defines it, and makes it the global provider; ``tailguard
serve`` and ``tailguard agents run`` call it at start and hand the global provider to their
control plane, so a ``TracerProvider`` installed by other means (``opentelemetry-instrument``,
an embedding application) is used the same way. Variables read:

* ``OTEL_SDK_DISABLED=true``: no tracing at all;
* ``OTEL_TRACES_EXPORTER``: ``otlp``, ``console`` or ``none`` (a comma list). Unlike the
  specification's default (``otlp``), tailguard exports only when told: when this variable is
  unset, spans are exported over OTLP if ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set, and not at all otherwise;
* ``OTEL_EXPORTER_OTLP_*`` (endpoint, headers, timeout, compression, certificates): read by the
  OTLP exporter itself. The protocol is ``http/protobuf`` (the ``otlp`` extra: ``pip install
  'tailguard[otlp]'``); ``grpc`` is refused with that reason;
* ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``: the resource (the service name defaults
  to the command's, e.g. ``tailguard-serve``);
* ``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_BSP_*``: read by the SDK.

**Metrics.** :data:`REGISTRY` holds the process's Prometheus metrics: the tick duration
(``tailguard_tick_duration_seconds``, observed by every tick of the area agents) and the
decisions taken (``tailguard_decisions_total`` by kind). ``tailguard serve`` adds its HTTP
metrics to the same registry and serves it at ``/metrics``; ``tailguard agents run
--metrics-port P`` serves it with :func:`serve_metrics`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from tailguard.errors import InvalidInputError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

REGISTRY: Final = CollectorRegistry(auto_describe=True)
"""The process-wide registry of tailguard's Prometheus metrics."""

TICK_SECONDS: Final = Histogram(
    "tailguard_tick_duration_seconds",
    "Duration of one hourly tick of the area agents (all areas).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)
DECISIONS: Final = Counter(
    "tailguard_decisions",
    "Decisions the area agents took, by kind (an intervention kind, or hold).",
    ["kind"],
    registry=REGISTRY,
)

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_HTTP_PROTOCOLS: Final = frozenset({"http/protobuf", ""})


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def trace_exporters() -> list[str]:
    """The span exporters the environment asks for (``otlp``, ``console``), maybe none."""
    if _env("OTEL_SDK_DISABLED").lower() in _TRUE:
        return []
    named = _env("OTEL_TRACES_EXPORTER")
    if not named:
        endpoint = _env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or _env("OTEL_EXPORTER_OTLP_ENDPOINT")
        return ["otlp"] if endpoint else []
    chosen = [n.strip().lower() for n in named.split(",") if n.strip()]
    unknown = sorted(set(chosen) - {"otlp", "console", "none"})
    if unknown:
        raise InvalidInputError(
            f"OTEL_TRACES_EXPORTER: unknown exporter {', '.join(unknown)} (otlp, console, none)"
        )
    return [n for n in chosen if n != "none"]


def _otlp_exporter() -> SpanExporter:
    protocol = (
        _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL")
    ).lower()
    if protocol not in _HTTP_PROTOCOLS:
        raise InvalidInputError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: tailguard exports OTLP over http/protobuf "
            "only (point it at the collector's HTTP port, 4318)"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise InvalidInputError(
            "OTLP export needs the otlp extra: pip install 'tailguard[otlp]'"
        ) from None
    exporter: SpanExporter = OTLPSpanExporter()
    return exporter


def configure_tracing(service_name: str, *, set_global: bool = True) -> TracerProvider | None:
    """An SDK tracer provider as the ``OTEL_*`` variables describe it (None: no tracing).

    Args:
        service_name: the resource's ``service.name`` unless the environment names one.
        set_global: make it the global provider (once per process, as OpenTelemetry allows).

    Raises:
        InvalidInputError: an unknown exporter, the gRPC protocol, or OTLP without its extra.
    """
    exporters = trace_exporters()
    if not exporters:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    attributes: dict[str, str] = {}
    named_in_env = _env("OTEL_SERVICE_NAME") or "service.name=" in _env("OTEL_RESOURCE_ATTRIBUTES")
    if not named_in_env:
        attributes[SERVICE_NAME] = service_name
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in exporters:
        if name == "otlp":
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
        else:
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


def global_tracer_provider() -> trace.TracerProvider:
    """The process's global tracer provider (a no-op proxy until one is configured)."""
    return trace.get_tracer_provider()


def serve_metrics(port: int, *, host: str = "127.0.0.1") -> Callable[[], None]:
    """Serve :data:`REGISTRY` at ``http://host:port/metrics`` in a daemon thread.

    Returns:
        A function that stops the server.

    Raises:
        InvalidInputError: the port cannot be bound.
    """
    try:
        server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    except OSError as exc:
        raise InvalidInputError(f"--metrics-port {port}: cannot listen on {host}: {exc}") from None

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
