"""What the MCP server lists, without the SDK or a database: ``tailguard mcp --list``.

The listing is the registry's tools (minus the hidden ones) with their policy-derived
annotations and the full policy under ``_meta``, plus the server's own ``check_approval``.
:meth:`tailguard.mcp.server.GovernedMcpServer.tools` validates these same dicts into the SDK's
``Tool`` model, so the listing printed here is the one a client receives.

``--list`` must answer quickly from any directory: the registry is built on an in-memory
store that is never connected (the handlers are not called), so no file is opened or written
and neither the ``mcp`` SDK nor the service is imported (``bench/mcp_list_bench.py``).
"""

from __future__ import annotations

from typing import Any

from tailguard.control import ToolRegistry
from tailguard.mcp.registry import HIDDEN_TOOLS, policy_meta, tool_annotations

#: The server's own tool that follows up a call waiting at an approval gate.
CHECK_APPROVAL = "check_approval"

CHECK_TOOL: dict[str, Any] = {
    "name": CHECK_APPROVAL,
    "description": (
        "Follow up a tool call that is waiting for a person's approval: returns the tool's "
        "result once approved (it runs then, exactly once), the rejection, or 'still pending'."
    ),
    "inputSchema": {
        "type": "object",
        "properties": {"gate_id": {"type": "string", "description": "the approval gate id"}},
        "required": ["gate_id"],
        "additionalProperties": False,
    },
    # It may run an approved call, so it is not read-only; asking twice changes nothing more.
    "annotations": {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True},
    "_meta": {"tailguard.dev/builtin": True},
}


def listed_tools(registry: ToolRegistry) -> list[dict[str, Any]]:
    """The tools offered to clients (wire names), sorted by name, ``check_approval`` last."""
    listed = []
    for tool in sorted(registry, key=lambda t: t.name):
        if tool.name in HIDDEN_TOOLS:
            continue
        policy = registry.policy(tool.name)
        listed.append(
            {
                "name": tool.name,
                "description": tool.description,
                "inputSchema": dict(tool.parameters),
                "annotations": tool_annotations(policy),
                "_meta": policy_meta(tool.name, policy),
            }
        )
    listed.append(dict(CHECK_TOOL))
    return listed


def tool_listing(
    *, domain: str = "recruiting", role: str | None = None, downstream_url: str | None = None
) -> list[dict[str, Any]]:
    """The listing ``tailguard mcp`` would serve, built without opening any database.

    Raises:
        InvalidInputError: an unknown domain or role.
    """
    import sqlalchemy as sa

    from tailguard.mcp.domains import listing_registry

    engine = sa.create_engine("sqlite://")  # never connected: no handler runs
    try:
        return listed_tools(
            listing_registry(engine, domain=domain, role=role, downstream_url=downstream_url)
        )
    finally:
        engine.dispose()
