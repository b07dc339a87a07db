"""An MCP call's gate approved in the service's approvals inbox runs there, as the acting user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from tailguard.mcp import GovernedMcpServer, McpStack
from tailguard.service import ServiceSettings, create_app
from tailguard.service.chat import close

from ._async import run_async
from ._checks import latest


@pytest.fixture
def inbox(stack: McpStack, db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    """The service app on the MCP server's database, with an approver's key."""
    app = create_app(ServiceSettings(ledger_url=db_url, pulse_url=str(tmp_path / "pulse.db")))
    _, key = app.state.tailguard.keys.create("carol", "approver")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, key
    close(app)


def test_inbox_approval_runs_the_mcp_call_once(
    stack: McpStack, inbox: tuple[TestClient, str]
) -> None:
    """Approving in the inbox runs the call there; check_approval then replays its result."""
    client, key = inbox
    server = GovernedMcpServer(stack, local_user="alice")
    got: dict[str, Any] = {}

    async def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
        async with Client(server.server) as mcp:
            result = await mcp.call_tool(name, args)
            assert isinstance(result.structured_content, dict)
            return result.structured_content

    got["pending"] = run_async(
        call, "update_candidate_status", {"candidate": "John", "newStatus": "offer"}
    )
    assert got["pending"]["status"] == "executed"  # execute_low: no gate
    got["pending"] = run_async(
        call, "send_message", {"candidate": "John", "content": "Offer letter is on its way"}
    )
    gate_id = got["pending"]["gate_id"]
    response = client.post(
        f"/v1/approvals/{gate_id}",
        json={"decision": "approve"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    resumed = response.json()["resumed"]
    assert resumed["outcome"] == "executed", resumed
    followed = run_async(call, "check_approval", {"gate_id": gate_id})
    assert followed["status"] == "executed"
    assert followed["replayed"] is True
    run = latest(stack, "run", got["pending"]["run_id"])
    assert (run["role"], run["initiator_id"], run["status"]) == ("mcp", "alice", "completed")
    gate = latest(stack, "gate", gate_id)
    assert (gate["decision"], gate["decided_by"]) == ("approved", "carol")
    executed = [
        r
        for r in stack.ledger.records(kind="step", run_id=run["run_id"])
        if r.fields["status"] == "executed"
    ]
    assert len(executed) == 1
