"""The registry the MCP server serves, and what each tool's policy says to an MCP client.

Outside surfaces (an MCP client, a voice platform) call the same governed tools as the role
agents. Over MCP every call runs as a control-plane run of role ``mcp``; each tool's policy
therefore admits ``mcp`` beside the roles it already names, and ``--role R`` narrows the
listing to the tools role ``R`` is offered. A recruiting handler still needs a person of the
dataset to act for (its role scopes what a call may see and change): that is the *acting
user*, by default the role's demo user, or the dataset's admin when no role is given.

Tool annotations are derived from the policy (never written by hand, so they cannot drift):
``read`` and ``suggest`` are read-only; ``execute_low`` is not destructive; ``execute_high`` is;
``idempotentHint`` is the policy's ``idempotent``. The whole policy rides along under the
namespaced ``_meta`` key :data:`POLICY_META_KEY`.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from tailguard.clock import Clock, SystemClock
from tailguard.control import Policy, RiskLevel, Tool, ToolContext, ToolRegistry
from tailguard.control.tools import Handler
from tailguard.errors import PermissionDeniedError, PolicyError
from tailguard.migrations import ensure_schema
from tailguard.roles.recruiting.registry import build_registry
from tailguard.roles.recruiting.roles import role_spec
from tailguard.roles.recruiting.store import RecruitingStore, User

#: The control-plane role of every run started over MCP.
MCP_ROLE = "mcp"
#: The ``_meta`` key holding a tool's full policy.
POLICY_META_KEY = "tailguard.dev/policy"
#: Tools kept in the registry (rollback needs them) but never offered to clients: a
#: compensating tool is started by a person through ``rollback``, not by a model.
HIDDEN_TOOLS = frozenset({"revert_to_previous_status"})
#: The dataset user a role-less MCP server acts for.
DEFAULT_ACTING_USER = "admin"


def tool_annotations(policy: Policy) -> dict[str, Any]:
    """The MCP tool annotations (wire names) that ``policy`` implies."""
    if policy.risk_level in (RiskLevel.READ, RiskLevel.SUGGEST):
        return {"readOnlyHint": True, "idempotentHint": policy.idempotent}
    return {
        "readOnlyHint": False,
        "destructiveHint": policy.risk_level is RiskLevel.EXECUTE_HIGH,
        "idempotentHint": policy.idempotent,
    }


def policy_meta(name: str, policy: Policy) -> dict[str, Any]:
    """The ``_meta`` object of a listed tool: its full policy under :data:`POLICY_META_KEY`."""
    return {POLICY_META_KEY: {"tool": name, **policy.to_dict()}}


def admit_mcp(policy: Policy) -> Policy:
    """``policy`` with role ``mcp`` added to its roles (a policy open to every role stays so)."""
    if policy.roles is None:
        return policy
    return dataclasses.replace(policy, roles=frozenset(policy.roles) | {MCP_ROLE})


_metadata = sa.MetaData()

mcp_acting = sa.Table(
    "mcp_acting",
    _metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
)


class ActingUsers:
    """Which dataset user each MCP run acts for, kept beside the ledger.

    A gated call may be resumed by another process (the service's approvals inbox); the
    acting user must travel with the run, not live in one server's memory.

    Args:
        engine: the ledger's database.
    """

    def __init__(self, engine: sa.Engine, *, create: bool = True) -> None:
        self.engine = engine
        if create:  # a listing-only registry (tailguard mcp --list) touches no database
            ensure_schema(engine)  # tables come from the migrations

    def record(self, run_id: str, *, role: str, user_id: str) -> None:
        """Remember that ``run_id`` acts for ``user_id`` (of ``role``)."""
        with self.engine.begin() as conn:
            conn.execute(mcp_acting.insert().values(run_id=run_id, role=role, user_id=user_id))

    def get(self, run_id: str) -> tuple[str, str]:
        """The (role, user id) run ``run_id`` acts for.

        Raises:
            PermissionDeniedError: the run has no acting user (it was not started over MCP).
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(mcp_acting.c.role, mcp_acting.c.user_id).where(
                    mcp_acting.c.run_id == run_id
                )
            ).one_or_none()
        if row is None:
            raise PermissionDeniedError(f"run {run_id} has no acting user for its MCP calls")
        return str(row.role), str(row.user_id)


