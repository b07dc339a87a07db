"""A :class:`ModelProvider` on the official ``anthropic`` SDK (Messages API with tools)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import anthropic
import httpx2

from tailguard.roles.providers._sdk_common import SdkProvider, sdk_errors
from tailguard.roles.providers.base import (
    ChatMessage,
    ModelTurn,
    StopReason,
    ToolCall,
    ToolSpec,
    Usage,
)
from tailguard.roles.providers.prices import PriceTable

_STOP: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "refusal": "refusal",
}


def to_anthropic_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Translate a neutral conversation into Messages API turns.

    Tool results become ``tool_result`` blocks in a user turn; consecutive user-side entries
    are merged because the API wants user and assistant turns to alternate.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant":
            blocks: list[dict[str, Any]] = []
            if message.text:
                blocks.append({"type": "text", "text": message.text})
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.arguments)}
                for c in message.tool_calls
            )
            out.append({"role": "assistant", "content": blocks or [{"type": "text", "text": ""}]})
            continue
        if message.role == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.text,
            }
            if message.is_error:
                block["is_error"] = True
        else:
            block = {"type": "text", "text": message.text}
        if out and out[-1]["role"] == "user":
            out[-1]["content"].append(block)
        else:
            out.append({"role": "user", "content": [block]})
    return out


def parse_anthropic_message(message: Any, *, prices: PriceTable, name: str) -> ModelTurn:
    """Read text, tool calls, stop reason and usage from an SDK ``Message``."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            arguments = block.input if isinstance(block.input, dict) else {}
            calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments))
    raw_usage = message.usage
    cached = (raw_usage.cache_creation_input_tokens or 0) + (raw_usage.cache_read_input_tokens or 0)
    usage = Usage(
        input_tokens=int(raw_usage.input_tokens) + int(cached),
        output_tokens=int(raw_usage.output_tokens),
    )
    return ModelTurn(
        text="".join(texts),
        tool_calls=tuple(calls),
        stop_reason=_STOP.get(str(message.stop_reason), "other"),
        usage=usage,
        cost_usd=prices.require(name).cost(usage),
        model=str(message.model),
    )


class AnthropicProvider(SdkProvider):
    """Claude through the Messages API.

    Takes the constructor arguments of :class:`SdkProvider`: ``model`` is a model id
    such as ``claude-haiku-4-5``, and ``api_key`` defaults to ``$ANTHROPIC_API_KEY``.
    """

    vendor = "anthropic"
    key_env = "ANTHROPIC_API_KEY"

    _client: anthropic.Anthropic

    def _connect(
        self, *, api_key: str, http_client: httpx2.Client | None, max_retries: int, timeout: float
    ) -> anthropic.Anthropic:
        """The SDK client (its own retries and timeout)."""
        return anthropic.Anthropic(
            api_key=api_key, http_client=http_client, max_retries=max_retries, timeout=timeout
        )

    def complete(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelTurn:
        """One Messages API call; SDK errors become typed :class:`ProviderError` s."""
        tool_params = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
            for t in tools
        ]
        kwargs: dict[str, Any] = {
            "model": self._model,
            "max_tokens": self._max_tokens,
            "system": system,
            "messages": to_anthropic_messages(messages),
        }
        if tool_params:
            kwargs["tools"] = tool_params
        with sdk_errors(anthropic, self.vendor, _error_text):
            message = cast(Any, self._client.messages).create(**kwargs)
        return parse_anthropic_message(message, prices=self._prices, name=self.name)


def _error_text(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and "message" in inner:
            return f"{exc.status_code} {inner.get('type', 'error')}: {inner['message']}"
    return f"{exc.status_code}: {json.dumps(body) if body is not None else exc.message}"
