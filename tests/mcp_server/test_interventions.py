"""The intervention catalogue's tools over MCP, handing jobs to a real downstream agent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client

from tailguard.agents.testing import RecordingDownstreamServer
from tailguard.mcp import GovernedMcpServer, McpStack, open_mcp

from ._async import run_async
from ._checks import check_executed_run, check_listing


@pytest.fixture
def with_interventions(db_url: str) -> Iterator[tuple[McpStack, RecordingDownstreamServer]]:
    """An MCP stack serving the recruiting and intervention tools, with its downstream agent."""
    with RecordingDownstreamServer() as downstream:
        stack = open_mcp(db_url, downstream_url=downstream.url)
        yield stack, downstream
        stack.close()


def test_intervention_tools_are_listed_and_called(
    with_interventions: tuple[McpStack, RecordingDownstreamServer],
) -> None:
    """Catalogue tools are served with policy-derived annotations; a call reaches the agent once."""
    stack, downstream = with_interventions
    server = GovernedMcpServer(stack, local_user="dana")
    got: dict[str, Any] = {}

    async def main() -> None:
        async with Client(server.server) as client:
            got["tools"] = list((await client.list_tools()).tools)
            low = await client.call_tool(
                "buffer_locker_stock", {"locker_id": "L-7", "sku": "CAP-45", "units": 4}
            )
            got["low"] = low.structured_content
            high = await client.call_tool("open_surge_pay_window", {"zip": "75001"})
            got["high"] = high.structured_content

    run_async(main)
    check_listing(stack, got["tools"])
    names = {t.name for t in got["tools"]}
    assert {"buffer_locker_stock", "open_surge_pay_window"} <= names
    assert got["low"]["status"] == "executed", got["low"]
    check_executed_run(stack, got["low"], initiator="dana")
    assert list(downstream.executed) == [got["low"]["step_id"]]
    assert got["high"]["status"] == "pending_approval"
    assert len(downstream.executed) == 1  # the gated job has not reached the agent