def mcp_aware(handler: Handler, acting: ActingUsers) -> Handler:
    """``handler``, called for an ``mcp`` run as the dataset user that run acts for.

    The ledger keeps the real requester (the MCP caller); only the domain handler, which scopes
    data by the dataset user, sees the acting user. Calls of other roles pass unchanged.
    """

    def handle(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        if ctx.role != MCP_ROLE:
            return handler(args, ctx)
        role, user_id = acting.get(ctx.run_id)
        return handler(args, dataclasses.replace(ctx, role=role, requester_id=user_id))

    return handle


def share_with_mcp(tool: Tool, policy: Policy, acting: ActingUsers) -> Tool:
    """``tool`` as any process must register it to run (or resume) calls of ``mcp`` runs."""
    return dataclasses.replace(
        tool, handler=mcp_aware(tool.handler, acting), policy=admit_mcp(policy)
    )


def intervention_tools(
    *, downstream_url: str | None = None, clock: Clock | None = None
) -> list[tuple[Tool, Policy]]:
    """The intervention catalogue's tools, when there is something to run them with.

    ``tailguard.agents.catalogue.intervention_registry`` (a :class:`ToolRegistry`, or a
    callable with no required arguments returning one) wins when the module provides it;
    otherwise, with ``downstream_url``, the built-in catalogue's tools are wired to a REST
    downstream agent at that URL. Neither: no intervention tools.
    """
    name = "tailguard.agents.catalogue"
    if downstream_url is None and name not in sys.modules:
        # Without a downstream only the hook could add tools, and a hook is set on a module
        # someone imported; importing the catalogue (the simulator, Polars, PyArrow) just to
        # look would cost ``tailguard mcp --list`` seconds.
        return []
    module = importlib.import_module(name)
    hook = getattr(module, "intervention_registry", None)
    registry: Any = None
    if hook is not None:
        registry = hook if isinstance(hook, ToolRegistry) else hook()
    elif downstream_url:
        from tailguard.agents.downstream import RestDownstream
        from tailguard.agents.tick import build_registry as build_intervention_registry

        downstream = RestDownstream(downstream_url)
        registry = build_intervention_registry(
            module.default_catalogue(), lambda: downstream, clock or SystemClock()
        )
    if registry is None:
        return []
    if not isinstance(registry, ToolRegistry):
        raise PolicyError("the intervention tool hook gave no ToolRegistry")
    return [(tool, registry.policy(tool.name)) for tool in registry]


def build_mcp_registry(
    store: RecruitingStore,
    acting: ActingUsers,
    *,
    role: str | None = None,
    acting_user: str | None = None,
    health: Mapping[str, Callable[[], Mapping[str, Any]]] | None = None,
    kpis: Callable[[], Mapping[str, Any]] | None = None,
    downstream_url: str | None = None,
    clock: Clock | None = None,
    check_user: bool = True,
) -> ToolRegistry:
    """Every tool the MCP server may serve, with policies that admit role ``mcp``.

    Args:
        store: the recruiting dataset.
        acting: where each run's acting user is kept (see :class:`ActingUsers`).
        role: serve only the tools this recruiting role is offered (None: every tool).
        acting_user: the dataset user recruiting handlers act for (default: the role's demo
            user, or the admin without a role).
        health: extra probes for ``get_system_health``.
        kpis: the KPI source of ``get_agent_kpis``.
        downstream_url: the downstream agent the intervention tools hand their jobs to (see
            :func:`intervention_tools`); without it (or the catalogue's hook) they are left out.
        clock: time source of the intervention handlers.
        check_user: look the acting user up now (False for a listing, which opens no store;
            an unknown role is still refused).

    Raises:
        InvalidInputError: an unknown role.
        NotFoundError, PermissionDeniedError: the acting user is unknown or holds another role.
    """
    if check_user:
        acting_user_of(store, role, acting_user)  # refuse a bad role or user at start-up
    elif role is not None:
        role_spec(role)
    recruiting = build_registry(store, health=health, kpis=kpis)
    registry = ToolRegistry()
    for tool in recruiting:
        policy = recruiting.policy(tool.name)
        offered = role is None or policy.roles is None or role in policy.roles
        if not offered and tool.name not in HIDDEN_TOOLS:
            continue
        registry.register(share_with_mcp(tool, policy, acting))
    if role is None:
        for tool, policy in intervention_tools(downstream_url=downstream_url, clock=clock):
            registry.register(dataclasses.replace(tool, policy=admit_mcp(policy)), replace=True)
    return registry


def acting_user_of(store: RecruitingStore, role: str | None, acting_user: str | None) -> User:
    """The dataset user an MCP server acts for: given, else the role's demo user, else admin.

    Raises:
        InvalidInputError: an unknown role.
        NotFoundError, PermissionDeniedError: the user is unknown or holds another role.
    """
    if role is not None:
        return store.user(acting_user or role_spec(role).default_user, role=role)
    return store.user(acting_user or DEFAULT_ACTING_USER)
