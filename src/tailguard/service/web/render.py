"""Jinja2 rendering of the dashboard pages, the page guard, and small display filters."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from tailguard.errors import TailguardError
from tailguard.service.auth import Role
from tailguard.service.web.session import (
    WebSession,
    check_csrf,
    current_session,
    read_flash,
    signin_redirect,
)

log = logging.getLogger("tailguard.service.web")

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"

NAV: tuple[tuple[str, str], ...] = (
    ("/approvals", "Approvals"),
    ("/runs", "Runs"),
    ("/costs", "Costs"),
    ("/audit", "Audit log"),
    ("/quality", "Quality"),
    ("/network", "Network"),
    ("/coaches", "Coaches"),
    ("/learning", "Learning"),
    ("/gamification", "Gamification"),
    ("/compendium", "Compendium"),
    ("/ops", "Operations"),
    ("/chat", "Chat"),
)


def age(seconds: float | None) -> str:
    """A duration as people say it: ``42 s``, ``5 min``, ``3 h 10 min``, ``2 d 4 h``."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def when(value: Any) -> str:
    """A timestamp (datetime, epoch seconds or RFC 3339 text) as ``2026-11-29 06:40 UTC``."""
    if value is None or value == "":
        return "-"
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return str(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return str(value)


def usd(value: Any, digits: int = 2) -> str:
    """Money: ``$1,234.56`` (``-`` for no value); tiny amounts keep four decimals."""
    if value is None:
        return "-"
    v = float(value)
    if 0 < abs(v) < 0.01:
        return f"${v:,.4f}"
    return f"${v:,.{digits}f}"


def num(value: Any, digits: int = 1) -> str:
    """A number with thousands separators, or ``-`` for null."""
    if value is None:
        return "-"
    v = float(value)
    if v != v:  # NaN
        return "-"
    if v == int(v) and abs(v) >= 1000:
        return f"{int(v):,}"
    return f"{v:,.{digits}f}"


def pct(value: Any, digits: int = 1) -> str:
    """A share (0..1) as a percentage, or ``-``."""
    if value is None or float(value) != float(value):  # None or NaN (0 / 0)
        return "-"
    return f"{100.0 * float(value):.{digits}f} %"


def to_json(value: Any) -> str:
    """Pretty JSON for display and for the edit box."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(age=age, when=when, usd=usd, num=num, pct=pct, to_json=to_json)
_env.globals.update(nav=NAV, Markup=Markup)


def render_text(template: str, **context: Any) -> str:
    """Render a template to text (for fragments that JavaScript swaps in)."""
    return _env.get_template(template).render(**context)


def render(
    request: Request,
    template: str,
    session: WebSession | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a full page with the navigation, the signed-in person and their CSRF token."""
    flash, flash_kind = read_flash(request)
    context.setdefault("flash", flash)
    context.setdefault("flash_kind", flash_kind)
    html = render_text(
        template,
        request=request,
        path=request.url.path,
        me=session.principal if session else None,
        csrf=session.csrf if session else "",
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    return response


def error_page(
    request: Request, session: WebSession | None, status_code: int, title: str, message: str
) -> HTMLResponse:
    """The HTML error page (403, 404, 409, ...)."""
    return render(
        request,
        "error.html",
        session,
        status_code=status_code,
        title=title,
        message=message,
    )


_TITLES = {
    403: "Not allowed",
    404: "Not found",
    409: "Already decided",
    422: "Invalid input",
    429: "Limit reached",
}


def guarded(request: Request, need: Role, page: Callable[[WebSession], Response]) -> Response:
    """Run ``page`` for a signed-in person holding at least ``need``.

    No session: a redirect to the sign-in page. Too small a role: the 403 page. A library error
    becomes the HTML error page with its status (a 403 from the control plane too).
    """
    session = current_session(request)
    if session is None:
        return signin_redirect(request)
    if not session.principal.role.allows(need):
        return error_page(
            request,
            session,
            403,
            "Not allowed",
            f"This needs the {need.value} role; you are signed in as "
            f"{session.principal.name} ({session.principal.role.value}).",
        )
    try:
        return page(session)
    except TailguardError as exc:
        status = exc.http_status if 400 <= exc.http_status < 600 else 500
        if status >= 500:
            log.warning("dashboard page failed: %s", exc.message)
        return error_page(request, session, status, _TITLES.get(status, "Error"), exc.message)


def guarded_post(
    request: Request,
    need: Role,
    form: Mapping[str, Any],
    action: Callable[[WebSession], Response],
) -> Response:
    """Like :func:`guarded` for a form post, which must also carry the session's CSRF token."""

    def checked(session: WebSession) -> Response:
        if not check_csrf(session, _text(form.get("csrf"))):
            return error_page(
                request,
                session,
                403,
                "Form expired",
                "The form's security token did not match this session; reload the page and "
                "try again.",
            )
        return action(session)

    return guarded(request, need, checked)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
