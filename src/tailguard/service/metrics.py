"""Prometheus metrics of the service, and the ones other modules observe.

Process metrics live in :data:`REGISTRY` (one per process, as Prometheus counters are; it is
:data:`tailguard.telemetry.REGISTRY`, shared with the agents' tick duration and decision
counts): HTTP requests and latency by route template, approvals by decision.
Database-derived figures (gates pending, ledger records, approval bypasses) are read from each
app's own database when ``/metrics`` is scraped, by :class:`StateCollector`, so two apps in
one process (tests) never mix them. Names follow the Prometheus conventions: a counter ends in
``_total``, a duration is in ``_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tailguard.telemetry import DECISIONS, REGISTRY, TICK_SECONDS

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "tailguard_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "tailguard_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
APPROVALS = Counter(
    "tailguard_approvals",
    "Gate decisions taken through the service, by decision (approve, reject, edit).",
    ["decision"],
    registry=REGISTRY,
)


class StateCollector(Collector):
    """Figures read from one app's databases at scrape time.

    Args:
        pending: counts the gates waiting for a decision.
        ledger_records: the ledger's head seq (a counter: ``rate()`` of it is the append rate).
        bypasses: the control-plane KPI ``approval_bypass_count`` (expensive: cached).
        refresh_s: how long a bypass count is reused.
    """

    def __init__(
        self,
        *,
        pending: Callable[[], int],
        ledger_records: Callable[[], int],
        bypasses: Callable[[], int],
        refresh_s: float = 60.0,
    ) -> None:
        self._pending = pending
        self._records = ledger_records
        self._bypasses = bypasses
        self._refresh_s = refresh_s
        self._cached: tuple[float, int] | None = None
        self._lock = threading.Lock()

    def bypass_count(self) -> int:
        """The approval bypass count, recomputed at most every ``refresh_s`` seconds."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self._refresh_s:
                self._cached = (now, self._bypasses())
            return self._cached[1]

    def collect(self) -> Iterator[Metric]:
        """Yield the current figures."""
        yield GaugeMetricFamily(
            "tailguard_gates_pending",
            "Approval gates waiting for a decision.",
            value=self._pending(),
        )
        yield CounterMetricFamily(
            "tailguard_ledger_records",
            "Records appended to the ledger (its head seq); rate() gives the append rate.",
            value=self._records(),
        )
        yield CounterMetricFamily(
            "tailguard_approval_bypasses",
            "Steps that ran without an approved gate although approval was required (must be 0).",
            value=self.bypass_count(),
        )


def render(*registries: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of every registry given."""
    return b"".join(generate_latest(r) for r in registries)


def app_registry(collector: StateCollector) -> CollectorRegistry:
    """A registry holding one app's :class:`StateCollector`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request and its latency."""
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_LATENCY.labels(method=method, route=route).observe(seconds)


def approval_decided(decision: str) -> None:
    """Count one decision taken through the service."""
    APPROVALS.labels(decision=decision).inc()


__all__ = [
    "APPROVALS",
    "DECISIONS",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "REGISTRY",
    "TICK_SECONDS",
    "StateCollector",
    "app_registry",
    "approval_decided",
    "observe_request",
    "render",
]
