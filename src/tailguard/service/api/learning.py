"""The learning loop over HTTP: policy versions, their off-policy value, rollbacks, switches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from tailguard.learning.versions import PolicyStore
from tailguard.service.api.deps import Admin, State, Viewer, record_dict
from tailguard.service.errors import ERROR_RESPONSES, responses

router = APIRouter(prefix="/v1/learning", responses=ERROR_RESPONSES, tags=["learning"])


class RollbackIn(BaseModel):
    """Roll the active policy version back."""

    model_config = ConfigDict(extra="forbid", strict=True)
    to: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


class SwitchIn(BaseModel):
    """Pin the active version (updates become candidates) or freeze learning (no updates)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    pinned: bool | None = None
    frozen: bool | None = None


@router.get("/policies", summary="Policy versions, the active one, switches and rollbacks")
def policies(
    state: State,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=500, description="Versions, newest first.")] = 50,
) -> dict[str, Any]:
    """``{"active", "pinned", "frozen", "versions": [...], "rollbacks": [...]}``."""
    store = PolicyStore(state.ledger)
    st = store.state()
    rollbacks = [
        record_dict(r)
        for r in state.ledger.records(kind="policy")
        if r.fields.get("action") == "rolled_back"
    ]
    return {
        "active": st.active,
        "pinned": st.pinned,
        "frozen": st.frozen,
        "versions": [v.to_json() for v in store.history(limit)],
        "rollbacks": rollbacks,
    }


@router.get(
    "/evaluate",
    summary="Off-policy estimates of a policy on the logged decisions",
    responses=responses(404, 422),
)
def evaluate(
    state: State,
    _: Viewer,
    policy: Annotated[
        str,
        Query(
            min_length=1,
            max_length=64,
            description="logged, fixed, uniform, learning or a policy version id.",
        ),
    ],
    bootstrap: Annotated[int, Query(ge=10, le=5000)] = 200,
) -> dict[str, Any]:
    """The ``tailguard learn evaluate`` answer: every estimator with its 95 % interval."""
    from tailguard.agents.catalogue import default_catalogue
    from tailguard.learning.evaluation import evaluate_policy

    cat = default_catalogue()
    return evaluate_policy(
        state.ledger,
        policy,
        bootstrap=bootstrap,
        groups=cat.groups(),
        weights={e.id: e.weight for e in cat.entries},
    ).to_json()


@router.post("/rollback", summary="Roll the active policy version back", responses=responses(409))
def rollback(state: State, who: Admin, body: RollbackIn) -> dict[str, Any]:
    """Restore the previous version (or ``to``); a ``policy`` ledger record names who did it."""
    store = PolicyStore(state.ledger)
    active = store.rollback(state.settings.clock.now(), by=who.name, reason=body.reason, to=body.to)
    return {"active": active}


@router.post("/switches", summary="Pin or unpin, freeze or unfreeze the learning policy")
def switches(state: State, who: Admin, body: SwitchIn) -> dict[str, Any]:
    """Set the operator's switches (each change a ``policy`` ledger record)."""
    st = PolicyStore(state.ledger).set_switch(
        state.settings.clock.now(), by=who.name, pinned=body.pinned, frozen=body.frozen
    )
    return {"active": st.active, "pinned": st.pinned, "frozen": st.frozen}
