"""The dashboard's sign-in session: a signed cookie, CSRF tokens, and page guards.

Signing in exchanges an API key for a session cookie (``HttpOnly``, ``SameSite=Lax``, ``Secure``
over HTTPS) signed with the service's ``secret_key`` (itsdangerous, time-limited). The cookie
holds the key *id* and the session's CSRF token, never the key: every request looks the key up
again, so revoking a key ends its sessions at once and a role change applies on the next page.

Every form that posts carries the CSRF token, compared in constant time; the sign-in form itself
gets one from a short-lived pre-session cookie (so a third-party page cannot sign a browser in
under someone else's key).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from tailguard.service.auth import Principal, Role, api_keys
from tailguard.service.settings import ServiceState

SESSION_COOKIE = "tg_session"
SIGNIN_COOKIE = "tg_signin"
SESSION_MAX_AGE_S = 12 * 3600
SIGNIN_MAX_AGE_S = 3600


@dataclass(frozen=True, kw_only=True, slots=True)
class WebSession:
    """A signed-in browser: who it is and the token its forms must carry."""

    principal: Principal
    csrf: str


def service_state(request: Request) -> ServiceState:
    """The app's :class:`ServiceState`."""
    state: ServiceState = request.app.state.tailguard
    return state


def _serializer(request: Request, purpose: str) -> URLSafeTimedSerializer:
    secret = service_state(request).settings.secret_key
    return URLSafeTimedSerializer(secret, salt=f"tailguard.web.{purpose}")


def _load(request: Request, cookie: str, purpose: str, max_age: int) -> dict[str, Any] | None:
    raw = request.cookies.get(cookie)
    if not raw:
        return None
    try:
        data = _serializer(request, purpose).loads(raw, max_age=max_age)
    except BadSignature:  # also covers an expired signature
        return None
    return data if isinstance(data, dict) else None


def _active_principal(request: Request, key_id: str) -> Principal | None:
    keys = service_state(request).keys
    with keys.engine.connect() as conn:
        row = conn.execute(
            sa.select(api_keys.c.name, api_keys.c.role).where(
                api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None)
            )
        ).one_or_none()
    if row is None:
        return None
    return Principal(key_id=key_id, name=row.name, role=Role(row.role))


def current_session(request: Request) -> WebSession | None:
    """The signed-in session of this request, or None (no cookie, bad or expired, key revoked)."""
    cached = getattr(request.state, "web_session", None)
    if isinstance(cached, WebSession):
        return cached
    data = _load(request, SESSION_COOKIE, "session", SESSION_MAX_AGE_S)
    if data is None or not isinstance(data.get("k"), str) or not isinstance(data.get("c"), str):
        return None
    principal = _active_principal(request, data["k"])
    if principal is None:
        return None
    session = WebSession(principal=principal, csrf=data["c"])
    request.state.web_session = session
    request.state.principal = principal
    return session


def _cookie_args(request: Request) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": request.url.scheme == "https",
        "path": "/",
    }


def start_session(request: Request, response: Response, principal: Principal) -> None:
    """Set the session cookie for ``principal`` (a fresh CSRF token) and drop the sign-in one."""
    token = _serializer(request, "session").dumps({"k": principal.key_id, "c": _token()})
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_MAX_AGE_S, **_cookie_args(request))
    response.delete_cookie(SIGNIN_COOKIE, path="/")


def end_session(response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/")


def _token() -> str:
    return secrets.token_urlsafe(24)


def signin_csrf(request: Request) -> tuple[str, str | None]:
    """The sign-in form's CSRF token, and a new pre-session cookie value to set (None: keep).

    The same token goes into the form and, signed, into the cookie of the same response.
    """
    data = _load(request, SIGNIN_COOKIE, "signin", SIGNIN_MAX_AGE_S)
    if data is not None and isinstance(data.get("c"), str):
        return str(data["c"]), None
    token = _token()
    return token, _serializer(request, "signin").dumps({"c": token})


def set_signin_cookie(request: Request, response: Response, value: str) -> None:
    """Set the pre-session cookie that carries the sign-in form's token."""
    response.set_cookie(SIGNIN_COOKIE, value, max_age=SIGNIN_MAX_AGE_S, **_cookie_args(request))


def check_signin_csrf(request: Request, submitted: str | None) -> bool:
    """True when the sign-in form's token matches its pre-session cookie."""
    data = _load(request, SIGNIN_COOKIE, "signin", SIGNIN_MAX_AGE_S)
    expected = data.get("c") if data else None
    return _same(expected, submitted)


def check_csrf(session: WebSession, submitted: str | None) -> bool:
    """True when a posted form carries the session's CSRF token."""
    return _same(session.csrf, submitted)


def _same(expected: Any, submitted: str | None) -> bool:
    if not isinstance(expected, str) or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def signin_redirect(request: Request) -> RedirectResponse:
    """303 to the sign-in page, coming back here afterwards (a form post comes back to the
    page it was posted from, not to its action)."""
    if request.method != "GET":
        return RedirectResponse("/signin", status_code=303)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(here, safe='')}", status_code=303)


def flash_token(request: Request, message: str, *, ok: bool = True) -> str:
    """A signed one-line notice to show after a redirect (``?f=<token>``), unforgeable by links."""
    return _serializer(request, "flash").dumps({"m": message, "ok": ok})


def read_flash(request: Request) -> tuple[str | None, str]:
    """The notice carried by ``?f=`` (and its kind ``ok``/``bad``), if signed and recent."""
    raw = request.query_params.get("f")
    if not raw:
        return None, "ok"
    try:
        data = _serializer(request, "flash").loads(raw, max_age=600)
    except BadSignature:
        return None, "ok"
    if not isinstance(data, dict) or not isinstance(data.get("m"), str):
        return None, "ok"
    return data["m"], "ok" if data.get("ok") else "bad"


def redirect_with_flash(
    request: Request, target: str, message: str, *, ok: bool = True
) -> RedirectResponse:
    """303 to the local ``target`` carrying a signed notice."""
    target = safe_next(target, "/")
    sep = "&" if "?" in target else "?"
    return RedirectResponse(
        f"{target}{sep}f={quote(flash_token(request, message, ok=ok), safe='')}",
        status_code=303,
    )
