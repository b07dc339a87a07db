"""One call wires a whole chat stack: ledger, recruiting store, control plane, loop.

The default is the embedded store: one SQLite file holding the ledger, the control plane's
tables, the conversations and the reference dataset (seeded on first use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tailguard.clock import Clock, SystemClock
from tailguard.compendium import Compendium, register_tools
from tailguard.control import ApproverList, Approvers, ControlPlane, ToolRegistry
from tailguard.ledger import Ledger
from tailguard.ledger.kpis import control_plane_kpis
from tailguard.roles.conversations import ConversationStore
from tailguard.roles.loop import RoleAgent
from tailguard.roles.paths import default_chat_db
from tailguard.roles.providers import ModelProvider, provider_from_env
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.domain import RecruitingDomain
from tailguard.roles.recruiting.registry import build_registry
from tailguard.roles.recruiting.script import RECRUITING_RULES
from tailguard.roles.recruiting.store import RecruitingStore

#: The product document's per-user cap on runs per day.
DAILY_RUN_CAP = 100


@dataclass(frozen=True, kw_only=True, slots=True)
class ChatStack:
    """Everything a chat surface needs, opened on one database URL."""

    ledger: Ledger
    store: RecruitingStore
    control: ControlPlane
    conversations: ConversationStore
    agent: RoleAgent

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()
        self.ledger.close()


def recruiting_registry(store: RecruitingStore, ledger: Ledger) -> ToolRegistry:
    """The recruiting tools on ``store``; the admin tools report on ``ledger``."""
    return build_registry(
        store,
        health={"ledger": lambda: {"records": ledger.count()}},
        kpis=lambda: control_plane_kpis(ledger)["overall"],
    )


def assemble_chat(
    *,
    ledger: Ledger,
    store: RecruitingStore,
    approvers: Approvers,
    clock: Clock,
    provider: ModelProvider | None = None,
    daily_run_cap: int | None = DAILY_RUN_CAP,
    compendium: Compendium | None = None,
    **control_options: Any,
) -> ChatStack:
    """A chat stack over an open ledger and store: the control plane, conversations, agent.

    Args are as :func:`open_chat`'s; ``approvers`` decide the stack's gates; with a
    ``compendium`` the role agents get their department's cards in the system prompt and the
    ``search_compendium`` read tool.
    """
    control = ControlPlane(
        recruiting_registry(store, ledger),
        ledger,
        clock=clock,
        approvers=approvers,
        daily_run_cap=daily_run_cap,
        **control_options,
    )
    if compendium is not None:
        register_tools(control, compendium, ledger)
    conversations = ConversationStore(ledger.engine, clock=clock)
    agent = RoleAgent(
        control=control,
        provider=provider or provider_from_env(scripted_rules=RECRUITING_RULES),
        conversations=conversations,
        domain=RecruitingDomain(store=store, compendium=compendium),
        clock=clock,
    )
    return ChatStack(
        ledger=ledger, store=store, control=control, conversations=conversations, agent=agent
    )


def open_chat(
    url: str | None = None,
    *,
    provider: ModelProvider | None = None,
    clock: Clock | None = None,
    approvers: Sequence[str] | None = None,
    daily_run_cap: int | None = DAILY_RUN_CAP,
    seed: int | None = 7,
    **control_options: Any,
) -> ChatStack:
    """Open the chat stack on ``url`` (SQLite path or URL, or PostgreSQL URL).

    Args:
        url: where the ledger, control tables, conversations and dataset live (default:
            :func:`default_chat_db`).
        provider: the model (default: ``$TAILGUARD_MODEL``, else the scripted provider with
            the recruiting rules).
        clock: time source (a FakeClock in tests).
        approvers: who may decide gates (default: the dataset's admin users).
        daily_run_cap: runs per user per UTC day.
        seed: the dataset seed used when the store is empty (None: do not seed).
        **control_options: passed on to :class:`ControlPlane`.
    """
    clock = clock or SystemClock()
    url = url or default_chat_db()
    ledger = Ledger.open(url, clock=clock)
    store = RecruitingStore.open(url, clock=clock, seed=seed)
    if approvers is None:
        approvers = [
            row["user_id"]
            for row in store.rows(sa.select(t.users).where(t.users.c.role == "admin"))
        ]
    return assemble_chat(
        ledger=ledger,
        store=store,
        approvers=ApproverList(approver_ids=frozenset(approvers)),
        clock=clock,
        provider=provider,
        daily_run_cap=daily_run_cap,
        **control_options,
    )
