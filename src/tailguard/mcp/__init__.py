"""The governed tools for outside clients: an MCP server, and the call gateway it shares with
the voice webhook.

:func:`open_mcp` opens the tools, control plane and ledger on a database URL;
:class:`GovernedMcpServer` serves them over stdio or streamable HTTP with the official ``mcp``
SDK; :class:`Gateway` runs one outside call as a governed run and follows up its approval gate.
"""

from tailguard.mcp.gateway import CallReport, Gateway
from tailguard.mcp.registry import (
    MCP_ROLE,
    POLICY_META_KEY,
    build_mcp_registry,
    policy_meta,
    tool_annotations,
)
from tailguard.mcp.server import (
    CHECK_APPROVAL,
    AnyApprover,
    ApiKeyAuth,
    Caller,
    GovernedMcpServer,
    McpStack,
    open_mcp,
)

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
