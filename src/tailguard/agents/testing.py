"""A real HTTP downstream agent on loopback that records what it receives; shipped for tests.

It speaks the REST contract of ``docs/downstream-rest.md`` and honours idempotency keys the way
a well-behaved downstream must: a repeated key returns the first answer with HTTP 409 and does
not act again. Its ``mode`` makes it misbehave on purpose:

- ``ok``: answers every job.
- ``flaky``: fails every other request with HTTP 503 *after* acting on it half of the time
  (the hard case: the work happened but the caller did not hear so).
- ``hang``: sleeps ``hang_s`` before answering (longer than any sane client timeout).
- ``refuse``: answers ``refused`` for every job.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["ok", "flaky", "hang", "refuse"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceivedRequest:
    """One HTTP request as the server saw it."""

    path: str
    idempotency_key: str | None
    attempt: str | None
    body: dict[str, Any] | None
    authorization: str | None = None


@dataclass(kw_only=True)
class _State:
    mode: Mode
    hang_s: float
    cost_usd: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: list[ReceivedRequest] = field(default_factory=list)
    executed: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)


class RecordingDownstreamServer:
    """A threaded HTTP server on 127.0.0.1 with a free port; use as a context manager.

    Attributes:
        url: the base URL to give a :class:`~tailguard.agents.downstream.RestDownstream`.
    """

    def __init__(self, *, mode: Mode = "ok", hang_s: float = 5.0, cost_usd: float = 10.0) -> None:
        self._state = _State(mode=mode, hang_s=hang_s, cost_usd=cost_usd)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self._state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    def start(self) -> RecordingDownstreamServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RecordingDownstreamServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_mode(self, mode: Mode, *, cost_usd: float | None = None) -> None:
        """Change how the server behaves from now on (fault injection: start hanging, say)."""
        with self._state.lock:
            self._state.mode = mode
            if cost_usd is not None:
                self._state.cost_usd = cost_usd

    @property
    def received(self) -> list[ReceivedRequest]:
        """Every request received, in order (retries included)."""
        with self._state.lock:
            return list(self._state.received)

    @property
    def executed(self) -> dict[str, dict[str, Any]]:
        """The jobs acted on, by idempotency key: each at most once."""
        with self._state.lock:
            return dict(self._state.executed)


def _make_handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

        def _answer(self, code: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            # The client may have given up (timeout); the work is still recorded.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            key = self.headers.get("Idempotency-Key")
            with state.lock:
                state.received.append(
                    ReceivedRequest(
                        path=self.path,
                        idempotency_key=key,
                        attempt=self.headers.get("X-Attempt"),
                        body=body if isinstance(body, dict) else None,
                        authorization=self.headers.get("Authorization"),
                    )
                )
                n = len(state.received)
            if self.path != "/v1/interventions":
                self._answer(404, {"detail": "no such endpoint"})
                return
            if not isinstance(body, dict) or not key:
                self._answer(422, {"detail": "body must be a JSON object and Idempotency-Key set"})
                return
            if state.mode == "hang":
                time.sleep(state.hang_s)
            with state.lock:
                previous = state.answers.get(key)
            if previous is not None:
                self._answer(409, previous)
                return
            if state.mode == "flaky" and n % 2 == 1:
                # Half of the failures happen after the work was done: the hard case for callers.
                if n % 4 == 1:
                    self._act(key, body)
                self._answer(503, {"detail": "temporarily unavailable"})
                return
            self._answer(200, self._act(key, body))

        def _act(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
            with state.lock:
                if key in state.answers:
                    return state.answers[key]
                if state.mode == "refuse":
                    answer = {"status": "refused", "detail": "not today", "cost_usd": 0.0}
                else:
                    state.executed[key] = body
                    answer = {
                        "status": "executed",
                        "detail": f"{body.get('kind', '?')} done",
                        "cost_usd": state.cost_usd,
                        "ref": f"ref-{len(state.executed)}",
                    }
                state.answers[key] = answer
                return answer

    return Handler


@contextmanager
def recording_downstream(**kwargs: Any) -> Iterator[RecordingDownstreamServer]:
    """Run a :class:`RecordingDownstreamServer` for the duration of a ``with`` block."""
    server = RecordingDownstreamServer(**kwargs)
    with server:
        yield server
