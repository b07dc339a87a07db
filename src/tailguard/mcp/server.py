"""The governed tools as a Model Context Protocol server (stdio and streamable HTTP).

Built on the official SDK's low-level :class:`mcp.server.Server` (tool listings are generated
from the registry, so the high-level decorator API adds nothing). Every ``tools/call`` is one
control-plane run of role ``mcp`` (:class:`~tailguard.control.gateway.Gateway`); the caller is the
local OS user over stdio and the API key's owner over HTTP (``Authorization: Bearer`` or
``X-API-Key``, checked by :class:`ApiKeyAuth` before the MCP transport sees the request).
A key of role ``viewer`` may call read and suggest tools only.

A call that waits at an approval gate answers with the gate id and how to follow it up: the
server's own ``check_approval`` tool reports the decision and, once approved, the result.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tailguard import __version__
from tailguard.clock import Clock, SystemClock
from tailguard.control import ControlPlane, RiskLevel, Run, ToolRegistry
from tailguard.control.gates import AnyApprover as AnyApprover  # re-exported
from tailguard.control.gates import Approvers
from tailguard.control.gateway import CallReport, Gateway
from tailguard.errors import InvalidInputError, PermissionDeniedError, TailguardError
from tailguard.ledger import Ledger
from tailguard.ledger.kpis import control_plane_kpis
from tailguard.mcp.listing import CHECK_APPROVAL as CHECK_APPROVAL  # re-exported
from tailguard.mcp.listing import listed_tools
from tailguard.mcp.registry import (
    HIDDEN_TOOLS,
    MCP_ROLE,
    ActingUsers,
    acting_user_of,
    build_mcp_registry,
)
from tailguard.pulse import PulseStore
from tailguard.roles.recruiting.approvers import dataset_approvers as dataset_approvers
from tailguard.roles.recruiting.store import RecruitingStore

#: Where :class:`ApiKeyAuth` leaves the verified caller (``request.state``).
_STATE_KEY = "tailguard_caller"
#: Key roles that may only read.
_READ_ONLY_KEY_ROLES = frozenset({"viewer"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Caller:
    """Who is calling: the identity recorded as the runs' initiator, and what they may do."""

    id: str
    read_only: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class McpStack:
    """Everything the MCP server serves from, opened on one database URL."""

    ledger: Ledger
    store: RecruitingStore | None  # the recruiting dataset (None for the operations domain)
    control: ControlPlane
    gateway: Gateway
    role: str | None
    pulse: PulseStore | None = None  # the operations domain's pulse, when configured

    @property
    def registry(self) -> ToolRegistry:
        """The tools served."""
        return self.control.registry

    def close(self) -> None:
        """Release the database connections."""
        if self.store is not None:
            self.store.close()
        if self.pulse is not None:
            self.pulse.close()
        self.ledger.close()


def open_mcp(
    url: str,
    *,
    role: str | None = None,
    acting_user: str | None = None,
    clock: Clock | None = None,
    approvers: Approvers | None = None,
    daily_run_cap: int | None = 1000,
    seed: int | None = 7,
    downstream_url: str | None = None,
) -> McpStack:
    """Open the MCP server's stack on ``url`` (the same store ``tailguard chat`` uses).

    Args:
        url: SQLite path or URL, or PostgreSQL URL: ledger, control tables and dataset.
        role: serve only this recruiting role's tools.
        acting_user: the dataset user recruiting handlers act for.
        clock: time source (a FakeClock in tests).
        approvers: who may decide gates (default: the dataset's admins and, when the API key
            table is available, holders of approver or admin keys).
        daily_run_cap: runs (calls) per caller per UTC day.
        seed: the dataset seed used when the store is empty (None: do not seed).
        downstream_url: serve the intervention catalogue's tools, handing their jobs to the
            REST downstream agent at this URL (without ``role`` only).
    """
    clock = clock or SystemClock()
    ledger = Ledger.open(url, clock=clock)
    try:
        store = RecruitingStore.open(url, clock=clock, seed=seed)
    except BaseException:
        ledger.close()
        raise
    try:
        acting = ActingUsers(ledger.engine)
        user = acting_user_of(store, role, acting_user)
        registry = build_mcp_registry(
            store,
            acting,
            role=role,
            acting_user=acting_user,
            health={"ledger": lambda: {"records": ledger.count()}},
            kpis=lambda: control_plane_kpis(ledger)["overall"],
            downstream_url=downstream_url,
            clock=clock,
        )
        if approvers is None:
            approvers = dataset_approvers(store, _key_store(ledger, clock))
        control = ControlPlane(
            registry, ledger, clock=clock, approvers=approvers, daily_run_cap=daily_run_cap
        )
    except BaseException:
        store.close()
        ledger.close()
        raise

    def remember(run: Run) -> None:
        acting.record(run.run_id, role=user.role, user_id=user.user_id)

    return McpStack(
        ledger=ledger,
        store=store,
        control=control,
        gateway=Gateway(control, on_start=remember),
        role=role,
    )


def _key_store(ledger: Ledger, clock: Clock) -> Approvers | None:
    """The API key table on the ledger database (who may approve)."""
    from tailguard.identity.keys import KeyStore

    return KeyStore(ledger.engine, clock=clock)


def _result(report: CallReport) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=report.text())],
        structured_content=report.to_dict(),
        is_error=not (report.ok or report.waiting or report.status == "running"),
    )


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


