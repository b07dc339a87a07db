"""One call wires the field-service chat stack: ledger, self-learn store, pulse, control
plane with the field-service tools, conversations and the operations-manager agent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tailguard.clock import Clock, SystemClock
from tailguard.control import ApproverList, Approvers, ControlPlane
from tailguard.learning.store import SelfLearnStore
from tailguard.ledger import Ledger
from tailguard.pulse import PulseStore
from tailguard.roles.conversations import ConversationStore
from tailguard.roles.fieldservice.domain import OperationsDomain
from tailguard.roles.fieldservice.registry import build_ops_registry
from tailguard.roles.fieldservice.script import OPS_RULES
from tailguard.roles.fieldservice.sources import OpsSources
from tailguard.roles.loop import RoleAgent
from tailguard.roles.providers import ModelProvider, provider_from_env

DAILY_RUN_CAP = 200


@dataclass(frozen=True, kw_only=True, slots=True)
class OpsStack:
    """Everything the operations chat needs, opened on one database URL (and a pulse)."""

    ledger: Ledger
    sources: OpsSources
    control: ControlPlane
    conversations: ConversationStore
    agent: RoleAgent
    owns_ledger: bool = True

    def close(self) -> None:
        """Release the pulse store and the database connections (the ledger only when this
        stack opened it: a service's stack runs on the service's own ledger)."""
        if self.sources.pulse is not None:
            self.sources.pulse.close()
        if self.owns_ledger:
            self.ledger.close()


def open_sources(url: str, *, pulse_url: str | None, clock: Clock) -> OpsSources:
    """The ledger and self-learn store at ``url``, the pulse at ``pulse_url`` (optional)."""
    ledger = Ledger.open(url, clock=clock)
    try:
        learn = SelfLearnStore(ledger.engine)
        pulse = None if pulse_url is None else PulseStore.open(pulse_url)
    except BaseException:
        ledger.close()
        raise
    return OpsSources(ledger=ledger, learn=learn, clock=clock, pulse=pulse)


def open_ops_chat(
    url: str,
    *,
    pulse_url: str | None = None,
    provider: ModelProvider | None = None,
    clock: Clock | None = None,
    approvers: Sequence[str] | Approvers = (),
    daily_run_cap: int | None = DAILY_RUN_CAP,
    **control_options: Any,
) -> OpsStack:
    """Open the operations chat on ``url`` (SQLite path or URL, or PostgreSQL URL).

    Args:
        url: the deployment's ledger database (runs, gates, the self-learn store).
        pulse_url: the pulse store (``sqlite:///pulse.db`` or ``redis://``); None: no pulse.
        provider: the model (default: ``$TAILGUARD_MODEL``, else the scripted stand-in with
            the field-service rules).
        clock: time source (a FakeClock in tests).
        approvers: who may decide gates (ids, or an :class:`Approvers`).
        daily_run_cap: runs per user per UTC day.
        **control_options: passed on to :class:`ControlPlane`.
    """
    clock = clock or SystemClock()
    sources = open_sources(url, pulse_url=pulse_url, clock=clock)
    try:
        return assemble_ops_chat(
            sources,
            provider=provider,
            approvers=approvers,
            daily_run_cap=daily_run_cap,
            **control_options,
        )
    except BaseException:
        if sources.pulse is not None:
            sources.pulse.close()
        sources.ledger.close()
        raise


def assemble_ops_chat(
    sources: OpsSources,
    *,
    provider: ModelProvider | None = None,
    approvers: Sequence[str] | Approvers = (),
    daily_run_cap: int | None = DAILY_RUN_CAP,
    owns_ledger: bool = True,
    **control_options: Any,
) -> OpsStack:
    """The operations chat over ``sources`` (its ledger, self-learn store and pulse): the
    field-service tools on their own control plane, the conversations, the role agent."""
    clock = sources.clock
    gatekeepers = (
        approvers
        if not isinstance(approvers, Sequence)
        else ApproverList(approver_ids=frozenset(approvers))
    )
    control = ControlPlane(
        build_ops_registry(sources),
        sources.ledger,
        clock=clock,
        approvers=gatekeepers,
        daily_run_cap=daily_run_cap,
        **control_options,
    )
    sources.control = control
    conversations = ConversationStore(sources.ledger.engine, clock=clock)
    agent = RoleAgent(
        control=control,
        provider=provider or provider_from_env(scripted_rules=OPS_RULES),
        conversations=conversations,
        domain=OperationsDomain(),
        clock=clock,
    )
    return OpsStack(
        ledger=sources.ledger,
        sources=sources,
        control=control,
        conversations=conversations,
        agent=agent,
        owns_ledger=owns_ledger,
    )
