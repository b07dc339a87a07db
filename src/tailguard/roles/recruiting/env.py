"""What a recruiting tool handler is given, and the record that describes a tool."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tailguard.errors import InvalidInputError, PermissionDeniedError
from tailguard.roles.recruiting.store import RecruitingStore, User
from tailguard.roles.recruiting.world import (
    DatasetParking,
    DatasetRoadConditions,
    ParkingSource,
    RoadConditionsSource,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class CallEnv:
    """Everything one tool call may use.

    Attributes:
        store: the recruiting dataset.
        user: who the call is made for (their role scopes what they may see and change).
        roads: the road-conditions source (the dataset unless a live feed is plugged in).
        parking: the truck-parking source.
        idempotency_key: stable across retries and resumption; writes use it as their row id
            so a side effect happens at most once.
        compensating: the result of the step being rolled back, when this is a rollback.
        health: extra health probes for ``get_system_health`` (name -> probe).
        kpis: the control-plane KPI source for ``get_agent_kpis``.
    """

    store: RecruitingStore
    user: User
    roads: RoadConditionsSource
    parking: ParkingSource
    idempotency_key: str | None = None
    compensating: Mapping[str, Any] | None = None
    health: Mapping[str, Callable[[], Mapping[str, Any]]] = field(default_factory=dict)
    kpis: Callable[[], Mapping[str, Any]] | None = None

    @classmethod
    def for_user(cls, store: RecruitingStore, user_id: str, **kw: Any) -> CallEnv:
        """An environment on the dataset's own world sources for ``user_id``."""
        kw.setdefault("roads", DatasetRoadConditions(store=store))
        kw.setdefault("parking", DatasetParking(store=store))
        return cls(store=store, user=store.user(user_id), **kw)

    def subject(self, role: str) -> str:
        """The caller's own driver / recruiter / account id; refuses other roles."""
        if self.user.role != role or not self.user.subject_id:
            raise PermissionDeniedError(f"only a {role} can do this (caller is {self.user.role})")
        return self.user.subject_id

    def scoped(self, role: str, requested: str | None, what: str) -> str:
        """The id to act on: admins may name any; a ``role`` user only their own."""
        if self.user.role == "admin":
            if not requested:
                raise InvalidInputError(f"an admin must name the {what}")
            return requested
        own = self.subject(role)
        if requested and requested != own:
            raise PermissionDeniedError(f"a {role} may only see their own {what} ({own})")
        return own


Handler = Callable[[CallEnv, Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolDef:
    """A recruiting tool: what the model sees, who may call it, and what runs.

    Attributes:
        name: the tool name.
        description: shown to the model.
        parameters: JSON Schema of the arguments.
        handler: ``handler(env, args) -> dict``; the dict has a short ``summary``.
        roles: the roles whose agents are offered this tool.
        risk_level: the product document's risk class (the control plane's policy rules).
    """

    name: str
    description: str
    parameters: Mapping[str, Any]
    handler: Handler
    roles: frozenset[str]
    risk_level: str


def obj(properties: Mapping[str, Any], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A closed JSON Schema object (unknown arguments are refused)."""
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(required),
        "additionalProperties": False,
    }
