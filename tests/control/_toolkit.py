"""Test tools with observable side effects, shared by the tests and the worker processes."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tailguard.clock import Clock
from tailguard.control import (
    Approvers,
    ControlPlane,
    Policy,
    RateLimiter,
    RiskLevel,
    Tool,
    ToolContext,
    ToolOutput,
    ToolRegistry,
    Usage,
)
from tailguard.ledger import Ledger

RATE_LIMIT = 7


class Effects:
    """An append-only file of side effects, safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, line: str) -> None:
        """Record one side effect."""
        with open(self.path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def lines(self) -> list[str]:
        """Every side effect so far."""
        if not self.path.exists():
            return []
        return self.path.read_text(encoding="utf-8").splitlines()

    def count(self, prefix: str) -> int:
        """How many side effects start with ``prefix``."""
        return sum(1 for line in self.lines() if line.startswith(prefix))


OBJ = {"type": "object", "additionalProperties": False}


def make_registry(effects: Effects) -> ToolRegistry:
    """The test tools: reads, a limited read, gated sends, a reversible update, failures."""

    def lookup(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        return {"zip": args["zip"], "matches": [1, 2, 3]}

    def limited(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        return {"ok": True}

    def send_message(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        effects.add(f"send:{ctx.idempotency_key}:{args['receiverId']}:{args['content']}")
        return {"delivered": True}

    def update_status(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        effects.add(f"update:{args['interest_id']}:{args['new_status']}")
        return {"previous_status": "applied"}

    def revert_status(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        assert ctx.compensates is not None
        effects.add(f"revert:{args['interest_id']}:{ctx.compensates.result['previous_status']}")
        return {"restored": ctx.compensates.result["previous_status"]}

    def flaky(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        effects.add(f"flaky:{ctx.step_id}")
        if effects.count(f"flaky:{ctx.step_id}") < 2:
            raise RuntimeError("transient failure")
        return {"ok": True}

    def broken(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        effects.add("broken")
        raise RuntimeError("downstream said no")

    def think(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        return ToolOutput(
            value="a suggestion",
            usage=Usage(input_tokens=args["tokens"], output_tokens=0, cost_usd=args["cost"]),
        )

    registry = ToolRegistry()
    zip_schema = {
        **OBJ,
        "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
        "required": ["zip"],
    }
    registry.register(
        Tool(
            name="lookup",
            description="Find matches near a zip.",
            parameters=zip_schema,
            handler=lookup,
            policy=Policy(risk_level=RiskLevel.READ, audit_fields=("zip",), idempotent=True),
        )
    )
    registry.register(
        Tool(
            name="limited",
            description="A rate-limited read.",
            parameters={**OBJ, "properties": {}},
            handler=limited,
            policy=Policy(risk_level=RiskLevel.READ, rate_limit=RATE_LIMIT),
        )
    )
    registry.register(
        Tool(
            name="send_message",
            description="Message a person.",
            parameters={
                **OBJ,
                "properties": {
                    "receiverId": {"type": "string"},
                    "content": {"type": "string", "minLength": 1},
                },
                "required": ["receiverId", "content"],
            },
            handler=send_message,
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_HIGH,
                requires_approval=True,
                rate_limit=10,
                audit_fields=("receiverId",),
                approval_timeout=600.0,
            ),
        )
    )
    status_schema = {
        **OBJ,
        "properties": {"interest_id": {"type": "string"}, "new_status": {"type": "string"}},
        "required": ["interest_id", "new_status"],
    }
    registry.register(
        Tool(
            name="update_status",
            description="Move a candidate.",
            parameters=status_schema,
            handler=update_status,
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_LOW,
                rollback_strategy="revert_status",
                audit_fields=("interest_id", "new_status"),
            ),
        )
    )
    registry.register(
        Tool(
            name="revert_status",
            description="Undo a status move.",
            parameters={
                **OBJ,
                "properties": {"interest_id": {"type": "string"}},
                "required": ["interest_id"],
            },
            handler=revert_status,
            policy=Policy(risk_level=RiskLevel.EXECUTE_LOW),
        )
    )
    registry.register(
        Tool(
            name="flaky",
            description="Fails once.",
            parameters={**OBJ, "properties": {}},
            handler=flaky,
            policy=Policy(risk_level=RiskLevel.READ, idempotent=True),
        )
    )
    registry.register(
        Tool(
            name="broken",
            description="Always fails.",
            parameters={**OBJ, "properties": {}},
            handler=broken,
            policy=Policy(risk_level=RiskLevel.EXECUTE_LOW),
        )
    )
    registry.register(
        Tool(
            name="think",
            description="Spends tokens.",
            parameters={
                **OBJ,
                "properties": {
                    "tokens": {"type": "integer", "minimum": 0},
                    "cost": {"type": "number", "minimum": 0},
                },
                "required": ["tokens", "cost"],
            },
            handler=think,
            policy=Policy(risk_level=RiskLevel.SUGGEST, roles=frozenset({"recruiter"})),
        )
    )
    return registry


def make_plane(
    ledger: Ledger,
    effects: Effects,
    *,
    clock: Clock,
    approvers: Approvers | None = None,
    rate_limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> ControlPlane:
    """A control plane over the test tools."""
    return ControlPlane(
        make_registry(effects),
        ledger,
        clock=clock,
        approvers=approvers,
        rate_limiter=rate_limiter,
        **kwargs,
    )


def spawn_worker(*args: str, env: dict[str, str] | None = None) -> Any:
    """Start ``python -m control._worker ARGS`` as a separate process (stdout piped)."""
    import subprocess
    import sys

    tests_dir = Path(__file__).resolve().parent.parent
    src_dir = tests_dir.parent / "src"
    # Keep what the session already put on PYTHONPATH (make test-future's sitecustomize).
    inherited = os.environ.get("PYTHONPATH")
    path = f"{tests_dir}{os.pathsep}{src_dir}" + (f"{os.pathsep}{inherited}" if inherited else "")
    full_env = {**os.environ, "PYTHONPATH": path, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "control._worker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=tests_dir,
    )
