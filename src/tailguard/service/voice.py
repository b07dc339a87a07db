"""``POST /v1/voice/tool-calls``: the tool webhook of a hosted voice platform (Vapi's format).

Vapi sends a server message ``{"message": {"type": "tool-calls", "toolCallList": [...],
"call": {...}, "assistant": {...}, "artifact": {"messages": [...]}}}`` and expects
``{"results": [{"toolCallId", "result"}]}``. Here:

* the shared secret (``X-Vapi-Secret``, or ``Authorization: Bearer``) is checked in constant
  time before the body is even parsed; a missing configuration refuses every delivery;
* the assistant (by id, then name) maps to a recruiting role and the dataset user its calls act
  for (:class:`VoiceConfig`); an unmapped assistant is refused;
* each call is claimed in the durable table ``voice_tool_calls`` keyed by (call id, tool call
  id): a retried delivery gets the stored answer and runs nothing again;
* each call is one governed run of the mapped role (:class:`tailguard.mcp.Gateway`); a call that
  needs approval answers with a short sentence to be spoken, and ``check_approval`` with the
  gate id follows it up, as over MCP;
* the voice call is a conversation of the role agents' store (``voice_calls`` links call id,
  assistant and conversation): new transcript fragments of each delivery and every tool call
  and result are appended, linked to their runs.
"""

from __future__ import annotations

import hmac
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tailguard.clock import Clock, format_ts
from tailguard.errors import (
    BackendUnavailableError,
    InvalidInputError,
    LedgerError,
    PermissionDeniedError,
    TailguardError,
)
from tailguard.mcp.gateway import CallReport, Gateway
from tailguard.mcp.server import CHECK_APPROVAL
from tailguard.roles.conversations import ConversationStore
from tailguard.roles.providers import ChatMessage, ToolCall
from tailguard.roles.recruiting.roles import role_spec
from tailguard.roles.session import ChatStack
from tailguard.service.auth import AuthenticationError
from tailguard.service.chat import chat_stack_of
from tailguard.service.errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1/voice", tags=["voice"], responses=ERROR_RESPONSES)

SECRET_ENV = "TAILGUARD_VOICE_SECRET"
ASSISTANTS_ENV = "TAILGUARD_VOICE_ASSISTANTS"
_SERVICE_KEY = "voice_service"
_LOCK = threading.Lock()
_TRANSCRIPT_ROLES: dict[str, Literal["user", "assistant"]] = {
    "user": "user",
    "bot": "assistant",
    "assistant": "assistant",
}
_CONFIG_KEY = "voice_config"

metadata = sa.MetaData()