class GovernedMcpServer:
    """An MCP server over a :class:`McpStack`.

    Args:
        stack: the tools, control plane and ledger.
        local_user: the caller over stdio (default: the OS user running the server). HTTP
            callers come from :class:`ApiKeyAuth` instead.
    """

    def __init__(self, stack: McpStack, *, local_user: str | None = None) -> None:
        self.stack = stack
        self.local_user = local_user or getpass.getuser()
        # The control plane and the dataset are synchronous; one worker thread keeps their
        # database sessions simple and the order of a client's calls intact.
        self._limiter = anyio.CapacityLimiter(1)
        self.server: Server[Any] = Server(
            "tailguard",
            version=__version__,
            instructions=(
                "Governed tools of tailguard. Every call goes through policies, rate limits, "
                "budgets and approval gates, and is recorded in the ledger. A call that needs "
                "approval returns a gate id; follow it up with check_approval."
            ),
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    # ----------------------------------------------------------------- listing

    def tools(self) -> list[types.Tool]:
        """The tools offered to clients, with annotations and policy derived from the policy."""
        return [types.Tool.model_validate(t) for t in listed_tools(self.stack.registry)]

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        del ctx, params
        return types.ListToolsResult(tools=self.tools())

    # ----------------------------------------------------------------- calling

    def caller(self, request: Any) -> Caller:
        """The caller of a request: the verified key holder over HTTP, else the local user.

        Raises:
            PermissionDeniedError: an HTTP request that did not pass :class:`ApiKeyAuth`.
        """
        if request is None:
            return Caller(id=self.local_user)
        caller = getattr(request.state, _STATE_KEY, None)
        if not isinstance(caller, Caller):
            raise PermissionDeniedError("this request was not authenticated")
        return caller

    def call(self, caller: Caller, name: str, arguments: Mapping[str, Any]) -> CallReport:
        """Run one MCP tool call for ``caller`` (synchronously).

        Raises:
            NotFoundError: an unknown tool or gate.
            PermissionDeniedError: a read-only caller asked for an action, or a foreign gate.
            InvalidInputError: bad ``check_approval`` arguments.
            BudgetExceededError, LedgerError: from the control plane.
        """
        gateway = self.stack.gateway
        if name == CHECK_APPROVAL:
            gate_id = arguments.get("gate_id")
            if not isinstance(gate_id, str) or not gate_id:
                raise InvalidInputError("check_approval needs a gate_id string")
            return gateway.check(principal=caller.id, gate_id=gate_id)
        registry = self.stack.registry
        if name in registry and name not in HIDDEN_TOOLS and caller.read_only:
            risk = registry.policy(name).risk_level
            if risk.rank >= RiskLevel.EXECUTE_LOW.rank:
                raise PermissionDeniedError(
                    f"{name} is an {risk.value} tool; a viewer key may call read and suggest "
                    "tools only"
                )
        # A hidden or unknown tool goes to the control plane as it is: it refuses it and the
        # refusal is in the ledger like every other call.
        tool_name = name if name not in HIDDEN_TOOLS else f"{name} (not offered)"
        return gateway.call(
            role=MCP_ROLE,
            principal=caller.id,
            tool_name=tool_name,
            args=dict(arguments),
            goal_text=f"MCP call of {name}",
        )

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            caller = self.caller(ctx.request)
            report = await anyio.to_thread.run_sync(
                self.call, caller, params.name, params.arguments or {}, limiter=self._limiter
            )
        except TailguardError as exc:
            return _error(f"{exc.code}: {exc.message}")
        return _result(report)

    # --------------------------------------------------------------- transports

    async def serve_stdio(self) -> None:
        """Serve one client over this process's stdin and stdout until it disconnects."""
        async with stdio_server() as (read, write):
            await self.server.run(read, write, self.server.create_initialization_options())

    def http_app(self, verify: Callable[[str], Any], *, host: str = "127.0.0.1") -> ASGIApp:
        """The streamable HTTP app at ``/mcp``, behind API-key authentication.

        Args:
            verify: ``verify(raw_key)`` -> a principal with ``subject`` and ``role`` (as
                :meth:`tailguard.identity.keys.KeyStore.verify`), or None to refuse.
            host: the host the server binds (loopback enables DNS-rebinding protection).
        """
        app = self.server.streamable_http_app(host=host)
        return ApiKeyAuth(app, verify)


class ApiKeyAuth:
    """ASGI middleware: refuse HTTP requests without a valid API key, name the caller.

    Args:
        app: the wrapped app.
        verify: ``verify(raw_key)`` -> principal (``subject``, ``role``) or None.
    """

    def __init__(self, app: ASGIApp, verify: Callable[[str], Any]) -> None:
        self.app = app
        self.verify = verify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the key of an HTTP request, then pass it on with ``state.tailguard_caller``."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        raw = headers.get("x-api-key") or ""
        auth = headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            raw = auth[7:].strip()
        principal = await anyio.to_thread.run_sync(self.verify, raw) if raw else None
        if principal is None:
            # The service's one error shape (tailguard.service.errors).
            body: dict[str, Any] = {
                "error": {
                    "code": "unauthenticated",
                    "message": "an API key is required (Authorization: Bearer or X-API-Key)"
                    if not raw
                    else "the API key is unknown or revoked",
                    "details": {},
                }
            }
            response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        role = str(getattr(principal.role, "value", principal.role))
        caller = Caller(id=str(principal.subject), read_only=role in _READ_ONLY_KEY_ROLES)
        scope.setdefault("state", {})[_STATE_KEY] = caller
        await self.app(scope, receive, send)
