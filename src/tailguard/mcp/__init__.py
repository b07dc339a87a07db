"""The governed tools for outside clients: an MCP server, and the call gateway it shares with
the voice webhook.

:func:`open_mcp` opens the tools, control plane and ledger on a database URL;
:class:`GovernedMcpServer` serves them over stdio or streamable HTTP with the official ``mcp``
SDK; :class:`Gateway` runs one outside call as a governed run and follows up its approval gate;
:func:`~tailguard.mcp.listing.tool_listing` is the listing alone (no SDK, no database).

The names are imported on first use (PEP 562): ``tailguard mcp --list`` and the modules that
only need the registry must not pay for the SDK's import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tailguard.control.gateway import CallReport, Gateway
    from tailguard.mcp.listing import CHECK_APPROVAL
    from tailguard.mcp.registry import (
        MCP_ROLE,
        POLICY_META_KEY,
        build_mcp_registry,
        policy_meta,
        tool_annotations,
    )
    from tailguard.mcp.server import (
        AnyApprover,
        ApiKeyAuth,
        Caller,
        GovernedMcpServer,
        McpStack,
        open_mcp,
    )

_HOMES = {
    "CallReport": "tailguard.control.gateway",
    "Gateway": "tailguard.control.gateway",
    "MCP_ROLE": "registry",
    "POLICY_META_KEY": "registry",
    "build_mcp_registry": "registry",
    "policy_meta": "registry",
    "tool_annotations": "registry",
    "CHECK_APPROVAL": "listing",
    "AnyApprover": "server",
    "ApiKeyAuth": "server",
    "Caller": "server",
    "GovernedMcpServer": "server",
    "McpStack": "server",
    "open_mcp": "server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tailguard.mcp' has no attribute {name!r}")
    module = home if home.startswith("tailguard.") else f"tailguard.mcp.{home}"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CHECK_APPROVAL",
    "MCP_ROLE",
    "POLICY_META_KEY",
    "AnyApprover",
    "ApiKeyAuth",
    "CallReport",
    "Caller",
    "Gateway",
    "GovernedMcpServer",
    "McpStack",
    "build_mcp_registry",
    "open_mcp",
    "policy_meta",
    "tool_annotations",
]
