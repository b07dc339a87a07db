"""Assertions shared by the stdio and HTTP tests: listings and ledger evidence."""

from __future__ import annotations

from typing import Any

from tailguard.control import ToolContext
from tailguard.mcp import McpStack
from tailguard.mcp.registry import POLICY_META_KEY


def structured(result: Any) -> dict[str, Any]:
    """A ``tools/call`` result's structured content (the call's report)."""
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def check_listing(stack: McpStack, tools: list[Any]) -> None:
    """Every served tool is listed with the annotations and policy its policy implies."""
    by_name = {t.name: t for t in tools}
    assert "check_approval" in by_name
    assert "revert_to_previous_status" not in by_name
    offered = {t.name for t in stack.registry} - {"revert_to_previous_status"}
    assert set(by_name) - {"check_approval"} == offered
    for name in offered:
        tool = by_name[name]
        policy = stack.registry.policy(name)
        ann = tool.annotations
        assert tool.input_schema == dict(stack.registry.tool(name).parameters)
        assert tool.meta is not None
        assert tool.meta[POLICY_META_KEY] == {"tool": name, **policy.to_dict()}
        assert ann.idempotent_hint is policy.idempotent
        if policy.risk_level.value in ("read", "suggest"):
            assert ann.read_only_hint is True
        else:
            assert ann.read_only_hint is False
            assert ann.destructive_hint is (policy.risk_level.value == "execute_high")
    # The reference table has all four classes; spot-check one of each.
    assert by_name["find_matches"].annotations.read_only_hint is True
    assert by_name["explain_match"].annotations.read_only_hint is True
    assert by_name["update_candidate_status"].annotations.destructive_hint is False
    assert by_name["send_message"].annotations.destructive_hint is True
    assert by_name["send_message"].meta[POLICY_META_KEY]["requires_approval"] is True


def check_executed_run(stack: McpStack, report: dict[str, Any], initiator: str) -> None:
    """An executed call left a completed ``mcp`` run with an executed step and an outcome."""
    run = latest(stack, "run", report["run_id"])
    assert run["role"] == "mcp"
    assert run["initiator_id"] == initiator
    assert run["status"] == "completed"
    step = latest(stack, "step", report["step_id"])
    assert step["status"] == "executed"
    assert step["tool_name"] == report["tool"]
    outcomes = list(stack.ledger.records(kind="outcome", run_id=report["run_id"]))
    assert len(outcomes) == 1


def check_gated_run(stack: McpStack, report: dict[str, Any], initiator: str, decision: str) -> None:
    """A gated call's run, gate and step in the ledger after the gate was decided."""
    run = latest(stack, "run", report["run_id"])
    assert run["role"] == "mcp"
    assert run["initiator_id"] == initiator
    gate = latest(stack, "gate", report["gate_id"])
    assert gate["decision"] == decision
    assert gate["decided_by"] == "admin"
    step = latest(stack, "step", report["step_id"])
    if decision == "approved":
        assert run["status"] == "completed"
        assert step["status"] == "executed"
        assert step["approval_gate_id"] == report["gate_id"]
    else:
        assert run["status"] == "aborted"
        assert step["status"] == "rejected"
    assert stack.ledger.verify().ok


def direct_read(stack: McpStack, tool: str, args: dict[str, Any]) -> Any:
    """What a read tool's handler returns for ``args`` for the admin the server acts for."""
    handler = stack.registry.tool(tool).handler
    ctx = ToolContext(
        run_id="direct",
        step_id="direct",
        role="admin",
        initiator_id="admin",
        requester_id="admin",
        idempotency_key="direct",
    )
    return handler(stack.registry.validate(tool, args), ctx).value


def latest(stack: McpStack, kind: str, record_id: str) -> dict[str, Any]:
    """The newest fields of one ledger entity."""
    record = stack.ledger.latest(kind, record_id)
    assert record is not None, f"no {kind} {record_id} in the ledger"
    return dict(record.fields)
