"""`tailguard mcp`: the listing as JSON, and one-line refusals of bad usage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tailguard.cli import main
from tailguard.mcp import McpStack
from tailguard.mcp.registry import POLICY_META_KEY


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_list_prints_the_tools_as_json(
    stack: McpStack, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--list --format json prints only the listing: names, annotations and policies."""
    code, out, _ = _run(["mcp", "--db", db_url, "--list", "--format", "json"], capsys)
    assert code == 0
    tools: list[dict[str, Any]] = json.loads(out)["tools"]
    by_name = {t["name"]: t for t in tools}
    assert by_name["send_message"]["annotations"]["destructiveHint"] is True
    assert by_name["find_matches"]["annotations"]["readOnlyHint"] is True
    policy = stack.registry.policy("log_call")
    assert by_name["log_call"]["_meta"][POLICY_META_KEY] == {"tool": "log_call", **policy.to_dict()}


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--role", "pilot"], "unknown role"),
        (["--role", "driver", "--acting-user", "rec-001"], "not a driver"),
        (["--role", "driver", "--downstream", "http://127.0.0.1:9"], "--downstream"),
        (["--http", "70000"], "--http"),
    ],
)
def test_bad_usage_exits_2_with_one_line(
    stack: McpStack,
    db_url: str,
    extra: list[str],
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Unknown roles, users of another role and bad options exit 2 with a one-line reason."""
    code, _, err = _run(["mcp", "--db", db_url, "--list", *extra], capsys)
    assert code == 2
    assert reason in err
    assert err.count("\n") == 1
