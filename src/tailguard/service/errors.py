"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``.

The library's exception tree (:mod:`tailguard.errors`) carries the code and the HTTP status; this
module maps it, FastAPI's request validation (422 with pydantic's details) and Starlette's HTTP
errors (404 for an unknown path, 405, ...) to the same body, in one place.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tailguard.errors import TailguardError

log = logging.getLogger("tailguard.service")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


class ErrorBody(BaseModel):
    """The error itself."""

    code: str = Field(description="Stable machine-readable code, e.g. not_found, conflict.")
    message: str = Field(description="One line for people.")
    details: dict[str, Any] = Field(default_factory=dict, description="Structured context.")


class ErrorResponse(BaseModel):
    """Every non-2xx JSON answer of the API."""

    error: ErrorBody


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A JSON response in the service's error shape."""
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


def _tailguard_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TailguardError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    retry = exc.details.get("retry_after_s") if exc.http_status == 429 else None
    if isinstance(retry, int):
        headers = {"Retry-After": str(retry)}
    if exc.http_status >= 500:
        log.error("request failed: %s", exc.message, extra={"error_code": exc.code})
    return error_response(exc.http_status, exc.code, exc.message, exc.details, headers)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {k: v for k, v in err.items() if k in ("type", "loc", "msg", "input")}
        for err in exc.errors()
    ]
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = f"invalid request: {where}: {first.get('msg', 'invalid')}" if errors else "invalid"
    return error_response(422, "invalid_input", message, {"errors": errors})


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if (
        exc.status_code in (404, 405)
        and request.url.path.startswith("/v1")
        and not has_key(request)
    ):
        # Nothing under /v1 answers without a key, not even "no such endpoint".
        return error_response(
            401, "unauthenticated", "an API key is required", headers={"WWW-Authenticate": "Bearer"}
        )
    code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of the first route matching the path only; a path
        # served by several routes (GET and POST /v1/runs) allows all of theirs.
        listed = {m.strip() for m in headers.get("Allow", "").split(",") if m.strip()}
        headers["Allow"] = ", ".join(sorted(listed | set(allowed_methods(request))))
    return error_response(exc.status_code, code, detail, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method the API schema serves at the request's path (for a 405's Allow header)."""
    methods: set[str] = set()
    path = request.url.path
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods.update(m.upper() for m in operations if m.upper() in _HTTP_METHODS)
    return sorted(methods)


_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def has_key(request: Request) -> bool:
    """Whether the request carries an active API key (Bearer or ``X-API-Key``)."""
    auth = request.headers.get("authorization", "")
    raw = auth[7:] if auth[:7].lower() == "bearer " else request.headers.get("x-api-key")
    keys = getattr(getattr(request.app.state, "tailguard", None), "keys", None)
    if not raw or keys is None:
        return False
    principal = keys.verify(raw)
    if principal is None:
        return False
    # The route's own check (tailguard.service.auth.authenticate) reuses this verification
    # for the same key instead of looking it up again.
    request.state.verified_key = (raw.strip(), principal)
    return True


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal error; see the service log")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""
    app.add_exception_handler(TailguardError, _tailguard_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


_DESCRIPTIONS = {
    401: "No API key, or an unknown or revoked one.",
    403: "The key's role is not enough, or the caller may not do this (own run's gate).",
    404: "No such run, gate or area.",
    409: "Conflicts with the stored state (already decided, timed out, finished).",
    422: "Bad parameters, body or cursor.",
    429: "A rate limit or budget is used up.",
    503: "The database is unavailable.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting these error statuses with the error shape."""
    return {code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in codes}


ERROR_RESPONSES = responses(401, 403, 422, 503)
"""Responses every authenticated endpoint documents (added per router)."""


def document_errors(schema: dict[str, Any]) -> None:
    """Document the error shape on every ``/v1`` operation of an OpenAPI schema, in place.

    Every ``/v1`` route answers through the shared key check and error handlers, whichever
    router it comes from, so each can give these statuses with :class:`ErrorResponse`; FastAPI's
    default 422 body (``HTTPValidationError``) is replaced, since the handlers never send it.
    """
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    shared = {"content": {"application/json": {"schema": ref}}}
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/v1"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            answers = operation.setdefault("responses", {})
            for code in (401, 403, 404, 422, 503):
                existing = answers.get(str(code))
                if existing is None or "HTTPValidationError" in str(existing):
                    answers[str(code)] = {"description": _DESCRIPTIONS[code], **shared}
