"""Refuse strings containing NUL (``\\x00``) at the edge, before any handler touches the ledger.

PostgreSQL text cannot hold a NUL byte, so a query or path parameter or a JSON string carrying
one would fail deep in a query as a 5xx. :class:`RejectNulMiddleware` (plain ASGI) looks at every
``/v1`` request's path, query string and JSON body and answers 422 ``invalid_input`` in the
service's error shape when any of them holds a NUL, on SQLite and PostgreSQL alike. A request
without a valid key still gets 401: nothing under ``/v1`` answers without one.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tailguard.service.errors import error_response, has_key

NUL = "\x00"
PREFIX = "/v1"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def find_nul(value: Any, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The location of the first string (or object key) holding a NUL in decoded JSON, or None."""
    if isinstance(value, str):
        return loc if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in str(key):
                return (*loc, str(key))
            found = find_nul(item, (*loc, str(key)))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_nul(item, (*loc, index))
            if found is not None:
                return found
    return None


def _query_nul(query_string: bytes) -> tuple[str | int, ...] | None:
    raw = query_string.decode("latin-1")
    if NUL not in raw and NUL not in unquote(raw):
        return None
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if NUL in name or NUL in value:
            return ("query", name)
    return ("query",)


def _path_nul(scope: Scope) -> tuple[str | int, ...] | None:
    raw_path: bytes = scope.get("raw_path") or b""
    path: str = scope.get("path", "")
    if NUL in path or NUL in unquote(raw_path.decode("latin-1")):
        return ("path",)
    return None


def _is_json(scope: Scope) -> bool:
    # FastAPI reads a body without a content type as JSON too.
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True


def _body_nul(body: bytes) -> tuple[str | int, ...] | None:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None  # not JSON: FastAPI's own validation answers 422
    found = find_nul(decoded)
    return None if found is None else ("body", *found)


class RejectNulMiddleware:
    """422 for any ``/v1`` request whose path, query or JSON body holds a NUL character."""

    def __init__(self, app: ASGIApp, prefix: str = PREFIX) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on (with its body replayed) or answer 422."""
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        loc = _path_nul(scope) or _query_nul(scope.get("query_string", b""))
        if loc is None and scope.get("method") in _BODY_METHODS and _is_json(scope):
            messages, body = await _read_body(receive)
            loc = _body_nul(body)
            receive = _replay(messages, receive)
        if loc is None:
            await self.app(scope, receive, send)
            return
        await _refuse(scope, receive, send, loc)


async def _read_body(receive: Receive) -> tuple[list[Message], bytes]:
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
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


async def _refuse(scope: Scope, receive: Receive, send: Send, loc: tuple[str | int, ...]) -> None:
    request = Request(scope, receive)
    if not await run_in_threadpool(has_key, request):
        response = error_response(
            401, "unauthenticated", "an API key is required", headers={"WWW-Authenticate": "Bearer"}
        )
    else:
        where = ".".join(str(part) for part in loc)
        msg = "strings cannot contain NUL (\\x00) characters"
        error = {"type": "string_nul", "loc": list(loc), "msg": msg}
        response = error_response(
            422, "invalid_input", f"invalid request: {where}: {msg}", {"errors": [error]}
        )
    await response(scope, receive, send)


NUL_FREE_PATTERN = "^[^\\u0000]*$"
"""The pattern documenting, in the OpenAPI schema, that a string may not hold NUL."""


def document_nul_free(schema: dict[str, Any], prefix: str = PREFIX) -> None:
    """Document, in place, that the strings ``/v1`` operations accept cannot hold NUL.

    Adds :data:`NUL_FREE_PATTERN` to every plain string (no pattern, format, enum or const) of
    the parameters and request bodies of ``/v1`` operations, following ``$ref`` into the
    components, and a ``propertyNames`` pattern to free-form objects. The values of a free-form
    object (a tool call's ``args``) stay undescribed: any JSON, where a NUL is still a 422.
    """
    components = schema.get("components", {}).get("schemas", {})
    seen: set[str] = set()

    def patch(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                patch(item)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen and name in components:
                seen.add(name)
                patch(components[name])
            return
        plain = not any(key in node for key in ("pattern", "format", "enum", "const"))
        if node.get("type") == "string" and plain:
            node["pattern"] = NUL_FREE_PATTERN
        if node.get("type") == "object" and node.get("additionalProperties", True) is not False:
            node.setdefault("propertyNames", {"pattern": NUL_FREE_PATTERN})
        for key in ("anyOf", "oneOf", "allOf", "items", "prefixItems"):
            patch(node.get(key))
        for key in ("properties", "patternProperties"):
            if isinstance(node.get(key), dict):
                patch(list(node[key].values()))
        if isinstance(node.get("additionalProperties"), dict):
            patch(node["additionalProperties"])

    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(prefix) or not isinstance(operations, dict):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                patch(parameter.get("schema"))
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                patch(media.get("schema"))
