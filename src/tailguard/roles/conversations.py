"""Durable conversations and turns of the role agents, and the state of paused runs.

Turns are append-only rows ``(conversation_id, seq)``: the database refuses a second turn at
the same position, so two processes resuming one run cannot both write its history. The run
state row holds what a paused run needs to continue in another process: its model-turn count,
the agent time it has used, and the tool calls waiting at approval gates.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tailguard.clock import Clock, SystemClock, format_ts
from tailguard.errors import ConflictError, NotFoundError
from tailguard.migrations import ensure_schema
from tailguard.roles.providers import ChatMessage

metadata = sa.MetaData()

conversations = sa.Table(
    "agent_conversations",
    metadata,
    sa.Column("conversation_id", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)

turns = sa.Table(
    "agent_turns",
    metadata,
    sa.Column("conversation_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(64)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("model", sa.String(80)),
    sa.Column("input_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("output_tokens", sa.Integer, nullable=False, default=0),
    sa.Column("cost_usd", sa.Float, nullable=False, default=0.0),
    sa.Column("created_at", sa.String(32), nullable=False),
)

run_states = sa.Table(
    "agent_run_states",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("conversation_id", sa.String(64), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(80), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("model_turns", sa.Integer, nullable=False),
    sa.Column("active_seconds", sa.Float, nullable=False),
    sa.Column("pending", sa.Text, nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingToolCall:
    """A tool call of a paused run, waiting at approval gate ``gate_id``."""

    gate_id: str
    call_id: str
    tool_name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RunState:
    """What a run needs to continue in any process."""

    run_id: str
    conversation_id: str
    role: str
    user_id: str
    provider: str
    status: str
    model_turns: int
    active_seconds: float
    pending: tuple[PendingToolCall, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Turn:
    """One stored entry of a conversation."""

    seq: int
    run_id: str | None
    message: ChatMessage
    model: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float


class ConversationStore:
    """Conversations, turns and run states in SQLite or PostgreSQL.

    Args:
        engine: where the tables live (the CLI uses the ledger's database).
        clock: time source for the ``created_at`` stamps.
    """

    def __init__(self, engine: sa.Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()
        ensure_schema(engine)  # tables come from the migrations

    def _now(self) -> str:
        return format_ts(self.clock.now())

    def open_conversation(
        self, *, role: str, user_id: str, conversation_id: str | None = None
    ) -> str:
        """Start a conversation, or check that an existing one belongs to this user and role."""
        if conversation_id is not None:
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(conversations).where(
                        conversations.c.conversation_id == conversation_id
                    )
                ).one_or_none()
            if row is None:
                raise NotFoundError(f"conversation {conversation_id!r} not found")
            if row.role != role or row.user_id != user_id:
                raise ConflictError(
                    f"conversation {conversation_id} belongs to {row.user_id} ({row.role})"
                )
            return conversation_id
        new_id = f"conv_{uuid.uuid4().hex}"
        with self.engine.begin() as conn:
            conn.execute(
                conversations.insert().values(
                    conversation_id=new_id, role=role, user_id=user_id, created_at=self._now()
                )
            )
        return new_id

    def append(
        self,
        conversation_id: str,
        message: ChatMessage,
        *,
        run_id: str | None,
        model: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_usd: float = 0.0,
    ) -> int:
        """Append one turn; returns its position. A concurrent write to the same position fails."""
        try:
            with self.engine.begin() as conn:
                seq = conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(turns.c.seq), 0)).where(
                        turns.c.conversation_id == conversation_id
                    )
                ).scalar_one()
                conn.execute(
                    turns.insert().values(
                        conversation_id=conversation_id,
                        seq=seq + 1,
                        run_id=run_id,
                        message=json.dumps(message.to_dict()),
                        model=model,
                        input_tokens=input_tokens,
                        output_tokens=output_tokens,
                        cost_usd=cost_usd,
                        created_at=self._now(),
                    )
                )
        except sa.exc.IntegrityError:
            raise ConflictError(
                f"conversation {conversation_id} was written concurrently; try again"
            ) from None
        return int(seq) + 1

    def turns(self, conversation_id: str) -> list[Turn]:
        """All turns of a conversation, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(turns)
                .where(turns.c.conversation_id == conversation_id)
                .order_by(turns.c.seq)
            ).all()
        return [
            Turn(
                seq=r.seq,
                run_id=r.run_id,
                message=ChatMessage.from_dict(json.loads(r.message)),
                model=r.model,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                cost_usd=r.cost_usd,
            )
            for r in rows
        ]

    def messages(self, conversation_id: str) -> list[ChatMessage]:
        """The conversation as the model sees it."""
        return [turn.message for turn in self.turns(conversation_id)]

    def save_state(self, state: RunState) -> None:
        """Insert or replace the run's state."""
        values: dict[str, Any] = {
            "conversation_id": state.conversation_id,
            "role": state.role,
            "user_id": state.user_id,
            "provider": state.provider,
            "status": state.status,
            "model_turns": state.model_turns,
            "active_seconds": state.active_seconds,
            "pending": json.dumps(
                [
                    {"gate_id": p.gate_id, "call_id": p.call_id, "tool_name": p.tool_name}
                    for p in state.pending
                ]
            ),
            "updated_at": self._now(),
        }
        with self.engine.begin() as conn:
            updated = conn.execute(
                run_states.update().where(run_states.c.run_id == state.run_id).values(**values)
            ).rowcount
            if not updated:
                conn.execute(run_states.insert().values(run_id=state.run_id, **values))

    def state(self, run_id: str) -> RunState:
        """The stored state of a run started by a role agent."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(run_states).where(run_states.c.run_id == run_id)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"no role-agent run {run_id!r}")
        return RunState(
            run_id=row.run_id,
            conversation_id=row.conversation_id,
            role=row.role,
            user_id=row.user_id,
            provider=row.provider,
            status=row.status,
            model_turns=row.model_turns,
            active_seconds=row.active_seconds,
            pending=tuple(PendingToolCall(**p) for p in json.loads(row.pending)),
        )

    def claim_resume(self, run_id: str) -> bool:
        """Move a paused run to ``running``; False when another process got there first."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    run_states.update()
                    .where(run_states.c.run_id == run_id, run_states.c.status == "waiting_approval")
                    .values(status="running", updated_at=self._now())
                ).rowcount
            )

    def waiting_runs(self, conversation_id: str) -> Sequence[str]:
        """Runs of the conversation paused at an approval gate."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(run_states.c.run_id).where(
                        run_states.c.conversation_id == conversation_id,
                        run_states.c.status == "waiting_approval",
                    )
                ).scalars()
            )
