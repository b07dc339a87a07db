"""A call stopped by a rate limit answers 429, as docs/service.md's error table says."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tailguard.clock import FakeClock
from tailguard.control import Policy, RiskLevel, Tool, ToolContext, ToolRegistry
from tailguard.service import ServiceSettings, create_app


def _registry() -> ToolRegistry:
    def ping(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        return {"pong": True}

    registry = ToolRegistry()
    registry.register(
        Tool(
            name="ping",
            description="Answers.",
            parameters={"type": "object", "properties": {}, "additionalProperties": False},
            handler=ping,
            policy=Policy(risk_level=RiskLevel.READ, rate_limit=1),
        )
    )
    return registry


def test_a_rate_limited_call_is_a_429_with_its_recorded_step(
    ledger_url: str, tmp_path: Path
) -> None:
    """429 rate_limited, Retry-After, and the skipped step in details.step."""
    settings = ServiceSettings(
        ledger_url=ledger_url,
        pulse_url=str(tmp_path / "pulse.db"),
        clock=FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),
        registry=_registry(),
    )
    app = create_app(settings, optional_routers=False)
    key = app.state.tailguard.keys.create("olga", "operator")[1]
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(app) as client:
        run = client.post("/v1/runs", json={"role": "ops"}, headers=headers).json()
        path = f"/v1/runs/{run['run_id']}/steps"
        first = client.post(path, json={"tool_name": "ping", "args": {}}, headers=headers)
        assert (first.status_code, first.json()["outcome"]) == (200, "executed")
        second = client.post(path, json={"tool_name": "ping", "args": {}}, headers=headers)
        assert second.status_code == 429, second.text
        error = second.json()["error"]
        assert error["code"] == "rate_limited"
        assert error["details"]["step"]["outcome"] == "rate_limited"
        assert int(second.headers["Retry-After"]) >= 1
        steps = client.get("/v1/steps", params={"run_id": run["run_id"]}, headers=headers)
        assert sorted(s["status"] for s in steps.json()["items"]) == ["executed", "skipped"]
