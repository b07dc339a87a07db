"""Policies from code and YAML, the registry's refusals, argument validation, the CLI table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.control import (
    Policy,
    RiskLevel,
    Tool,
    ToolRegistry,
    builtin_policies,
    parse_policies,
    policy_table,
)
from tailguard.errors import ConfigFileError, InvalidInputError, PolicyError

GOOD = """\
tools:
  find_matches:
    risk_level: read
    rate_limit: 30
    audit_fields: [zip]
  send_message:
    risk_level: execute_high
    requires_approval: true
    rate_limit: 10
    approval_timeout: 120
"""


def test_policy_file_loads_into_policies() -> None:
    """A valid file gives one Policy per tool with defaults filled in."""
    policies = parse_policies(GOOD, path="p.yaml")
    assert policies["find_matches"] == Policy(
        risk_level=RiskLevel.READ, rate_limit=30, audit_fields=("zip",)
    )
    assert policies["send_message"].approval_timeout == 120.0


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("tools:\n  a:\n    risk_level: dangerous\n", 3, "risk_level"),
        ("tools:\n  a:\n    risk_level: read\n    colour: red\n", 4, "colour"),
        ("tools:\n  a:\n    risk_level: read\n    rate_limit: 0\n", 4, "rate_limit"),
        ("tools:\n  a:\n    risk_level: execute_high\n", 3, "requires_approval"),
        ("tools:\n  a: [1, 2\n", 3, "YAML"),
        ("tool:\n  a:\n    risk_level: read\n", 1, "'tools'"),
        (
            "tools:\n  a:\n    risk_level: read\n    requires_approval: 'yes'\n",
            4,
            "requires_approval",
        ),
    ],
)
def test_bad_policy_file_names_file_line_and_reason(text: str, line: int, needle: str) -> None:
    """Every malformed file is refused with its path, the offending line and the reason."""
    with pytest.raises(ConfigFileError) as info:
        parse_policies(text, path="bad.yaml")
    assert info.value.path == "bad.yaml"
    assert info.value.line == line
    assert needle in info.value.reason


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_loader_never_fails_with_anything_but_config_file_error(text: str) -> None:
    """Arbitrary text either loads or raises ConfigFileError naming the file."""
    error: ConfigFileError | None = None
    policies: dict[str, Policy] = {}
    try:
        policies = parse_policies(text, path="fuzz.yaml")
    except ConfigFileError as exc:
        error = exc
    if error is not None:
        assert error.path == "fuzz.yaml"
    assert all(isinstance(p, Policy) for p in policies.values())


_policy_dicts = st.fixed_dictionaries(
    {
        "risk_level": st.sampled_from(["read", "suggest", "execute_low"]),
        "requires_approval": st.booleans(),
        "rate_limit": st.one_of(st.none(), st.integers(1, 10_000)),
        "rollback_strategy": st.one_of(st.none(), st.from_regex(r"[a-z_]{1,12}", fullmatch=True)),
        "audit_fields": st.lists(st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True), max_size=3),
        "idempotent": st.booleans(),
        "approval_timeout": st.one_of(st.none(), st.floats(1, 1e6)),
    }
)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z_]{0,15}", fullmatch=True), _policy_dicts, min_size=1, max_size=5
    )
)
def test_policies_round_trip_through_yaml(tools: dict[str, dict[str, Any]]) -> None:
    """Any valid policy table dumped to YAML loads back to the same policies."""
    loaded = parse_policies(yaml.safe_dump({"tools": tools}), path="rt.yaml")
    assert {name: p.to_dict() | {"roles": None} for name, p in loaded.items()} == {
        name: {**body, "success_metric": None, "roles": None} for name, body in tools.items()
    }


def test_registry_refuses_tool_without_policy_or_with_bad_schema() -> None:
    """No policy, a broken schema or a duplicate name: registration is refused."""
    registry = ToolRegistry()
    tool = Tool(name="x", description="", parameters={"type": "object"}, handler=lambda a, c: None)
    with pytest.raises(PolicyError, match="no policy"):
        registry.register(tool)
    registry = ToolRegistry({"x": Policy(risk_level=RiskLevel.READ)})
    registry.register(tool)
    with pytest.raises(Exception, match="already registered"):
        registry.register(tool)
    bad = Tool(
        name="y",
        description="",
        parameters={"type": 12},
        handler=lambda a, c: None,
        policy=Policy(risk_level="read"),
    )  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="schema"):
        registry.register(bad)


def test_execute_high_without_approval_is_refused() -> None:
    """Zero bypasses by construction: an execute_high policy must require approval."""
    with pytest.raises(PolicyError):
        Policy(risk_level=RiskLevel.EXECUTE_HIGH)


SCHEMA = {
    "type": "object",
    "properties": {
        "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
        "radius": {"type": "number", "minimum": 0, "maximum": 500},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["zip"],
    "additionalProperties": False,
}

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)
_near_valid = st.fixed_dictionaries(
    {"zip": st.one_of(st.from_regex(r"[0-9]{5}", fullmatch=True), st.text(max_size=6))},
    optional={
        "radius": st.one_of(st.floats(-10, 600, allow_nan=False), st.text(max_size=3)),
        "tags": st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=5),
        "extra": _json,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_near_valid, _json))
def test_argument_validation_agrees_with_json_schema(args: Any) -> None:
    """The registry accepts exactly what JSON Schema accepts and refuses the rest cleanly."""
    registry = ToolRegistry()
    registry.register(
        Tool(
            name="t",
            description="",
            parameters=SCHEMA,
            handler=lambda a, c: None,
            policy=Policy(risk_level=RiskLevel.READ),
        )
    )
    expected = isinstance(args, dict) and jsonschema.Draft202012Validator(SCHEMA).is_valid(args)
    try:
        validated = registry.validate("t", args)
    except InvalidInputError:
        assert not expected
    else:
        assert expected
        assert validated == json.loads(json.dumps(args))


def test_builtin_policy_table_matches_product_risk_table() -> None:
    """The reference table: 13 reads, 1 suggest, execute_high tools all approval-gated."""
    rows = policy_table(builtin_policies())
    by_risk: dict[str, list[str]] = {}
    for row in rows:
        by_risk.setdefault(row["risk_level"], []).append(row["tool"])
    assert len(by_risk["read"]) == 13
    assert by_risk["suggest"] == ["explain_match"]
    assert sorted(by_risk["execute_high"]) == [
        "manage_prompts",
        "schedule_interview",
        "send_message",
        "submit_application",
    ]
    assert all(r["requires_approval"] for r in rows if r["risk_level"] == "execute_high")
    assert [r["risk_level"] for r in rows] == sorted(
        (r["risk_level"] for r in rows), key=lambda v: RiskLevel(v).rank
    )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tailguard", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.slow
def test_tools_list_prints_policy_table_as_json_and_text(tmp_path: Path) -> None:
    """`tailguard tools list` prints the table; --policies FILE reads a file; JSON is clean."""
    path = tmp_path / "p.yaml"
    path.write_text(GOOD, encoding="utf-8")
    proc = _cli("tools", "list", "--policies", str(path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert [t["tool"] for t in payload["tools"]] == ["find_matches", "send_message"]
    text = _cli("tools", "list")
    assert text.returncode == 0
    assert "send_message" in text.stdout
    assert "required" in text.stdout


def test_tools_list_with_bad_file_exits_2_with_one_line(tmp_path: Path) -> None:
    """A malformed policy file exits 2 with one line naming file and line."""
    path = tmp_path / "bad.yaml"
    path.write_text("tools:\n  a:\n    risk_level: nope\n", encoding="utf-8")
    proc = _cli("tools", "list", "--policies", str(path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert f"{path}:3" in proc.stderr
