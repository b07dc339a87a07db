"""Per-request observability: correlation id, JSON access log, metrics and an OpenTelemetry span.

:class:`ObserveMiddleware` is plain ASGI (no per-request task switch, unlike Starlette's
``BaseHTTPMiddleware``). Each request gets a correlation id (the caller's ``X-Request-ID`` when
it sends a sane one, else a new one), echoed in the response; one JSON log line names it with the
route template, status, duration, the key id and the run id when the request concerns a run.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tailguard.service import metrics

access_log = logging.getLogger("tailguard.service.access")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_STD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: int | str = logging.INFO) -> None:
    """Send tailguard's logs to stderr as JSON lines (what ``tailguard serve`` does)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tailguard")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/v1/runs/{run_id}``), or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "unmatched"


class ObserveMiddleware:
    """Correlation id, access log, Prometheus metrics and a server span for each request.

    Args:
        app: the wrapped ASGI app.
        tracer_provider: where spans go; None means the global provider.
    """

    def __init__(self, app: ASGIApp, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.app = app
        self.tracer = trace.get_tracer("tailguard.service", tracer_provider=tracer_provider)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request (other ASGI events pass straight through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        method = scope["method"]
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with self.tracer.start_as_current_span(
            f"{method} {scope.get('path', '')}", kind=SpanKind.SERVER
        ) as span:
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                seconds = time.perf_counter() - started
                route = route_template(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                span.set_attribute("tailguard.request_id", request_id)
                run_id = _run_id(scope)
                if run_id:
                    span.set_attribute("tailguard.run_id", run_id)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                metrics.observe_request(method, route, status, seconds)
                principal = state.get("principal")
                access_log.info(
                    "%s %s %d",
                    method,
                    route,
                    status,
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "route": route,
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "key_id": getattr(principal, "key_id", None),
                        "run_id": run_id,
                        "gate_id": (scope.get("path_params") or {}).get("gate_id"),
                    },
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _run_id(scope: Scope) -> str | None:
    state = scope.get("state") or {}
    value = state.get("run_id") or (scope.get("path_params") or {}).get("run_id")
    return str(value) if value else None
