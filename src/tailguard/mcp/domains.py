"""The two reference domains the MCP server can serve, kept apart: ``operations`` (the
field-service network: pulse, tails, scorecards, interventions and outcomes, OKRs,
approvals) and ``recruiting`` (the trucking-recruiting dataset).

``listing_registry`` builds a domain's registry on a store that is never connected (for
``tailguard mcp --list``); :func:`open_ops_mcp` opens the operations stack on a database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tailguard.clock import Clock, SystemClock
from tailguard.control import Approvers, ToolRegistry
from tailguard.errors import InvalidInputError
from tailguard.mcp.registry import admit_mcp, intervention_tools

if TYPE_CHECKING:
    from tailguard.mcp.server import McpStack
    from tailguard.roles.fieldservice.sources import OpsSources

OPERATIONS = "operations"
RECRUITING = "recruiting"
DOMAINS = (OPERATIONS, RECRUITING)


def check_domain(domain: str) -> str:
    """``domain`` when it is one of :data:`DOMAINS`, else an input error naming them."""
    if domain not in DOMAINS:
        raise InvalidInputError(f"unknown domain {domain!r}: one of {', '.join(DOMAINS)}")
    return domain


def ops_mcp_registry(
    sources: OpsSources,
    *,
    role: str | None = None,
    downstream_url: str | None = None,
    clock: Clock | None = None,
) -> ToolRegistry:
    """The field-service tools offered to ``role`` (None: all), admitting role ``mcp``; with
    ``downstream_url`` also the intervention catalogue's tools (proposals go through their
    own approval gates).

    Raises:
        InvalidInputError: an unknown operations role.
    """
    from tailguard.roles.fieldservice.domain import ops_role
    from tailguard.roles.fieldservice.registry import build_ops_registry

    if role is not None:
        ops_role(role)
    ops = build_ops_registry(sources)
    registry = ToolRegistry()
    for tool in ops:
        policy = ops.policy(tool.name)
        if role is None or policy.roles is None or role in policy.roles:
            registry.register(dataclasses.replace(tool, policy=admit_mcp(policy)))
    if role is None or role == "ops_manager":
        for tool, policy in intervention_tools(downstream_url=downstream_url, clock=clock):
            registry.register(dataclasses.replace(tool, policy=admit_mcp(policy)), replace=True)
    return registry


def listing_registry(
    engine: sa.Engine, *, domain: str, role: str | None, downstream_url: str | None
) -> ToolRegistry:
    """A domain's registry on ``engine`` without connecting to it (no handler may run)."""
    check_domain(domain)
    if domain == RECRUITING:
        from tailguard.mcp.registry import ActingUsers, build_mcp_registry
        from tailguard.roles.recruiting.store import RecruitingStore

        return build_mcp_registry(
            RecruitingStore(engine),
            ActingUsers(engine, create=False),
            role=role,
            downstream_url=downstream_url,
            check_user=False,
        )
    from tailguard.roles.fieldservice.sources import OpsSources

    del engine  # the operations handlers read stores the listing never opens
    sources = OpsSources(ledger=None, learn=None, clock=SystemClock())  # type: ignore[arg-type]
    return ops_mcp_registry(sources, role=role, downstream_url=downstream_url)


def open_ops_mcp(
    url: str,
    *,
    pulse_url: str | None = None,
    role: str | None = None,
    clock: Clock | None = None,
    approvers: Approvers | None = None,
    approver_ids: Sequence[str] = (),
    daily_run_cap: int | None = 1000,
    downstream_url: str | None = None,
) -> McpStack:
    """The MCP stack of the operations domain on ``url`` (the deployment's ledger database).

    Args:
        url: the ledger database (runs, gates, the self-learn store, OKRs).
        pulse_url: the pulse store (None: the pulse tools say none is configured).
        role: serve only this operations role's tools (``ops_analyst`` has no decide tool).
        clock: time source.
        approvers: who may decide gates (default: ``approver_ids`` and, when the service is
            installed, holders of approver or admin API keys).
        approver_ids: people who may decide gates besides the key holders.
        daily_run_cap: runs (calls) per caller per UTC day.
        downstream_url: also serve the intervention catalogue's tools through this REST agent.
    """
    from tailguard.control import ApproverList, ControlPlane
    from tailguard.control.gateway import Gateway
    from tailguard.mcp.server import AnyApprover, McpStack, _key_store
    from tailguard.roles.fieldservice.session import open_sources

    clock = clock or SystemClock()
    sources = open_sources(url, pulse_url=pulse_url, clock=clock)
    try:
        registry = ops_mcp_registry(sources, role=role, downstream_url=downstream_url, clock=clock)
        if approvers is None:
            listed: list[Approvers] = [ApproverList(approver_ids=frozenset(approver_ids))]
            keys = _key_store(sources.ledger, clock)
            if keys is not None:
                listed.append(keys)
            approvers = AnyApprover(listed)
        control = ControlPlane(
            registry, sources.ledger, clock=clock, approvers=approvers, daily_run_cap=daily_run_cap
        )
        sources.control = control
    except BaseException:
        if sources.pulse is not None:
            sources.pulse.close()
        sources.ledger.close()
        raise
    return McpStack(
        ledger=sources.ledger,
        store=None,
        control=control,
        gateway=Gateway(control),
        role=role,
        pulse=sources.pulse,
    )
