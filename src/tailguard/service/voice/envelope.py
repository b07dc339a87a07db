"""The body of a Vapi ``tool-calls`` delivery, validated at the edge, and the answer to it."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tailguard.errors import InvalidInputError


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class VapiFunction(_Loose):
    """The function a tool call names, with its arguments (object or JSON text)."""

    name: str = Field(min_length=1, max_length=255)
    arguments: dict[str, Any] | str | None = None
    parameters: dict[str, Any] | None = None


class VapiToolCall(_Loose):
    """One tool call: an id and a function, in the nested or the flat shape."""

    id: str = Field(min_length=1, max_length=128)
    type: str | None = None
    function: VapiFunction | None = None
    name: str | None = Field(default=None, min_length=1, max_length=255)
    arguments: dict[str, Any] | str | None = None

    def resolved(self) -> tuple[str, dict[str, Any]]:
        """The tool name and its arguments as an object.

        Raises:
            InvalidInputError: no name, or arguments that are not a JSON object.
        """
        name = self.function.name if self.function else self.name
        if not name:
            raise InvalidInputError(f"tool call {self.id} names no function")
        raw: Any = self.arguments
        if self.function is not None:
            raw = (
                self.function.arguments
                if self.function.arguments is not None
                else self.function.parameters
            )
        if isinstance(raw, str):
            try:
                raw = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise InvalidInputError(f"tool call {self.id}: arguments are not JSON") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise InvalidInputError(f"tool call {self.id}: arguments must be an object")
        return name, raw


class VapiToolWithCall(_Loose):
    """A tool's configuration together with the call made of it."""

    tool_call: VapiToolCall | None = Field(default=None, alias="toolCall")


class VapiTranscriptLine(_Loose):
    """One line of the live transcript."""

    role: str
    message: str | None = None


class VapiArtifact(_Loose):
    """The live artifact of the call (its transcript so far)."""

    messages: list[VapiTranscriptLine] = Field(default_factory=list)


class VapiCall(_Loose):
    """The phone or web call."""

    id: str = Field(min_length=1, max_length=128)


class VapiAssistant(_Loose):
    """The assistant handling the call."""

    id: str | None = Field(default=None, max_length=255)
    name: str | None = Field(default=None, max_length=255)


class VapiToolCallsMessage(_Loose):
    """The ``tool-calls`` server message."""

    type: Literal["tool-calls"]
    tool_call_list: list[VapiToolCall] | None = Field(default=None, alias="toolCallList")
    tool_with_tool_call_list: list[VapiToolWithCall] | None = Field(
        default=None, alias="toolWithToolCallList"
    )
    call: VapiCall
    assistant: VapiAssistant | None = None
    artifact: VapiArtifact | None = None
    timestamp: float | str | None = None

    def calls(self) -> list[VapiToolCall]:
        """The tool calls, from ``toolCallList`` or else ``toolWithToolCallList``."""
        if self.tool_call_list:
            return list(self.tool_call_list)
        return [t.tool_call for t in self.tool_with_tool_call_list or () if t.tool_call]


class VapiEnvelope(BaseModel):
    """The body Vapi posts."""

    message: VapiToolCallsMessage


class ToolCallResult(BaseModel):
    """The answer to one tool call."""

    toolCallId: str
    result: str


class ToolCallsResponse(BaseModel):
    """The webhook's answer: one result per tool call, keyed by its id."""

    results: list[ToolCallResult]


def parse_envelope(body: bytes) -> VapiEnvelope:
    """Validate a delivery's body.

    Raises:
        InvalidInputError: not JSON, not a ``tool-calls`` message, or no tool calls.
    """
    try:
        envelope = VapiEnvelope.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "(body)"
        raise InvalidInputError(
            f"not a tool-calls message: {where}: {first['msg']}", details={"path": where}
        ) from None
    check_calls(envelope)
    return envelope


def check_calls(envelope: VapiEnvelope) -> None:
    """Refuse a message without tool calls, or with a call that names no function or has
    arguments that are not a JSON object.

    Raises:
        InvalidInputError: the first such problem.
    """
    calls = envelope.message.calls()
    if not calls:
        raise InvalidInputError("the tool-calls message lists no tool calls")
    for call in calls:
        call.resolved()
