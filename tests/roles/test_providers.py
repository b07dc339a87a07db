"""The SDK providers parse recorded API responses through the real SDK clients."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tailguard.errors import InvalidInputError
from tailguard.roles.providers import (
    ChatMessage,
    ModelProvider,
    ProviderAuthError,
    ProviderRateLimitedError,
    ProviderServerError,
    ToolCall,
    ToolSpec,
    load_prices,
    open_provider,
    provider_from_env,
)
from tailguard.roles.providers.anthropic_sdk import AnthropicProvider
from tailguard.roles.providers.openai_sdk import INVALID_ARGUMENTS_KEY, OpenAIProvider

from .recorded import Replay

TOOLS = [
    ToolSpec(
        name="find_matches",
        description="Find postings near a zip.",
        parameters={"type": "object", "properties": {"zip": {"type": "string"}}},
    )
]
GOAL = [ChatMessage(role="user", text="Find carriers near 75001 paying over $0.55 CPM")]


def _anthropic(replay: Replay, **kw: Any) -> AnthropicProvider:
    return AnthropicProvider(
        "claude-haiku-4-5", api_key="sk-ant-test", http_client=replay.client(), **kw
    )


def _openai(replay: Replay, **kw: Any) -> OpenAIProvider:
    return OpenAIProvider("gpt-4.1-mini", api_key="sk-test", http_client=replay.client(), **kw)


MAKERS = {"anthropic": _anthropic, "openai": _openai}


@pytest.mark.parametrize("vendor", ["anthropic", "openai"])
def test_text_answer_is_parsed_with_usage_and_cost(vendor: str) -> None:
    """A plain text answer yields its text, end_turn, token usage and the priced cost."""
    replay = Replay(f"{vendor}_text.json")
    provider = MAKERS[vendor](replay)
    turn = provider.complete("You are a recruiter assistant.", GOAL, TOOLS)
    assert turn.text.startswith("Your pipeline has 12 candidates")
    assert turn.tool_calls == ()
    assert turn.stop_reason == "end_turn"
    price = load_prices().require(provider.name)
    assert turn.cost_usd == pytest.approx(price.cost(turn.usage))
    assert turn.usage.input_tokens == (412 if vendor == "anthropic" else 398)
    assert turn.cost_usd > 0


@pytest.mark.parametrize("vendor", ["anthropic", "openai"])
def test_tool_call_is_parsed_with_id_name_and_arguments(vendor: str) -> None:
    """A tool-use answer yields the call's id, name and decoded arguments."""
    replay = Replay(f"{vendor}_tool_use.json")
    turn = MAKERS[vendor](replay).complete("sys", GOAL, TOOLS)
    assert turn.stop_reason == "tool_use"
    assert len(turn.tool_calls) == 1
    call = turn.tool_calls[0]
    assert call.name == "find_matches"
    assert dict(call.arguments) == {"zip": "75001", "minCpm": 0.55, "maxDistance": 100}
    assert call.id.startswith("toolu_" if vendor == "anthropic" else "call_")


@pytest.mark.parametrize("vendor", ["anthropic", "openai"])
def test_multi_tool_turn_keeps_every_call_in_order(vendor: str) -> None:
    """A turn asking for two tools yields both calls in the order the model gave them."""
    replay = Replay(f"{vendor}_multi_tool.json")
    turn = MAKERS[vendor](replay).complete("sys", GOAL, TOOLS)
    assert [c.name for c in turn.tool_calls] == ["get_pipeline", "get_market_intel"]
    assert dict(turn.tool_calls[1].arguments) == {"region": "South"}


def test_anthropic_request_carries_tools_and_tool_results_as_blocks() -> None:
    """The Messages API request has input_schema tools and tool_result blocks in a user turn."""
    replay = Replay("anthropic_final_after_tool.json")
    history = [
        *GOAL,
        ChatMessage(
            role="assistant",
            text="Looking.",
            tool_calls=(ToolCall(id="toolu_1", name="find_matches", arguments={"zip": "75001"}),),
        ),
        ChatMessage(
            role="tool", text='{"summary": "3 matches"}', tool_call_id="toolu_1", is_error=False
        ),
    ]
    _anthropic(replay).complete("the system prompt", history, TOOLS)
    sent = replay.requests[0]
    assert sent["system"] == "the system prompt"
    assert sent["tools"][0]["input_schema"] == dict(TOOLS[0].parameters)
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "find_matches",
        "input": {"zip": "75001"},
    }
    assert sent["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"summary": "3 matches"}'}
    ]
    assert replay.urls[0].endswith("/v1/messages")


