"""``POST /v1/agents/{role}/messages``: one turn of a role agent, for programs.

The same code path as ``tailguard chat``: the service's chat stack
(:func:`tailguard.service.chatstack.chat_stack`, on the service's ledger database, seeded with
the reference dataset on first use) and :meth:`RoleAgent.send`, which runs the turn through the
control plane. The answer is the turn's reply, its tool activity, and the approval gates it
paused at (decided in the approvals inbox; the run resumes with
``POST /v1/agents/runs/{run_id}/resume``).

The stack is opened once per app and kept in ``ServiceState.extras`` (the chat pages and the
voice webhook share it). Dependencies are plain functions, so tests and other apps can swap
them with ``app.dependency_overrides``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from tailguard.errors import NotFoundError
from tailguard.roles.fieldservice.domain import ROLE_SPECS as OPS_ROLE_SPECS
from tailguard.roles.loop import RoleAgent
from tailguard.roles.recruiting.roles import ROLE_SPECS
from tailguard.roles.recruiting.store import RecruitingStore
from tailguard.roles.session import ChatStack, recruiting_registry
from tailguard.service.auth import Principal, Role, require_role
from tailguard.service.chatstack import chat_stack, close_chat_stack, share_tools

router = APIRouter(prefix="/v1/agents", tags=["agents"])

_STORE_KEY = "recruiting_store"


def shared_chat_stack(request: Request) -> ChatStack:
    """The request's app's chat stack (a FastAPI dependency)."""
    return chat_stack_of(request.app)


def chat_stack_of(app: Any) -> ChatStack:
    """The app's chat stack, opened on the service's ledger database on first use."""
    return chat_stack(app.state.tailguard)


def include(app: FastAPI) -> None:
    """Mount the router and give the service's control plane the role agents' tools.

    Called by :func:`tailguard.service.app.create_app`. Gates opened by chat, voice or MCP
    runs on this database can then be approved *and run* from the approvals inbox. The
    recruiting store is opened without seeding (whoever first runs an agent seeds it).
    """
    app.include_router(router)
    state = app.state.tailguard
    settings = state.settings
    store = RecruitingStore.open(settings.ledger_url, clock=settings.clock, seed=None)
    state.extras[_STORE_KEY] = store
    state.closers.append(lambda: close(app))
    share_tools(state, recruiting_registry(store, state.ledger))


def close(app: FastAPI) -> None:
    """Release what this module opened for ``app`` (the chat stack, the store)."""
    state = app.state.tailguard
    close_chat_stack(state)
    store = state.extras.pop(_STORE_KEY, None)
    if store is not None:
        store.close()


StackDep = Annotated[ChatStack, Depends(shared_chat_stack)]
OperatorDep = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
RolePath = Annotated[
    str,
    Path(
        min_length=1, max_length=32, description="ops_manager, ops_analyst, driver, recruiter, ..."
    ),
]


class MessageIn(BaseModel):
    """A user's message to a role agent."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=8000, description="What the user says.")
    conversation_id: str | None = Field(
        default=None, max_length=64, description="Continue this conversation (default: new)."
    )
    provider: str | None = Field(
        default=None,
        max_length=120,
        description="anthropic:<model>, openai:<model> or scripted (default: $TAILGUARD_MODEL, "
        "else scripted).",
    )
    user_id: str | None = Field(
        default=None,
        max_length=64,
        description="The dataset user speaking (default: the API key's name).",
    )


class ToolActivityOut(BaseModel):
    """One tool call of the turn and what the control plane did with it."""

    call_id: str
    tool: str
    arguments: dict[str, Any]
    outcome: str = Field(description="executed, pending_approval, rejected, error, ...")
    step_id: str
    gate_id: str | None
    summary: str | None


class GateOut(BaseModel):
    """An approval card: a call waiting for a person's decision."""

    gate_id: str
    tool: str
    risk_level: str
    arguments: dict[str, Any]
    reason: str


class UsageOut(BaseModel):
    """Tokens and money the run spent so far."""

    input_tokens: int
    output_tokens: int
    cost_usd: float


class OutcomeOut(BaseModel):
    """The evaluator's verdict on a finished run."""

    quality_score: float
    objective_met: str


class ReplyOut(BaseModel):
    """What one message produced (the ``tailguard chat --format json`` payload)."""

    run_id: str
    conversation_id: str
    role: str
    status: str = Field(description="completed, waiting_approval, aborted or failed")
    stop_reason: str
    answer: str | None
    tool_calls: list[ToolActivityOut]
    gates: list[GateOut] = Field(description="Gates the run is paused at (status waiting).")
    gate_ids: list[str]
    model_turns: int
    usage: UsageOut
    outcome: OutcomeOut | None
    model: str = Field("", description="The model that answered (scripted:rules: the stand-in).")
    stand_in: bool = Field(
        False, description="True when the scripted rules answered, not a language model."
    )


def _agent(stack: ChatStack, provider: str | None) -> RoleAgent:
    if provider is None:
        return stack.agent
    from tailguard.roles.recruiting.script import RECRUITING_RULES

    return _with_provider(stack.agent, provider, RECRUITING_RULES)


def _with_provider(base: RoleAgent, provider: str, rules: Any = None) -> RoleAgent:
    """``base`` answering with the model ``provider`` names (the domain's scripted rules for
    ``scripted``)."""
    from tailguard.roles.providers import open_provider

    if rules is None:
        from tailguard.roles.fieldservice.script import OPS_RULES

        rules = OPS_RULES
    return RoleAgent(
        control=base.control,
        provider=open_provider(provider, scripted_rules=rules),
        conversations=base.conversations,
        domain=base.domain,
        clock=base.clock,
        output_estimate=base.output_estimate,
    )


def _known_role(role: str) -> str:
    if role not in ROLE_SPECS:
        known = ", ".join(sorted([*ROLE_SPECS, *OPS_ROLE_SPECS]))
        raise NotFoundError(f"unknown role {role!r}: one of {known}")
    return role


@router.post(
    "/{role}/messages",
    summary="Send a message to a role agent; the turn's reply, tool activity and open gates",
)
def send_message(role: RolePath, body: MessageIn, who: OperatorDep, request: Request) -> ReplyOut:
    """One turn through the control plane; a high-risk call pauses the run at its gate.

    The field-service operations roles (``ops_manager``, ``ops_analyst``) answer from the
    service's own ledger, pulse and self-learn store; the others are the recruiting reference
    domain's roles.
    """
    if role in OPS_ROLE_SPECS:
        from tailguard.service.chatstack import ops_stack

        ops = ops_stack(request.app.state.tailguard)
        agent = ops.agent if body.provider is None else _with_provider(ops.agent, body.provider)
        reply = agent.send(
            role=role,
            user_id=body.user_id or who.subject,
            message=body.message,
            conversation_id=body.conversation_id,
        )
        return ReplyOut.model_validate(reply.to_dict())
    stack = shared_chat_stack(request)
    reply = _agent(stack, body.provider).send(
        role=_known_role(role),
        user_id=body.user_id or who.subject,
        message=body.message,
        conversation_id=body.conversation_id,
    )
    return ReplyOut.model_validate(reply.to_dict())


@router.post(
    "/runs/{run_id}/resume",
    summary="Continue a paused run once its gates are decided",
)
def resume_run(
    run_id: Annotated[str, Path(min_length=1, max_length=64)], who: OperatorDep, stack: StackDep
) -> ReplyOut:
    """Run the approved calls (exactly once), report the rejected ones, finish the turn."""
    del who
    return ReplyOut.model_validate(stack.agent.resume(run_id).to_dict())
