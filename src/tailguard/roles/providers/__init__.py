"""Model providers: one interface, the Anthropic and OpenAI SDKs, and a scripted fake.

``TAILGUARD_MODEL`` picks the provider: ``anthropic:<model>``, ``openai:<model>`` or
``scripted``; the SDKs read their usual key variables (``ANTHROPIC_API_KEY``,
``OPENAI_API_KEY``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from tailguard.errors import InvalidInputError
from tailguard.roles.providers.base import (
    ChatMessage,
    ModelProvider,
    ModelTurn,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderRequestError,
    ProviderServerError,
    StopReason,
    ToolCall,
    ToolSpec,
    Usage,
)
from tailguard.roles.providers.prices import ModelPrice, PriceTable, load_prices, parse_prices
from tailguard.roles.providers.scripted import ScriptedCall, ScriptedProvider, ScriptRule

MODEL_ENV = "TAILGUARD_MODEL"

__all__ = [
    "MODEL_ENV",
    "ChatMessage",
    "ModelPrice",
    "ModelProvider",
    "ModelTurn",
    "PriceTable",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRateLimitedError",
    "ProviderRequestError",
    "ProviderServerError",
    "ScriptRule",
    "ScriptedCall",
    "ScriptedProvider",
    "StopReason",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "load_prices",
    "open_provider",
    "parse_prices",
    "provider_from_env",
]


def open_provider(
    spec: str,
    *,
    scripted_rules: Sequence[ScriptRule] = (),
    prices: PriceTable | None = None,
    **sdk_options: Any,
) -> ModelProvider:
    """The provider named by ``spec``: ``anthropic:<model>``, ``openai:<model>``, ``scripted``.

    Args:
        spec: provider and model, as in ``TAILGUARD_MODEL``.
        scripted_rules: the rules of a ``scripted`` provider.
        prices: the price table (default: :func:`load_prices`).
        **sdk_options: passed to the SDK provider (``api_key``, ``http_client``,
            ``max_retries``, ``max_tokens``, ``timeout``).
    """
    kind, _, model = spec.strip().partition(":")
    if kind == "scripted":
        return ScriptedProvider(scripted_rules, prices=prices)
    if not model:
        raise InvalidInputError(
            f"bad model spec {spec!r}: expected anthropic:<model>, openai:<model> or scripted"
        )
    try:
        if kind == "anthropic":
            from tailguard.roles.providers.anthropic_sdk import AnthropicProvider

            return AnthropicProvider(model, prices=prices, **sdk_options)
        if kind == "openai":
            from tailguard.roles.providers.openai_sdk import OpenAIProvider

            return OpenAIProvider(model, prices=prices, **sdk_options)
    except ModuleNotFoundError as exc:
        if exc.name not in ("anthropic", "openai"):
            raise
        raise InvalidInputError(
            f"provider {kind!r} needs its SDK: pip install 'tailguard[llm]'"
        ) from None
    raise InvalidInputError(
        f"unknown provider {kind!r} in {spec!r}: expected anthropic, openai or scripted"
    )


def provider_from_env(
    env: Mapping[str, str] | None = None,
    *,
    default: str = "scripted",
    scripted_rules: Sequence[ScriptRule] = (),
    **sdk_options: Any,
) -> ModelProvider:
    """The provider named by ``$TAILGUARD_MODEL`` (``default`` when unset)."""
    source = os.environ if env is None else env
    return open_provider(
        source.get(MODEL_ENV) or default, scripted_rules=scripted_rules, **sdk_options
    )
