"""The MCP server over stdio: a real ``tailguard mcp`` subprocess driven by the mcp client SDK."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import get_default_environment

from _timetravel import ENV as CLOCK_ENV
from tailguard.mcp import McpStack

from ._async import run_async
from ._checks import (
    check_executed_run,
    check_gated_run,
    check_listing,
    direct_read,
    structured,
)

pytestmark = pytest.mark.slow


def _run(db_url: str, body: Callable[[Client], Awaitable[None]], *extra: str) -> None:
    # The SDK passes the server only a few variables of ours; keep the session's clock
    # (make test-future: tests/_timetravel.py) so both sides agree on the date.
    clock = {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", CLOCK_ENV)}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tailguard", "mcp", "--db", db_url, *extra],
        env={**get_default_environment(), **clock},
    )

    async def main() -> None:
        async with Client(params, read_timeout_seconds=60) as client:
            await body(client)

    run_async(main)


def test_lists_tools_with_annotations_derived_from_policies(stack: McpStack, db_url: str) -> None:
    """tools/list over stdio shows every served tool with policy-derived annotations and _meta."""
    seen: list[Any] = []

    async def body(client: Client) -> None:
        seen.extend((await client.list_tools()).tools)

    _run(db_url, body)
    check_listing(stack, seen)


def test_read_call_runs_and_is_recorded_as_an_mcp_run(stack: McpStack, db_url: str) -> None:
    """A read tool answers with its result, recorded as a completed run of role mcp."""
    args = {"carrierId": "C-001"}
    got: dict[str, Any] = {}

    async def body(client: Client) -> None:
        result = await client.call_tool("get_carrier_details", args)
        assert result.is_error is False
        got.update(structured(result))

    _run(db_url, body)
    assert got["status"] == "executed"
    assert got["result"] == direct_read(stack, "get_carrier_details", args)
    check_executed_run(stack, got, initiator=getpass.getuser())


def test_high_risk_call_waits_then_completes_after_approval(stack: McpStack, db_url: str) -> None:
    """send_message answers pending with its gate; after approval check_approval returns the result."""
    pending: dict[str, Any] = {}

    async def ask(client: Client) -> None:
        result = await client.call_tool(
            "send_message", {"candidate": "John", "content": "Interview Tuesday?"}
        )
        assert result.is_error is False
        pending.update(structured(result))
        assert pending["gate_id"] in result.content[0].text
        again = await client.call_tool("check_approval", {"gate_id": pending["gate_id"]})
        assert structured(again)["status"] == "pending_approval"

    _run(db_url, ask)
    assert pending["status"] == "pending_approval"
    assert stack.ledger.latest("run", pending["run_id"]).fields["status"] == "waiting_approval"

    stack.control.decide(pending["gate_id"], "approve", "admin")
    resumed = stack.control.resume(pending["gate_id"])
    assert resumed.ok
    followed: dict[str, Any] = {}

    async def follow(client: Client) -> None:
        result = await client.call_tool("check_approval", {"gate_id": pending["gate_id"]})
        assert result.is_error is False
        followed.update(structured(result))

    _run(db_url, follow)
    assert followed["status"] == "executed"
    assert followed["replayed"] is True
    assert followed["result"] == resumed.value
    check_gated_run(stack, pending, initiator=getpass.getuser(), decision="approved")


def test_rejected_call_reports_the_rejection(stack: McpStack, db_url: str) -> None:
    """A rejected gate is reported as an error result, and the call never ran."""
    pending: dict[str, Any] = {}
    followed: dict[str, Any] = {}

    async def ask(client: Client) -> None:
        result = await client.call_tool("send_message", {"candidate": "John", "content": "Hi"})
        pending.update(structured(result))
        stack.control.decide(pending["gate_id"], "reject", "admin", reason="not now")
        result = await client.call_tool("check_approval", {"gate_id": pending["gate_id"]})
        assert result.is_error is True
        followed.update(structured(result))

    _run(db_url, ask)
    assert followed["status"] == "rejected"
    assert followed["result"] is None
    check_gated_run(stack, pending, initiator=getpass.getuser(), decision="rejected")


def test_role_narrows_the_listing(stack: McpStack, db_url: str) -> None:
    """--role driver serves the driver's tools only (and check_approval)."""
    names: set[str] = set()

    async def body(client: Client) -> None:
        names.update(t.name for t in (await client.list_tools()).tools)

    _run(db_url, body, "--role", "driver")
    driver = {
        t.name
        for t in stack.registry
        if t.name != "revert_to_previous_status"
        and "driver" in (stack.registry.policy(t.name).roles or {"driver"})
    }
    assert names == driver | {"check_approval"}
    assert "send_message" not in names
