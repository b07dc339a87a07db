"""The role agents' chat stack of a service, opened once on the service's own database.

One stack serves every surface of the app: the chat pages (``service.web``), the chat endpoint
(``service.chat``) and the voice webhook (``service.voice``). It shares the service's ledger (so
chat runs, steps and gates show in the run monitor and the approvals inbox) and its API keys:
its control plane, which carries the recruiting tools, admits as approvers the holders of
approver or admin keys as well as the dataset's admin users (as the MCP server's does).
Decisions taken in the service go through the service's own control plane
(:mod:`tailguard.service.approvals`); the stack's agent then carries a chat run on.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from tailguard.control import ToolRegistry
from tailguard.errors import TailguardError
from tailguard.mcp.registry import ActingUsers, share_with_mcp
from tailguard.roles.conversations import run_states
from tailguard.roles.fieldservice.session import OpsStack
from tailguard.roles.recruiting.approvers import dataset_approvers
from tailguard.roles.recruiting.store import RecruitingStore
from tailguard.roles.session import ChatStack, assemble_chat
from tailguard.service.settings import ServiceState

#: ``ServiceState.extras`` key of the open stack.
STACK_KEY = "chat_stack"
#: ``ServiceState.extras`` key under which a test or deployment may put the chat model.
PROVIDER_KEY = "chat_provider"
#: ``ServiceState.extras`` key of the open operations (field-service) stack.
OPS_STACK_KEY = "ops_chat_stack"
#: ``ServiceState.extras`` key of the operations chat's model (default: ``$TAILGUARD_MODEL``,
#: else the scripted stand-in with the field-service rules).
OPS_PROVIDER_KEY = "ops_chat_provider"

_LOCK = threading.Lock()


def share_tools(state: ServiceState, tools: ToolRegistry) -> None:
    """Give the service's control plane the agents' tools it lacks.

    The approvals inbox resumes an approved call in the service's own control plane; without
    the tool's handler there the resumption would be spent on an error. The tools are shared
    as the MCP server registers them, so gates of ``mcp`` runs resume here as well.
    """
    acting = ActingUsers(state.ledger.engine)
    for tool in tools:
        if tool.name not in state.registry:
            state.registry.register(share_with_mcp(tool, tools.policy(tool.name), acting))


def _open(state: ServiceState) -> ChatStack:
    clock = state.settings.clock
    store = RecruitingStore.open(state.settings.ledger_url, clock=clock)
    try:
        stack = assemble_chat(
            ledger=state.ledger,
            store=store,
            approvers=dataset_approvers(store, state.keys),
            clock=clock,
            provider=state.extras.get(PROVIDER_KEY),
        )
        share_tools(state, stack.control.registry)
    except BaseException:
        store.close()
        raise
    return stack


def chat_stack(state: ServiceState) -> ChatStack:
    """The service's chat stack, opened (and the dataset seeded) on first use."""
    stack = state.extras.get(STACK_KEY)
    if stack is None:
        with _LOCK:
            stack = state.extras.get(STACK_KEY)
            if stack is None:
                stack = state.extras[STACK_KEY] = _open(state)
                state.closers.append(lambda: close_chat_stack(state))
    assert isinstance(stack, ChatStack)
    return stack


def close_chat_stack(state: ServiceState) -> None:
    """Release the stack's recruiting store (the ledger is the service's; it stays open)."""
    stack = state.extras.pop(STACK_KEY, None)
    if isinstance(stack, ChatStack):
        stack.store.close()


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


def ops_stack(state: ServiceState) -> OpsStack:
    """The service's operations chat (the field-service roles), on the service's own ledger,
    self-learn store and pulse; its gates are decided by approver and admin key holders."""
    from tailguard.learning import SelfLearnStore
    from tailguard.roles.fieldservice.session import assemble_ops_chat
    from tailguard.roles.fieldservice.sources import OpsSources

    stack = state.extras.get(OPS_STACK_KEY)
    if stack is None:
        with _LOCK:
            stack = state.extras.get(OPS_STACK_KEY)
            if stack is None:
                try:
                    pulse = state.pulse
                except TailguardError:
                    pulse = None  # the pulse tools then say that none is configured
                sources = OpsSources(
                    ledger=state.ledger,
                    learn=SelfLearnStore(state.ledger.engine),
                    clock=state.settings.clock,
                    pulse=pulse,
                )
                stack = assemble_ops_chat(
                    sources,
                    provider=state.extras.get(OPS_PROVIDER_KEY),
                    approvers=state.keys,
                    owns_ledger=False,  # the ledger and the pulse are the service's
                )
                share_tools(state, stack.control.registry)
                state.extras[OPS_STACK_KEY] = stack
    assert isinstance(stack, OpsStack)
    return stack
