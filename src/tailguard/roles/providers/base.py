"""The one model-provider interface and the records that cross it.

A provider turns (system prompt, conversation, tool specs) into one :class:`ModelTurn`: the
model's text, the tool calls it asks for, why it stopped, the tokens it used and what they
cost. The conversation is held in provider-neutral :class:`ChatMessage` records; each
provider translates them into its own wire format (Anthropic ``tool_use`` / ``tool_result``
blocks, OpenAI ``tool_calls`` / ``tool`` messages).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from tailguard.errors import BackendUnavailableError, InvalidInputError

StopReason = Literal["end_turn", "tool_use", "max_tokens", "refusal", "other"]
MessageRole = Literal["user", "assistant", "tool"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolSpec:
    """A tool as the model sees it: name, description and a JSON Schema for its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCall:
    """One tool call the model asked for; ``id`` links it to its result."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    """Tokens one model call consumed."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelTurn:
    """What one provider call returned."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    stop_reason: StopReason = "end_turn"
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    model: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ChatMessage:
    """One entry of a provider-neutral conversation.

    ``user``: ``text`` from the person. ``assistant``: the model's ``text`` and
    ``tool_calls``. ``tool``: the result of the call ``tool_call_id`` as JSON text in
    ``text``, with ``is_error`` when the tool failed or was refused.
    """

    role: MessageRole
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None
    is_error: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The message as plain JSON-ready data (for durable storage)."""
        return {
            "role": self.role,
            "text": self.text,
            "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": dict(c.arguments)}
                for c in self.tool_calls
            ],
            "tool_call_id": self.tool_call_id,
            "tool_name": self.tool_name,
            "is_error": self.is_error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChatMessage:
        """Rebuild a message stored with :meth:`to_dict`."""
        role = data.get("role")
        if role not in ("user", "assistant", "tool"):
            raise InvalidInputError(f"stored message has an unknown role {role!r}")
        calls = tuple(
            ToolCall(id=str(c["id"]), name=str(c["name"]), arguments=dict(c["arguments"]))
            for c in data.get("tool_calls") or ()
        )
        return cls(
            role=role,
            text=str(data.get("text") or ""),
            tool_calls=calls,
            tool_call_id=data.get("tool_call_id"),
            tool_name=data.get("tool_name"),
            is_error=bool(data.get("is_error", False)),
        )


@runtime_checkable
class ModelProvider(Protocol):
    """Anything that can answer one model turn."""

    @property
    def name(self) -> str:
        """``<provider>:<model>``, e.g. ``anthropic:claude-haiku-4-5``."""
        ...

    def complete(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelTurn:
        """Ask the model for its next turn."""
        ...


class ProviderError(BackendUnavailableError):
    """A model provider call failed (after the SDK's own retries, if any)."""

    code = "provider_error"

    def __init__(
        self, message: str, *, provider: str, status: int | None = None, retryable: bool = False
    ) -> None:
        super().__init__(
            message, details={"provider": provider, "status": status, "retryable": retryable}
        )
        self.provider = provider
        self.status = status
        self.retryable = retryable


class ProviderRateLimitedError(ProviderError):
    """The provider answered 429: too many requests or tokens for the account."""

    code = "provider_rate_limited"
    http_status = 429


class ProviderServerError(ProviderError):
    """The provider failed on its side (5xx, overloaded) or could not be reached."""

    code = "provider_server_error"


class ProviderAuthError(ProviderError):
    """The API key is missing, wrong, or lacks permission."""

    code = "provider_auth_error"
    http_status = 401


class ProviderRequestError(ProviderError):
    """The provider refused the request as malformed (4xx other than 401/403/429)."""

    code = "provider_request_error"
    http_status = 400


def error_for_status(status: int | None, message: str, *, provider: str) -> ProviderError:
    """The typed error for an HTTP status from a provider (``None``: no response at all)."""
    if status == 429:
        return ProviderRateLimitedError(message, provider=provider, status=status, retryable=True)
    if status is None or status >= 500:
        return ProviderServerError(message, provider=provider, status=status, retryable=True)
    if status in (401, 403):
        return ProviderAuthError(message, provider=provider, status=status)
    return ProviderRequestError(message, provider=provider, status=status)
