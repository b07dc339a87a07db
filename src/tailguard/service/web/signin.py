"""Sign-in (an API key for a session cookie), sign-out, the home redirect and static assets."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from tailguard.service.web.render import HERE, render
from tailguard.service.web.session import (
    check_csrf,
    check_signin_csrf,
    current_session,
    end_session,
    safe_next,
    service_state,
    set_signin_cookie,
    signin_csrf,
    start_session,
)

router = APIRouter()

STATIC = HERE / "static"
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


def _signin_page(
    request: Request, *, error: str | None, status_code: int = 200, nxt: str | None = None
) -> HTMLResponse:
    token, cookie = signin_csrf(request)
    response = render(
        request,
        "signin.html",
        None,
        status_code=status_code,
        next=safe_next(nxt or request.query_params.get("next"), "/approvals"),
        error=error,
        signin_csrf=token,
    )
    if cookie is not None:
        set_signin_cookie(request, response, cookie)
    return response


@router.get("/signin", include_in_schema=False)
def signin_form(request: Request) -> Response:
    """The sign-in page (public)."""
    if current_session(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next"), "/approvals"), 303)
    return _signin_page(request, error=None)


@router.post("/signin", include_in_schema=False)
async def signin(request: Request) -> Response:
    """Check the key and the form token; start a session and go where the person was going."""
    form = await request.form()
    csrf, raw, nxt = (form.get(k) for k in ("csrf", "api_key", "next"))
    target = nxt if isinstance(nxt, str) else None
    if not check_signin_csrf(request, csrf if isinstance(csrf, str) else None):
        return _signin_page(
            request,
            error="The sign-in form expired; please try again.",
            status_code=403,
            nxt=target,
        )
    principal = service_state(request).keys.verify(raw if isinstance(raw, str) else None)
    if principal is None:
        return _signin_page(
            request, error="That API key is unknown or revoked.", status_code=401, nxt=target
        )
    response = RedirectResponse(safe_next(target, "/approvals"), status_code=303)
    start_session(request, response, principal)
    return response


@router.post("/signout", include_in_schema=False)
async def signout(request: Request) -> Response:
    """End the session (the form must carry the session's token)."""
    form = await request.form()
    session = current_session(request)
    csrf = form.get("csrf")
    if session is not None and not check_csrf(session, csrf if isinstance(csrf, str) else None):
        return Response("form expired", status_code=403)
    response = RedirectResponse("/signin", status_code=303)
    end_session(response)
    return response


@router.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    """The dashboard's front door: the inbox, or the sign-in page."""
    if current_session(request) is None:
        return RedirectResponse("/signin", status_code=303)
    return RedirectResponse("/approvals", status_code=303)


@router.get("/static/web/{name}", include_in_schema=False)
def static(name: str) -> Response:
    """The dashboard's own CSS and scripts (public; nothing comes from a CDN)."""
    path = STATIC / name
    media = _STATIC_TYPES.get(path.suffix)
    if media is None or "/" in name or name.startswith(".") or not path.is_file():
        raise HTTPException(status_code=404)
    return FileResponse(path, media_type=media, headers={"Cache-Control": "max-age=300"})
