"""The crowd exchange over HTTP: a cluster's top tactics by causal lift."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from tailguard.crowd.exchange import run_exchange
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
