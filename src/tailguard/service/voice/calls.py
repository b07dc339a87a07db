"""The webhook's work: configuration, the durable dedup and call tables, one call at a time."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from tailguard.clock import Clock, format_ts
from tailguard.control.gateway import CallReport, Gateway
from tailguard.errors import (
    BackendUnavailableError,
    InvalidInputError,
    LedgerError,
    PermissionDeniedError,
    TailguardError,
)
from tailguard.mcp.listing import CHECK_APPROVAL
from tailguard.migrations import ensure_schema
from tailguard.roles.conversations import ConversationStore
from tailguard.roles.providers import ChatMessage, ToolCall
from tailguard.roles.recruiting.roles import role_spec
from tailguard.roles.session import ChatStack
from tailguard.service.voice.envelope import (
    ToolCallResult,
    ToolCallsResponse,
    VapiEnvelope,
    VapiToolCallsMessage,
)

SECRET_ENV = "TAILGUARD_VOICE_SECRET"
ASSISTANTS_ENV = "TAILGUARD_VOICE_ASSISTANTS"
_TRANSCRIPT_ROLES: dict[str, Literal["user", "assistant"]] = {
    "user": "user",
    "bot": "assistant",
    "assistant": "assistant",
}

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
        ensure_schema(self.engine)  # tables come from the migrations

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
