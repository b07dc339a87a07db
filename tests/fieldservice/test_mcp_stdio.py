"""The field-service tools over MCP: a real ``tailguard mcp --domain operations`` subprocess,
started from an empty directory, driven by the ``mcp`` SDK client over stdio."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import get_default_environment

from _timetravel import ENV as CLOCK_ENV
from mcp_server._async import run_async
from tailguard.ledger import Ledger
from tailguard.mcp.listing import tool_listing
from tailguard.mcp.registry import POLICY_META_KEY

from .network import LEAD, SURGE_TOOL, Network

pytestmark = pytest.mark.slow


def _run(tmp_path: Path, body: Callable[[Client], Awaitable[None]], *args: str) -> list[str]:
    """Serve over stdio from an empty directory; returns what was left in that directory."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", CLOCK_ENV)}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tailguard", "mcp", "--domain", "operations", *args],
        env={**get_default_environment(), **env, "XDG_DATA_HOME": str(tmp_path / "data")},
        cwd=str(cwd),
    )

    async def main() -> None:
        async with Client(params, read_timeout_seconds=60) as client:
            await body(client)

    run_async(main)
    return sorted(p.name for p in cwd.iterdir())


def test_the_field_service_tools_over_stdio(
    tmp_path: Path, db_url: str, pulse_url: str, network: Network
) -> None:
    me = getpass.getuser()
    listed: list[Any] = []
    results: dict[str, Any] = {}

    async def body(client: Client) -> None:
        listed.extend((await client.list_tools()).tools)
        explain = await client.call_tool(
            "fs_explain_intervention", {"area_id": "PA-0004", "day": "yesterday", "kind": "surge"}
        )
        results["explain"] = explain
        results["approvals"] = await client.call_tool("fs_approvals", {})
        results["decide"] = await client.call_tool(
            "fs_decide_approval", {"gate_id": network.waiting_gate_id, "decision": "reject"}
        )
        results["bad"] = await client.call_tool("fs_pulse", {"area_id": "not an area"})

    left = _run(tmp_path, body, "--db", db_url, "--pulse", pulse_url, "--approver", me)
    assert left == []  # nothing written to the working directory

    names = [t.name for t in listed]
    assert names == [t["name"] for t in tool_listing(domain="operations")]
    by_name = {t.name: t for t in listed}
    assert by_name["fs_explain_intervention"].annotations.read_only_hint is True
    assert by_name["fs_decide_approval"].annotations.read_only_hint is False
    policy = (by_name["fs_decide_approval"].meta or {})[POLICY_META_KEY]
    assert policy["risk_level"] == "execute_low"
    assert set(policy["roles"]) == {"ops_manager", "mcp"}

    explain = results["explain"]
    assert explain.is_error is False
    report = explain.structured_content
    assert report["status"] == "executed"
    text = report["result"]["summary"]
    for part in (SURGE_TOOL, "demand_surge", f"by {LEAD}", "it worked"):
        assert part in text, (part, text)
    waiting = results["approvals"].structured_content["result"]["approvals"]
    assert [w["gate_id"] for w in waiting] == [network.waiting_gate_id]
    decided = results["decide"].structured_content
    assert decided["status"] == "executed", decided
    assert decided["result"]["decided_by"] == me
    assert results["bad"].is_error is True

    with Ledger.open(db_url, create=False) as ledger:
        gates = [
            r.fields for r in ledger.records(kind="gate") if r.record_id == network.waiting_gate_id
        ]
        assert gates[-1]["decision"] == "rejected"
        assert gates[-1]["decided_by"] == me
        runs = [r.fields for r in ledger.records(kind="run") if r.fields.get("role") == "mcp"]
        assert {r["initiator_id"] for r in runs} == {me}


def test_the_analyst_server_offers_no_decide_tool(
    tmp_path: Path, db_url: str, pulse_url: str, network: Network
) -> None:
    listed: list[str] = []
    refused: list[Any] = []

    async def body(client: Client) -> None:
        listed.extend(t.name for t in (await client.list_tools()).tools)
        refused.append(
            await client.call_tool(
                "fs_decide_approval", {"gate_id": network.waiting_gate_id, "decision": "approve"}
            )
        )

    _run(tmp_path, body, "--db", db_url, "--pulse", pulse_url, "--role", "ops_analyst")
    assert "fs_decide_approval" not in listed
    assert "fs_tails" in listed
    assert refused[0].is_error is True
    with Ledger.open(db_url, create=False) as ledger:
        decisions = [
            r.fields.get("decision")
            for r in ledger.records(kind="gate")
            if r.record_id == network.waiting_gate_id
        ]
        assert decisions[-1] == "pending"
