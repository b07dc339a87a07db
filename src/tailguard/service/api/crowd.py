"""The crowd exchange over HTTP: a cluster's top tactics by causal lift."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tailguard.crowd.exchange import run_exchange
from tailguard.crowd.reputation import coaches_view, innovation_delta
from tailguard.crowd.store import CrowdStore
from tailguard.service.api.deps import State, Viewer
from tailguard.service.errors import ERROR_RESPONSES, responses

router = APIRouter(prefix="/v1/crowd", responses=ERROR_RESPONSES, tags=["crowd"])


@router.get("/top", summary="Top 3 tactics of an area's cluster", responses=responses(404))
def top(
    state: State,
    _: Viewer,
    area: Annotated[str, Query(min_length=1, max_length=64, description="Planning area id.")],
) -> dict[str, Any]:
    """``{"area_id", "cluster", "top": [{"tactic", "kpi", "lift", "ci95", "adopters",
    "replications"}]}``: the area cluster's discoveries (FDR-controlled) with the largest lift."""
    return run_exchange(CrowdStore(state.ledger.engine)).top(area)


@router.get("/coaches", summary="Exporters, importers and laggards of wisdom")
def coaches(state: State, _: Viewer) -> dict[str, Any]:
    """``{"exporters": [{"area_id", "innovation_delta", ...}], "importers": [...],
    "laggards": [{"area_id", "cluster", "ignored"}]}``: who exports, who imports, who ignores."""
    store = CrowdStore(state.ledger.engine)
    adoptions = store.tactics_frame()
    return coaches_view(run_exchange(store), adoptions, store.local_tests())


@router.get("/reputation", summary="Innovation Delta of every area that earned points")
def reputation(state: State, _: Viewer) -> list[dict[str, Any]]:
    """Areas by Innovation Delta, highest first (points only for replicated tactics)."""
    store = CrowdStore(state.ledger.engine)
    return [
        {
            "area_id": r.area_id,
            "innovation_delta": r.points,
            "replicated_tactics": r.replicated_tactics,
            "replications": r.replications,
        }
        for r in innovation_delta(store.tactics_frame(), store.local_tests())
    ]
