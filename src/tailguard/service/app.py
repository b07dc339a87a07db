"""The FastAPI application: ``create_app(settings)``.

Everything under ``/v1`` needs an API key (:mod:`tailguard.service.auth`); ``/healthz``,
``/readyz`` and ``/metrics`` do not (a Prometheus scraper and a load balancer carry no key; keep
``/metrics`` off the public network). Routers other helpers own (``service.web``,
``service.voice``, ``service.chat``) are included by :func:`include_optional_routers` when
their modules exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse

from tailguard import __version__
from tailguard.errors import TailguardError
from tailguard.ledger.kpis import control_plane_kpis
from tailguard.service import metrics, queries
from tailguard.service.api import approvals, crowd, gamification, insight, learning, ops, runs
from tailguard.service.api.models import Health
from tailguard.service.errors import document_errors, install_error_handlers
from tailguard.service.guard import Authenticator, GuardMiddleware
from tailguard.service.nul import document_nul_free
from tailguard.service.observe import ObserveMiddleware
from tailguard.service.settings import ServiceSettings, ServiceState

log = logging.getLogger("tailguard.service")

OPTIONAL_ROUTERS = ("tailguard.service.web", "tailguard.service.voice", "tailguard.service.chat")
"""Modules whose ``router`` (an ``APIRouter``) or ``include(app)`` is added when present."""

GATE_EXPIRY_INTERVAL_S = 30.0


def include_optional_routers(
    app: FastAPI, modules: tuple[str, ...] = OPTIONAL_ROUTERS
) -> list[str]:
    """Include each module's router when the module exists; returns the modules included.

    A module may expose ``include(app)`` (to mount static files or add middleware) or a
    ``router`` attribute. A module that is missing is skipped; one that fails to import is an
    error (a broken dashboard should not start silently without it).
    """
    included = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (exc.name == name or name.startswith(exc.name + ".")):
                continue
            raise
        include = getattr(module, "include", None)
        router = getattr(module, "router", None)
        if callable(include):
            include(app)
        elif isinstance(router, APIRouter):
            app.include_router(router)
        else:
            continue
        included.append(name)
    return included


def resume_stranded(state: ServiceState) -> dict[str, str]:
    """Run the approved calls nobody ran (the approving process died first), exactly once.

    Returns each resumed gate's outcome (or error code), for the log.
    """
    done = state.plane.resume_awaiting(grace_s=state.settings.resume_grace_s)
    return {
        gate_id: (r.code if isinstance(r, TailguardError) else r.outcome.value)
        for gate_id, r in done.items()
    }


async def _sweep_gates(state: ServiceState) -> None:
    try:
        swept = await asyncio.to_thread(state.sweep_policies)
    except TailguardError as exc:
        log.warning("approval policies could not decide: %s", exc.message)
    else:
        if swept is not None and swept.approved:
            log.info(
                "approval policies approved %d gate(s)",
                len(swept.approved),
                extra={"gates": swept.approved},
            )
    try:
        expired = await asyncio.to_thread(state.plane.expire_gates)
    except TailguardError as exc:
        log.warning("gate expiry failed: %s", exc.message)
    else:
        if expired:
            log.info("expired %d approval gate(s)", len(expired), extra={"gates": expired})
    try:
        resumed = await asyncio.to_thread(resume_stranded, state)
    except TailguardError as exc:
        log.warning("resuming approved calls failed: %s", exc.message)
    else:
        if resumed:
            log.warning(
                "resumed %d approved call(s) that no process had run",
                len(resumed),
                extra={"gates": resumed},
            )
    try:
        await asyncio.to_thread(write_checkpoint_if_due, state)
    except TailguardError as exc:
        # A chain that no longer verifies is never signed: say so loudly, every sweep.
        log.error("ledger checkpoint refused: %s", exc.message)


def write_checkpoint_if_due(state: ServiceState) -> None:
    """Sign the ledger's head into the checkpoint file when one is due (and configured)."""
    if state.checkpointer is None:
        return
    written = state.checkpointer.maybe_write()
    if written is not None:
        log.info("ledger checkpoint at seq %d", written.seq, extra={"hash": written.hash})


async def _sweep_gates_forever(state: ServiceState, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        await _sweep_gates(state)


def create_app(settings: ServiceSettings, *, optional_routers: bool = True) -> FastAPI:
    """The service: the ``/v1`` API, health, metrics, and the optional routers.

    Args:
        settings: where the ledger and pulse live, the clock, the tools.
        optional_routers: include ``service.web`` / ``voice`` / ``chat`` when present.
    """
    state = ServiceState.open(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A restart first finishes what a dead process left: approved calls never run.
        await _sweep_gates(state)
        task = asyncio.create_task(_sweep_gates_forever(state, GATE_EXPIRY_INTERVAL_S))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            state.close()

    app = FastAPI(
        title="tailguard",
        version=__version__,
        summary="Governed operations agents: runs, approvals, KPIs, pulse and tails.",
        lifespan=lifespan,
    )
    app.state.tailguard = state
    install_error_handlers(app)
    # Inside ObserveMiddleware: refusals are logged. Authenticates before reading a body,
    # then bounds its size and depth and refuses NUL (tailguard.service.guard).
    authenticators: dict[str, Authenticator] = {}
    app.add_middleware(
        GuardMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
        authenticators=authenticators,
    )
    app.add_middleware(ObserveMiddleware, tracer_provider=settings.tracer_provider)

    collector = metrics.StateCollector(
        pending=lambda: queries.count_pending_gates(state.ledger, now=settings.clock.now()),
        ledger_records=lambda: state.ledger.head()[0],
        bypasses=lambda: int(
            control_plane_kpis(state.ledger)["overall"].get("approval_bypass_count") or 0
        ),
        refresh_s=settings.metrics_refresh_s,
    )
    app_registry = metrics.app_registry(collector)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    def healthz() -> Health:
        """The process answers."""
        return Health(status="ok")

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: the database is reachable",
        responses={503: {"model": Health, "description": "The database is unreachable."}},
    )
    def readyz() -> Any:
        """200 when the ledger database answers, 503 otherwise."""
        try:
            queries.ping(state.ledger)
        except TailguardError as exc:
            body = Health(status="unavailable", checks={"ledger": exc.message})
            return JSONResponse(body.model_dump(), status_code=503)
        return Health(status="ok", checks={"ledger": "ok"})

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def prometheus() -> Response:
        """Requests, latency, gates pending, approvals, bypasses, ledger records, ticks."""
        body = metrics.render(metrics.REGISTRY, app_registry)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    app.include_router(runs.router)
    app.include_router(approvals.router)
    app.include_router(insight.router)
    app.include_router(crowd.router)
    app.include_router(learning.router)
    app.include_router(gamification.router)
    ops.include(app)
    if optional_routers:
        included = include_optional_routers(app)
        if "tailguard.service.voice" in included:
            # The voice webhook proves itself with its shared secret, not an API key.
            voice = importlib.import_module("tailguard.service.voice")
            authenticators["/v1/voice"] = voice.secret_ok
        if included:
            log.info("included routers: %s", ", ".join(included))
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build_schema()
            document_errors(schema)
            document_nul_free(schema)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
