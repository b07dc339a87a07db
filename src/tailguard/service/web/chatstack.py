"""The role agents behind the chat pages, opened once per service on the service's database.

The chat stack shares the service's ledger (so chat runs, steps and gates show in the run
monitor and the approvals inbox) and its API keys (so whoever may approve in the inbox may
approve in a chat). Its control plane carries the recruiting tools, which is why a gate of a
chat run is decided and resumed through it: the role agent then continues the conversation.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from tailguard.control import ControlPlane
from tailguard.ledger.kpis import control_plane_kpis
from tailguard.roles.conversations import ConversationStore, run_states
from tailguard.roles.loop import RoleAgent
from tailguard.roles.providers import ModelProvider, provider_from_env
from tailguard.roles.recruiting.domain import RecruitingDomain
from tailguard.roles.recruiting.registry import build_registry
from tailguard.roles.recruiting.script import RECRUITING_RULES
from tailguard.roles.recruiting.store import RecruitingStore
from tailguard.roles.session import DAILY_RUN_CAP
from tailguard.service.settings import ServiceState

_KEY = "web.chat"
_LOCK = threading.Lock()

#: ``ServiceState.extras`` key under which a test or deployment may put the chat model.
PROVIDER_KEY = "chat_provider"


class WebChat:
    """The recruiting store, a control plane with its tools, conversations and the agent."""

    def __init__(self, state: ServiceState) -> None:
        clock = state.settings.clock
        self.store = RecruitingStore.open(state.settings.ledger_url, clock=clock)
        ledger = state.ledger
        registry = build_registry(
            self.store,
            health={"ledger": lambda: {"records": ledger.count()}},
            kpis=lambda: control_plane_kpis(ledger)["overall"],
        )
        self.control = ControlPlane(
            registry, ledger, clock=clock, approvers=state.keys, daily_run_cap=DAILY_RUN_CAP
        )
        self.conversations = ConversationStore(ledger.engine, clock=clock)
        provider: ModelProvider | None = state.extras.get(PROVIDER_KEY)
        self.agent = RoleAgent(
            control=self.control,
            provider=provider or provider_from_env(scripted_rules=RECRUITING_RULES),
            conversations=self.conversations,
            domain=RecruitingDomain(store=self.store),
            clock=clock,
        )

    def close(self) -> None:
        """Release the recruiting store's connections."""
        self.store.close()


def web_chat(state: ServiceState) -> WebChat:
    """The service's chat stack, opened (and the dataset seeded) on first use."""
    with _LOCK:
        chat = state.extras.get(_KEY)
        if not isinstance(chat, WebChat):
            chat = WebChat(state)
            state.extras[_KEY] = chat
        return chat


def is_chat_run(state: ServiceState, run_id: str) -> bool:
    """True when a role agent started ``run_id`` (its gates resume through the agent)."""
    engine = state.ledger.engine
    if not sa.inspect(engine).has_table(run_states.name):
        return False
    with engine.connect() as conn:
        hit: Any = conn.execute(
            sa.select(run_states.c.run_id).where(run_states.c.run_id == run_id)
        ).first()
    return hit is not None