def test_openai_request_carries_functions_and_tool_messages() -> None:
    """The chat-completions request has function tools, tool_calls and tool messages."""
    replay = Replay("openai_final_after_tool.json")
    history = [
        *GOAL,
        ChatMessage(
            role="assistant",
            tool_calls=(ToolCall(id="call_1", name="find_matches", arguments={"zip": "75001"}),),
        ),
        ChatMessage(role="tool", text='{"summary": "3 matches"}', tool_call_id="call_1"),
    ]
    _openai(replay).complete("the system prompt", history, TOOLS)
    sent = replay.requests[0]
    assert sent["messages"][0] == {"role": "system", "content": "the system prompt"}
    assert sent["tools"][0]["function"]["parameters"] == dict(TOOLS[0].parameters)
    call = sent["messages"][2]["tool_calls"][0]
    assert call["function"] == {"name": "find_matches", "arguments": '{"zip": "75001"}'}
    assert sent["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"summary": "3 matches"}',
    }


def test_openai_malformed_arguments_are_flagged_not_dropped() -> None:
    """Arguments that are not valid JSON reach the caller under a marker key."""
    replay = Replay("openai_bad_arguments.json")
    turn = _openai(replay).complete("sys", GOAL, TOOLS)
    assert INVALID_ARGUMENTS_KEY in turn.tool_calls[0].arguments


@pytest.mark.parametrize(
    ("fixture", "error", "status"),
    [
        ("anthropic_429.json", ProviderRateLimitedError, 429),
        ("anthropic_500.json", ProviderServerError, 500),
        ("anthropic_529.json", ProviderServerError, 529),
        ("anthropic_401.json", ProviderAuthError, 401),
        ("openai_429.json", ProviderRateLimitedError, 429),
        ("openai_500.json", ProviderServerError, 500),
        ("openai_401.json", ProviderAuthError, 401),
    ],
)
def test_http_errors_become_typed_errors_with_retries_off(
    fixture: str, error: type[Exception], status: int
) -> None:
    """With SDK retries disabled, one error response raises the matching typed error."""
    vendor = fixture.split("_")[0]
    replay = Replay(fixture)
    provider = MAKERS[vendor](replay, max_retries=0)
    with pytest.raises(error) as info:
        provider.complete("sys", GOAL, TOOLS)
    assert getattr(info.value, "status", None) == status
    assert len(replay.requests) == 1
    assert vendor in str(info.value)


def test_rate_limit_message_carries_the_vendor_reason() -> None:
    """The typed error's message quotes the vendor's own explanation."""
    replay = Replay("openai_429.json")
    with pytest.raises(ProviderRateLimitedError, match=r"Rate limit reached for gpt-4\.1-mini"):
        _openai(replay, max_retries=0).complete("sys", GOAL, TOOLS)


def test_sdk_retries_then_succeeds_after_a_server_error() -> None:
    """With retries on, the SDK retries a 500 and the provider returns the next answer."""
    replay = Replay("anthropic_500.json", "anthropic_text.json")
    turn = _anthropic(replay, max_retries=1, timeout=5.0).complete("sys", GOAL, TOOLS)
    assert turn.text.startswith("Your pipeline")
    assert replay.remaining == 0


@pytest.mark.parametrize("spec", ["anthropic:claude-haiku-4-5", "openai:gpt-4.1-mini"])
def test_missing_api_key_is_refused_up_front(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider without its key variable fails at construction with a clear error."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ProviderAuthError, match="API_KEY is not set"):
        open_provider(spec)


def test_model_without_a_price_is_refused() -> None:
    """A model the price table does not know is refused, since cost caps need a price."""
    with pytest.raises(InvalidInputError, match="no price for model"):
        open_provider("openai:gpt-unknown-9", api_key="sk-test")


@pytest.mark.parametrize("spec", ["bogus:x", "anthropic", "anthropic:"])
def test_bad_model_spec_is_refused(spec: str) -> None:
    """A model spec that names no known provider and model is an input error."""
    with pytest.raises(InvalidInputError):
        open_provider(spec)


def test_env_picks_the_provider_and_model() -> None:
    """TAILGUARD_MODEL and the key variable configure an SDK provider."""
    provider = provider_from_env({"TAILGUARD_MODEL": "openai:gpt-4.1-mini"}, api_key="sk-test")
    assert isinstance(provider, ModelProvider)
    assert provider.name == "openai:gpt-4.1-mini"
    assert provider_from_env({}).name == "scripted:rules"


def test_stored_messages_round_trip_through_json() -> None:
    """A message survives to_dict -> JSON -> from_dict unchanged."""
    message = ChatMessage(
        role="assistant",
        text="hi",
        tool_calls=(ToolCall(id="c1", name="get_pipeline", arguments={"stage": "lead"}),),
    )
    assert ChatMessage.from_dict(json.loads(json.dumps(message.to_dict()))) == message
