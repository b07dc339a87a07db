"""The edge of every ``/v1`` request: authenticate first, then bound and check the body.

:class:`GuardMiddleware` (plain ASGI) runs before FastAPI parses anything, so no body can reach
a parser that would fail as a 500 (a 2 KB body of arrays nested 1,000 deep made Python's
``json`` raise RecursionError on every POST route):

1. the credentials are checked from the headers alone, before a byte of the body is read: no
   valid API key (or, for ``/v1/voice``, no valid webhook secret) is a 401, whatever the body;
2. a body longer than ``max_body_bytes`` (by ``Content-Length`` or as it streams) is a 413;
3. a JSON body must be UTF-8 (else 422, ``body_not_utf8``), nest at most ``max_json_depth``
   arrays and objects (else 422, ``json_too_deep``; counted without parsing), and hold no NUL
   character in any string or key (else 422, ``string_nul``; PostgreSQL text cannot store it).

The path and query string are checked for NUL too. Every refusal has the service's error shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tailguard.service.errors import error_response, has_key
from tailguard.service.nul import find_nul, path_nul, query_nul

PREFIX = "/v1"
MAX_BODY_BYTES = 1_048_576
MAX_JSON_DEPTH = 64
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A JSON string literal (escapes included): its brackets do not nest anything.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)

#: How a request proves who it is, from its headers alone.
Authenticator = Callable[[Request], bool]


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (0 for a scalar), without parsing it.

    Brackets inside strings do not count. A malformed text gets a number too; the parser that
    reads it later refuses it.
    """
    stripped = _STRING.sub(b'""', body)
    raw = np.frombuffer(stripped, dtype=np.uint8)
    steps = np.zeros(raw.shape, dtype=np.int32)
    steps[(raw == ord("[")) | (raw == ord("{"))] = 1
    steps[(raw == ord("]")) | (raw == ord("}"))] = -1
    if not steps.any():
        return 0
    return int(np.cumsum(steps).max())


def body_problem(body: bytes, *, max_depth: int) -> tuple[str, str, list[str | int]] | None:
    """Why a JSON body is refused before parsing: ``(type, message, loc)``, or None."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ("body_not_utf8", f"the body is not UTF-8 (byte {exc.start})", ["body"])
    depth = json_depth(body)
    if depth > max_depth:
        return (
            "json_too_deep",
            f"JSON nests {depth} levels deep; at most {max_depth} are accepted",
            ["body"],
        )
    try:
        decoded = json.loads(text)
    except ValueError:
        return None  # not JSON: FastAPI's own validation answers 422 json_invalid
    found = find_nul(decoded)
    if found is not None:
        return ("string_nul", "strings cannot contain NUL (\\x00) characters", ["body", *found])
    return None


def _is_json(scope: Scope) -> bool:
    # FastAPI reads a body without a content type as JSON too.
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class _TooLarge(Exception):
    pass


class GuardMiddleware:
    """401, 413 and 422 at the edge of ``/v1`` (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str = PREFIX,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_json_depth: int = MAX_JSON_DEPTH,
        authenticators: Mapping[str, Authenticator] | None = None,
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        # Path prefix -> its own check; every other /v1 path needs an API key.
        # (Kept by reference: the app adds optional routers' checks after building this.)
        self.authenticators: Mapping[str, Authenticator] = (
            authenticators if authenticators is not None else {}
        )

    def authenticator(self, path: str) -> Authenticator:
        """The credential check of a path: the longest matching prefix's, else the API key."""
        for prefix in sorted(self.authenticators, key=len, reverse=True):
            if path.startswith(prefix):
                return self.authenticators[prefix]
        return has_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on (with its body replayed) or refuse it."""
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if not await run_in_threadpool(self.authenticator(path), request):
            # Nothing under /v1 answers without credentials, not even about its body: the
            # route's own check (or the 404/405 handler) answers 401 in the error shape.
            await self.app(scope, _no_body, send)
            return
        loc = path_nul(scope) or query_nul(scope.get("query_string", b""))
        if loc is not None:
            await _refuse(scope, receive, send, 422, "string_nul", _NUL_MSG, list(loc))
            return
        if scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        try:
            messages, body = await _read_body(receive, self.max_body_bytes)
        except _TooLarge:
            await self._too_large(scope, receive, send)
            return
        if _is_json(scope) and body:
            problem = body_problem(body, max_depth=self.max_json_depth)
            if problem is not None:
                kind, message, where = problem
                await _refuse(scope, receive, send, 422, kind, message, where)
                return
        await self.app(scope, _replay(messages, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the body is larger than {self.max_body_bytes} bytes"
        response = error_response(
            413, "payload_too_large", message, {"max_body_bytes": self.max_body_bytes}
        )
        await response(scope, receive, send)


_NUL_MSG = "strings cannot contain NUL (\\x00) characters"


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _read_body(receive: Receive, limit: int) -> tuple[list[Message], bytes]:
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return messages, b"".join(chunks)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    kind: str,
    message: str,
    loc: list[Any],
) -> None:
    where = ".".join(str(part) for part in loc)
    error = {"type": kind, "loc": loc, "msg": message}
    response = error_response(
        status, "invalid_input", f"invalid request: {where}: {message}", {"errors": [error]}
    )
    await response(scope, receive, send)
