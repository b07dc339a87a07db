"""The MCP server over streamable HTTP: uvicorn on loopback, API keys, the mcp client SDK."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tailguard.clock import format_ts
from tailguard.mcp import GovernedMcpServer, McpStack
from tailguard.service.auth import KeyStore

from ._async import run_async
from ._checks import (
    check_executed_run,
    check_gated_run,
    check_listing,
    direct_read,
    structured,
)


@pytest.fixture
def served(stack: McpStack) -> Iterator[tuple[str, KeyStore]]:
    """A real HTTP server on a free loopback port, serving the stack behind API keys."""
    keys = KeyStore(stack.ledger.engine)
    app = GovernedMcpServer(stack).http_app(keys.verify)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped while starting"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/mcp", keys
    server.should_exit = True
    thread.join(timeout=30)


def _run(url: str, key: str, body: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with create_mcp_http_client(headers={"Authorization": f"Bearer {key}"}) as http:
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, read_timeout_seconds=60) as client:
                await body(client)

    run_async(main)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer tg_0123456789abcdef_notarealsecretnotarealsecret"}],
    ids=["no-key", "unknown-key"],
)
def test_http_refuses_requests_without_a_valid_key(
    served: tuple[str, KeyStore], headers: dict[str, str]
) -> None:
    """Without a valid API key the MCP endpoint answers 401 before the transport runs."""
    url, _ = served
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = httpx.post(url, json=body, headers=headers, timeout=30)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_http_lists_calls_and_follows_up_an_approval(
    stack: McpStack, served: tuple[str, KeyStore]
) -> None:
    """Over HTTP: listing, a read call and a gated call completed after approval, as the key's owner."""
    url, keys = served
    _, raw = keys.create("alice", "operator")
    args = {"carrierId": "C-002"}
    state: dict[str, Any] = {}

    async def first(client: Client) -> None:
        check_listing(stack, list((await client.list_tools()).tools))
        read = await client.call_tool("get_carrier_details", args)
        assert read.is_error is False
        state["read"] = structured(read)
        when = format_ts(stack.control.clock.now() + timedelta(days=3))
        gated = await client.call_tool(
            "schedule_interview", {"candidate": "John", "scheduledFor": when, "kind": "phone"}
        )
        state["gated"] = structured(gated)

    _run(url, raw, first)
    assert state["read"]["result"] == direct_read(stack, "get_carrier_details", args)
    check_executed_run(stack, state["read"], initiator="alice")
    gated = state["gated"]
    assert gated["status"] == "pending_approval", gated

    stack.control.decide(gated["gate_id"], "approve", "admin")

    async def follow(client: Client) -> None:
        result = await client.call_tool("check_approval", {"gate_id": gated["gate_id"]})
        assert result.is_error is False
        state["followed"] = structured(result)

    _run(url, raw, follow)
    # Nobody resumed the gate: the follow-up ran the approved call, exactly once.
    assert state["followed"]["status"] == "executed"
    assert state["followed"]["replayed"] is False
    assert stack.control.resume(gated["gate_id"]).replayed is True
    check_gated_run(stack, gated, initiator="alice", decision="approved")


def test_http_viewer_key_may_only_read(stack: McpStack, served: tuple[str, KeyStore]) -> None:
    """A viewer key can call read tools; an action is refused before it reaches a run."""
    url, keys = served
    _, raw = keys.create("victor", "viewer")
    state: dict[str, Any] = {}

    async def body(client: Client) -> None:
        read = await client.call_tool("get_system_health", {})
        state["read_error"] = read.is_error
        act = await client.call_tool(
            "update_candidate_status", {"candidate": "John", "newStatus": "interview"}
        )
        state["act_error"] = act.is_error
        state["act_text"] = act.content[0].text

    _run(url, raw, body)
    assert state["read_error"] is False
    assert state["act_error"] is True
    assert state["act_text"].startswith("permission_denied")
    runs = [r.fields for r in stack.ledger.records(kind="run")]
    assert {r["initiator_id"] for r in runs} == {"victor"}
    assert all(r["goal_text"] != "MCP call of update_candidate_status" for r in runs)


def test_http_gate_is_private_to_its_caller(stack: McpStack, served: tuple[str, KeyStore]) -> None:
    """Another key holder cannot follow up (or trigger) someone else's gated call."""
    url, keys = served
    _, alice = keys.create("alice", "operator")
    _, bob = keys.create("bob", "operator")
    state: dict[str, Any] = {}

    async def ask(client: Client) -> None:
        result = await client.call_tool("send_message", {"candidate": "John", "content": "Hi"})
        state["gated"] = structured(result)

    async def peek(client: Client) -> None:
        result = await client.call_tool("check_approval", {"gate_id": state["gated"]["gate_id"]})
        state["peek_error"] = result.is_error
        state["peek_text"] = result.content[0].text

    _run(url, alice, ask)
    stack.control.decide(state["gated"]["gate_id"], "approve", "admin")
    _run(url, bob, peek)
    assert state["peek_error"] is True
    assert state["peek_text"].startswith("permission_denied")
    gate_runs = stack.ledger.latest("run", state["gated"]["run_id"]).fields
    assert gate_runs["status"] == "running"  # approved, not yet run: bob's peek ran nothing


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_cli_serves_http_with_api_keys(stack: McpStack, db_url: str) -> None:
    """`tailguard mcp --http PORT` serves /mcp behind the key table of its database."""
    import subprocess
    import sys

    _, raw = KeyStore(stack.ledger.engine).create("alice", "operator")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tailguard", "mcp", "--db", db_url, "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                status = httpx.post(url, json={}, timeout=5).status_code
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "tailguard mcp --http did not start"
                time.sleep(0.1)
        assert status == 401
        got: dict[str, Any] = {}

        async def body(client: Client) -> None:
            result = await client.call_tool("get_system_health", {})
            got.update(structured(result))

        _run(url, raw, body)
        assert got["status"] == "executed"
        check_executed_run(stack, got, initiator="alice")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()
