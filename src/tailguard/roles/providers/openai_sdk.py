"""A :class:`ModelProvider` on the official ``openai`` SDK (chat completions, function calling)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import httpx2
import openai

from tailguard.roles.providers._sdk_common import SdkProvider, sdk_errors
from tailguard.roles.providers.base import (
    ChatMessage,
    ModelTurn,
    ProviderError,
    StopReason,
    ToolCall,
    ToolSpec,
    Usage,
)
from tailguard.roles.providers.prices import PriceTable

_STOP: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}

#: The argument key a tool call carries when the model's arguments were not valid JSON, so
#: the control plane's schema check refuses the call and the model sees why.
INVALID_ARGUMENTS_KEY = "__invalid_json_arguments__"


def to_openai_messages(system: str, messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Translate a neutral conversation into chat-completions messages."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for message in messages:
        if message.role == "user":
            out.append({"role": "user", "content": message.text})
        elif message.role == "tool":
            out.append(
                {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text}
            )
        else:
            entry: dict[str, Any] = {"role": "assistant", "content": message.text or None}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))},
                    }
                    for c in message.tool_calls
                ]
            out.append(entry)
    return out


def _arguments(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {INVALID_ARGUMENTS_KEY: raw}
    return value if isinstance(value, dict) else {INVALID_ARGUMENTS_KEY: raw}


def parse_openai_completion(completion: Any, *, prices: PriceTable, name: str) -> ModelTurn:
    """Read text, tool calls, stop reason and usage from an SDK ``ChatCompletion``."""
    if not completion.choices:
        raise ProviderError("openai: the completion has no choices", provider="openai")
    choice = completion.choices[0]
    message = choice.message
    calls = tuple(
        ToolCall(id=c.id, name=c.function.name, arguments=_arguments(c.function.arguments))
        for c in (message.tool_calls or ())
        if getattr(c, "type", "function") == "function"
    )
    raw_usage = completion.usage
    usage = Usage(
        input_tokens=int(raw_usage.prompt_tokens) if raw_usage else 0,
        output_tokens=int(raw_usage.completion_tokens) if raw_usage else 0,
    )
    return ModelTurn(
        text=message.content or "",
        tool_calls=calls,
        stop_reason=_STOP.get(str(choice.finish_reason), "other"),
        usage=usage,
        cost_usd=prices.require(name).cost(usage),
        model=str(completion.model),
    )


class OpenAIProvider(SdkProvider):
    """GPT models through chat completions with function calling.

    Takes the constructor arguments of :class:`SdkProvider`: ``model`` is a model id such as
    ``gpt-4.1-mini``, ``api_key`` defaults to ``$OPENAI_API_KEY``, and ``max_tokens`` caps
    the completion tokens.
    """

    vendor = "openai"
    key_env = "OPENAI_API_KEY"

    _client: openai.OpenAI

    def _connect(
        self, *, api_key: str, http_client: httpx2.Client | None, max_retries: int, timeout: float
    ) -> openai.OpenAI:
        """The SDK client (its own retries and timeout)."""
        return openai.OpenAI(
            api_key=api_key, http_client=http_client, max_retries=max_retries, timeout=timeout
        )

    def complete(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelTurn:
        """One chat-completions call; SDK errors become typed :class:`ProviderError` s."""
        kwargs: dict[str, Any] = {
            "model": self._model,
            "messages": to_openai_messages(system, messages),
            "max_completion_tokens": self._max_tokens,
        }
        if tools:
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": dict(t.parameters),
                    },
                }
                for t in tools
            ]
        with sdk_errors(openai, self.vendor, _error_text):
            completion = cast(Any, self._client.chat.completions).create(**kwargs)
        return parse_openai_completion(completion, prices=self._prices, name=self.name)


def _error_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and "message" in body:
        return f"{exc.status_code} {body.get('code') or body.get('type') or 'error'}: {body['message']}"
    return f"{exc.status_code}: {exc.message}"