voice_calls = sa.Table(
    "voice_calls",
    metadata,
    sa.Column("call_id", sa.String(128), primary_key=True),
    sa.Column("conversation_id", sa.String(64), nullable=False),
    sa.Column("assistant", sa.String(255), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    # How many artifact messages (transcript fragments) were already stored.
    sa.Column("fragments", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)

voice_tool_calls = sa.Table(
    "voice_tool_calls",
    metadata,
    sa.Column("call_id", sa.String(128), primary_key=True),
    sa.Column("tool_call_id", sa.String(128), primary_key=True),
    sa.Column("tool_name", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # running | done
    sa.Column("status", sa.String(32)),
    sa.Column("result", sa.Text),
    sa.Column("run_id", sa.String(64)),
    sa.Column("gate_id", sa.String(64)),
    sa.Column("deliveries", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)


# ---------------------------------------------------------------------- configuration


@dataclass(frozen=True, kw_only=True, slots=True)
class VoiceAssistant:
    """What a voice assistant's calls run as.

    Attributes:
        role: the recruiting role (driver, recruiter, carrier, admin).
        user_id: the dataset user the calls act for (default: the role's demo user).
    """

    role: str
    user_id: str | None = None

    @property
    def acting_user(self) -> str:
        """The user recorded as initiator of the assistant's runs."""
        return self.user_id or role_spec(self.role).default_user


@dataclass(frozen=True, kw_only=True)
class VoiceConfig:
    """The webhook's shared secret and its assistants (by Vapi assistant id or name).

    Attributes:
        secret: the value Vapi sends in ``X-Vapi-Secret``; empty refuses every delivery.
        assistants: assistant id or name -> what its calls run as.
        default: used for an assistant not listed; None refuses it.
    """

    secret: str
    assistants: Mapping[str, VoiceAssistant] = field(default_factory=dict)
    default: VoiceAssistant | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VoiceConfig:
        """``$TAILGUARD_VOICE_SECRET`` and ``$TAILGUARD_VOICE_ASSISTANTS``.

        The assistants variable is JSON (or the path of a JSON file):
        ``{"<assistant id or name>": {"role": "driver", "user_id": "drv-0001"}, "*": {...}}``,
        where ``*`` is the default.

        Raises:
            InvalidInputError: the assistants JSON is malformed.
        """
        source = os.environ if env is None else env
        raw = source.get(ASSISTANTS_ENV, "").strip()
        if raw and not raw.startswith("{"):
            try:
                with open(raw, encoding="utf-8") as fh:
                    raw = fh.read()
            except OSError as exc:
                raise InvalidInputError(f"{ASSISTANTS_ENV}: cannot read {raw}: {exc}") from None
        assistants: dict[str, VoiceAssistant] = {}
        if raw:
            try:
                data = json.loads(raw)
                for name, spec in dict(data).items():
                    assistants[str(name)] = VoiceAssistant(
                        role=role_spec(str(spec["role"])).name, user_id=spec.get("user_id")
                    )
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise InvalidInputError(f"{ASSISTANTS_ENV} is not valid: {exc}") from None
        default = assistants.pop("*", None)
        return cls(secret=source.get(SECRET_ENV, ""), assistants=assistants, default=default)

    def assistant(self, assistant_id: str | None, name: str | None) -> VoiceAssistant:
        """What ``assistant_id`` (or, failing that, ``name``) runs as.

        Raises:
            PermissionDeniedError: the assistant is not configured and there is no default.
        """
        for key in (assistant_id, name):
            if key and key in self.assistants:
                return self.assistants[key]
        if self.default is not None:
            return self.default
        raise PermissionDeniedError(
            f"voice assistant {assistant_id or name or '(unnamed)'} is not configured"
        )


# ---------------------------------------------------------------------- the envelope


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


# ---------------------------------------------------------------------- the service


def spoken(report: CallReport) -> str:
    """The result handed back to the voice assistant (read out or used by its model)."""
    tool = report.tool_name.replace("_", " ")
    if report.ok:
        return json.dumps(report.value, default=str)
    if report.waiting:
        return (
            f"I've asked a supervisor to approve the {tool}. It is pending approval and has "
            f"not happened yet; I'll be able to confirm once it is approved. "
            f"Reference {report.gate_id}."
        )
    if report.status == "running":
        return f"The {tool} was approved and is going through now."
    if report.status in ("rejected", "timeout"):
        return f"The {tool} was not approved, so I did not do it."
    if report.status == "rate_limited":
        return f"I've done the {tool} too many times just now; please try again in a minute."
    return f"Sorry, I couldn't do the {tool} right now."


class VoiceService:
    """Runs webhook deliveries through the control plane and logs the calls.

    Args:
        stack: the chat stack (control plane with the recruiting tools, conversations).
        clock: time source for the stored stamps.
    """

    def __init__(self, stack: ChatStack, *, clock: Clock) -> None:
        self.stack = stack
        self.gateway = Gateway(stack.control)
        self.conversations: ConversationStore = stack.conversations
        self.engine: sa.Engine = stack.ledger.engine
        self.clock = clock
        metadata.create_all(self.engine)

    def handle(self, envelope: VapiEnvelope, config: VoiceConfig) -> ToolCallsResponse:
        """Answer one delivery (a retry answers from the stored results)."""
        message = envelope.message
        who = config.assistant(
            message.assistant.id if message.assistant else None,
            message.assistant.name if message.assistant else None,
        )
        assistant = (message.assistant.id or message.assistant.name) if message.assistant else None
        conversation_id = self._conversation(message.call.id, assistant or "(unnamed)", who)
        self._transcript(message, conversation_id)
        results = []
        for call in message.calls():
            name, args = call.resolved()
            text = self._one(message.call.id, call.id, name, args, who, conversation_id)
            results.append(ToolCallResult(toolCallId=call.id, result=text))
        return ToolCallsResponse(results=results)

    # ---------------------------------------------------------------- one tool call

    def _one(
        self,
        call_id: str,
        tool_call_id: str,
        name: str,
        args: dict[str, Any],
        who: VoiceAssistant,
        conversation_id: str,
    ) -> str:
        key = (voice_tool_calls.c.call_id == call_id) & (
            voice_tool_calls.c.tool_call_id == tool_call_id
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    voice_tool_calls.insert().values(
                        call_id=call_id,
                        tool_call_id=tool_call_id,
                        tool_name=name,
                        state="running",
                        deliveries=1,
                        created_at=format_ts(self.clock.now()),
                    )
                )
        except sa.exc.IntegrityError:
            with self.engine.begin() as conn:
                conn.execute(
                    voice_tool_calls.update()
                    .where(key)
                    .values(deliveries=voice_tool_calls.c.deliveries + 1)
                )
                row = conn.execute(sa.select(voice_tool_calls).where(key)).one()
            if row.state == "done" and row.result is not None:
                return str(row.result)
            return "I'm still working on that; one moment."
        try:
            report = self._run(name, args, who, conversation_id, call_id)
        except (LedgerError, BackendUnavailableError):
            # Nothing usable was recorded: let the platform's retry try again.
            with self.engine.begin() as conn:
                conn.execute(voice_tool_calls.delete().where(key))
            raise
        except TailguardError as exc:
            text, status, run_id, gate_id = (
                f"Sorry, I can't do that: {exc.message}",
                exc.code,
                None,
                None,
            )
        else:
            text, status, run_id, gate_id = (
                spoken(report),
                report.status,
                report.run_id,
                report.gate_id,
            )
            self._log_call(conversation_id, tool_call_id, name, args, report, text)
        with self.engine.begin() as conn:
            conn.execute(
                voice_tool_calls.update()
                .where(key)
                .values(state="done", status=status, result=text, run_id=run_id, gate_id=gate_id)
            )
        return text

    def _run(
        self,
        name: str,
        args: dict[str, Any],
        who: VoiceAssistant,
        conversation_id: str,
        call_id: str,
    ) -> CallReport:
        if name == CHECK_APPROVAL:
            gate_id = args.get("gate_id")
            if not isinstance(gate_id, str) or not gate_id:
                raise InvalidInputError("check_approval needs a gate_id")
            return self.gateway.check(principal=who.acting_user, gate_id=gate_id)
        return self.gateway.call(
            role=who.role,
            principal=who.acting_user,
            tool_name=name,
            args=args,
            conversation_id=conversation_id,
            goal_text=f"voice call {call_id}: {name}",
        )

    # ---------------------------------------------------------------- the call's log

    def _conversation(self, call_id: str, assistant: str, who: VoiceAssistant) -> str:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(voice_calls).where(voice_calls.c.call_id == call_id)
            ).one_or_none()
        if row is not None:
            if row.role != who.role or row.user_id != who.acting_user:
                raise PermissionDeniedError(f"voice call {call_id} belongs to another assistant")
            return str(row.conversation_id)
        conversation_id = self.conversations.open_conversation(
            role=who.role, user_id=who.acting_user
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    voice_calls.insert().values(
                        call_id=call_id,
                        conversation_id=conversation_id,
                        assistant=assistant,
                        role=who.role,
                        user_id=who.acting_user,
                        fragments=0,
                        created_at=format_ts(self.clock.now()),
                    )
                )
        except sa.exc.IntegrityError:  # a concurrent delivery of the same call won
            return self._conversation(call_id, assistant, who)
        return conversation_id

    def _transcript(self, message: VapiToolCallsMessage, conversation_id: str) -> None:
        """Append the transcript lines this delivery adds (the artifact is cumulative)."""
        lines = message.artifact.messages if message.artifact else []
        with self.engine.connect() as conn:
            seen = conn.execute(
                sa.select(voice_calls.c.fragments).where(voice_calls.c.call_id == message.call.id)
            ).scalar_one()
        if len(lines) <= seen:
            return
        with self.engine.begin() as conn:
            won = conn.execute(
                voice_calls.update()
                .where(voice_calls.c.call_id == message.call.id, voice_calls.c.fragments == seen)
                .values(fragments=len(lines))
            ).rowcount
        if not won:
            return  # a concurrent delivery is storing the same lines
        for line in lines[seen:]:
            role = _TRANSCRIPT_ROLES.get(line.role)
            if role is None or not line.message:
                continue  # system prompts and tool bookkeeping are not transcript
            self.conversations.append(
                conversation_id, ChatMessage(role=role, text=line.message), run_id=None
            )

    def _log_call(
        self,
        conversation_id: str,
        tool_call_id: str,
        name: str,
        args: dict[str, Any],
        report: CallReport,
        text: str,
    ) -> None:
        self.conversations.append(
            conversation_id,
            ChatMessage(
                role="assistant", tool_calls=(ToolCall(id=tool_call_id, name=name, arguments=args),)
            ),
            run_id=report.run_id,
        )
        self.conversations.append(
            conversation_id,
            ChatMessage(
                role="tool",
                text=text,
                tool_call_id=tool_call_id,
                tool_name=name,
                is_error=not (report.ok or report.waiting),
            ),
            run_id=report.run_id,
        )


# ---------------------------------------------------------------------- the route


def voice_config(request: Request) -> VoiceConfig:
    """The app's voice configuration (``extras['voice_config']``, else the environment)."""
    extras = request.app.state.tailguard.extras
    config = extras.get(_CONFIG_KEY)
    if config is None:
        config = extras[_CONFIG_KEY] = VoiceConfig.from_env()
    assert isinstance(config, VoiceConfig)
    return config


def voice_service(request: Request) -> VoiceService:
    """The request's app's :class:`VoiceService` (a FastAPI dependency)."""
    return voice_service_of(request.app)


def voice_service_of(app: Any) -> VoiceService:
    """The app's :class:`VoiceService`, on the shared chat stack (created on first use)."""
    extras = app.state.tailguard.extras
    service = extras.get(_SERVICE_KEY)
    if service is None:
        stack = chat_stack_of(app)
        with _LOCK:
            service = extras.get(_SERVICE_KEY)
            if service is None:
                service = extras[_SERVICE_KEY] = VoiceService(
                    stack, clock=app.state.tailguard.settings.clock
                )
    assert isinstance(service, VoiceService)
    return service


def check_secret(request: Request, config: VoiceConfig) -> None:
    """Refuse a delivery whose shared secret is missing or wrong (constant-time compare).

    Raises:
        AuthenticationError: no secret configured, none sent, or a wrong one.
    """
    sent = request.headers.get("x-vapi-secret") or ""
    auth = request.headers.get("authorization") or ""
    if not sent and auth.lower().startswith("bearer "):
        sent = auth[7:].strip()
    if not config.secret:
        raise AuthenticationError("the voice webhook has no shared secret configured")
    if not hmac.compare_digest(sent.encode(), config.secret.encode()):
        raise AuthenticationError("wrong or missing X-Vapi-Secret")


def verified_config(
    request: Request, config: Annotated[VoiceConfig, Depends(voice_config)]
) -> VoiceConfig:
    """The voice configuration, once the delivery's shared secret checks (a dependency).

    FastAPI solves it before it validates the body, so a caller without the secret learns
    nothing about the body's shape.
    """
    check_secret(request, config)
    return config


@router.post(
    "/tool-calls",
    summary="Vapi tool-calls webhook: run each call through the control plane",
)
async def tool_calls(
    request: Request,
    config: Annotated[VoiceConfig, Depends(verified_config)],
    envelope: VapiEnvelope,
) -> ToolCallsResponse:
    """Answer a ``tool-calls`` delivery with one result per call (retries answer the same)."""
    check_calls(envelope)
    service = await run_in_threadpool(voice_service, request)
    return await run_in_threadpool(service.handle, envelope, config)
