"""Recorded Anthropic and OpenAI responses drive the real SDK clients through the whole loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tailguard.clock import FakeClock
from tailguard.roles.providers import ModelProvider, ProviderRateLimitedError, load_prices
from tailguard.roles.providers.anthropic_sdk import AnthropicProvider
from tailguard.roles.providers.openai_sdk import OpenAIProvider
from tailguard.roles.recruiting import schema as t
from tailguard.roles.session import ChatStack, open_chat

from .recorded import Replay


def _provider(vendor: str, replay: Replay) -> ModelProvider:
    if vendor == "anthropic":
        return AnthropicProvider(
            "claude-haiku-4-5", api_key="sk-ant-test", http_client=replay.client(), max_retries=0
        )
    return OpenAIProvider(
        "gpt-4.1-mini", api_key="sk-test", http_client=replay.client(), max_retries=0
    )


@pytest.fixture
def stack_for(tmp_path: Path, clock: FakeClock) -> Iterator[Any]:
    """Open a chat stack on a provider fed by recorded responses."""
    opened: list[ChatStack] = []

    def make(provider: ModelProvider) -> ChatStack:
        stack = open_chat(f"sqlite:///{tmp_path / 'sdk.db'}", clock=clock, provider=provider)
        opened.append(stack)
        return stack

    yield make
    for stack in opened:
        stack.close()


def _tool_result_sent(vendor: str, request: dict[str, Any]) -> str:
    if vendor == "anthropic":
        blocks = [
            b
            for m in request["messages"]
            if m["role"] == "user"
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]
        return str(blocks[-1]["content"])
    return str([m for m in request["messages"] if m["role"] == "tool"][-1]["content"])


@pytest.mark.parametrize("vendor", ["anthropic", "openai"])
def test_driver_scenario_runs_on_recorded_sdk_responses(vendor: str, stack_for: Any) -> None:
    """The SDK's tool call executes against the dataset and its real result goes back."""
    replay = Replay(f"{vendor}_tool_use.json", f"{vendor}_final_after_tool.json")
    stack = stack_for(_provider(vendor, replay))
    reply = stack.agent.send(
        role="driver", user_id="drv-0001", message="Find carriers near 75001 paying over $0.55 CPM"
    )
    assert reply.status == "completed"
    assert reply.answer is not None
    assert reply.answer.startswith("I found carriers hiring near 75001")
    assert [(a.tool_name, a.outcome) for a in reply.tool_calls] == [("find_matches", "executed")]
    result = json.loads(_tool_result_sent(vendor, replay.requests[1]))
    assert result["carriers"]
    assert all(m["cpm_loaded"] >= 0.55 for m in result["matches"])
    tools_sent = replay.requests[0]["tools"]
    names = {(t.get("name") or t["function"]["name"]) for t in tools_sent}
    assert "find_matches" in names
    assert "send_message" not in names
    price = load_prices().require(stack.agent.provider.name)
    expected_in = {"anthropic": 1205 + 2210, "openai": 1187 + 2150}[vendor]
    assert reply.input_tokens == expected_in
    assert reply.cost_usd == pytest.approx(
        (expected_in * price.input_per_mtok + reply.output_tokens * price.output_per_mtok) / 1e6,
        abs=1e-6,
    )
    [run] = [r.fields for r in stack.ledger.records(kind="run", run_id=reply.run_id)][-1:]
    assert run["total_cost_usd"] == pytest.approx(reply.cost_usd, abs=1e-6)
    assert replay.remaining == 0


@pytest.mark.parametrize("vendor", ["anthropic", "openai"])
def test_recruiter_multi_tool_turn_runs_both_tools(vendor: str, stack_for: Any) -> None:
    """A recorded two-tool turn executes both tools before the final answer."""
    replay = Replay(f"{vendor}_multi_tool.json", f"{vendor}_final_after_tool.json")
    stack = stack_for(_provider(vendor, replay))
    reply = stack.agent.send(role="recruiter", user_id="rec-001", message="Show my pipeline")
    assert [(a.tool_name, a.outcome) for a in reply.tool_calls] == [
        ("get_pipeline", "executed"),
        ("get_market_intel", "executed"),
    ]
    system = replay.requests[0].get("system") or replay.requests[0]["messages"][0]["content"]
    assert "Current market shows" in system


@pytest.mark.parametrize("vendor", ["anthropic", "openai"])
def test_recorded_send_message_waits_for_approval_then_sends(vendor: str, stack_for: Any) -> None:
    """The SDK's send_message call pauses at its gate and runs once after approval."""
    replay = Replay(f"{vendor}_send_message.json", f"{vendor}_final_after_tool.json")
    stack = stack_for(_provider(vendor, replay))
    reply = stack.agent.send(role="recruiter", user_id="rec-001", message="Reach out to John")
    assert reply.status == "waiting_approval"
    assert len(replay.requests) == 1
    done = stack.agent.decide(reply.gates[0].gate_id, "approve", "admin")
    assert done.status == "completed"
    sent = json.loads(_tool_result_sent(vendor, replay.requests[1]))
    assert sent["summary"].startswith("message sent to John")
    rows = stack.store.rows(
        sa.select(t.messages).where(t.messages.c.message_id == sent["messageId"])
    )
    assert len(rows) == 1


@pytest.mark.parametrize("vendor", ["anthropic", "openai"])
def test_provider_rate_limit_fails_the_run_and_raises(vendor: str, stack_for: Any) -> None:
    """A 429 from the vendor is a typed error, and the run is recorded as failed."""
    replay = Replay(f"{vendor}_429.json")
    stack = stack_for(_provider(vendor, replay))
    with pytest.raises(ProviderRateLimitedError):
        stack.agent.send(role="admin", user_id="admin", message="Check system health")
    runs = [r.fields for r in stack.ledger.records(kind="run")]
    assert runs[-1]["status"] == "failed"
