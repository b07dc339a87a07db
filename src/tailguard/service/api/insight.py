"""Tools and policies, control-plane KPIs, the pulse, tails firing now and interventions."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Query

from tailguard.clock import format_ts
from tailguard.control.policy import policy_table
from tailguard.errors import InvalidInputError, NotFoundError
from tailguard.learning import STATUSES, SelfLearnStore
from tailguard.ledger.checkpoint import read_checkpoints, verify_against
from tailguard.ledger.kpis import control_plane_kpis
from tailguard.rules import RuleEngine
from tailguard.service.api.deps import Admin, State, Timestamp, Viewer, utc
from tailguard.service.api.models import (
    InterventionOut,
    KpiReport,
    LedgerVerifyOut,
    PulseLatest,
    PulseRow,
    TailOut,
    TailsOut,
    ToolOut,
)
from tailguard.service.errors import ERROR_RESPONSES, responses
from tailguard.service.pagination import CursorParam, LimitParam, Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

AreaQ = Annotated[str | None, Query(max_length=255, description="Only this planning area.")]


@router.get("/tools", tags=["tools"], summary="Governed tools and their policies")
def list_tools(state: State, _: Viewer) -> list[ToolOut]:
    """Every tool with a handler here, then the policy table's other tools."""
    registered = {tool.name: tool for tool in state.registry}
    policies = {name: state.registry.policy(name) for name in registered}
    policies.update({k: v for k, v in state.policies.items() if k not in policies})
    out = []
    for row in policy_table(policies):
        tool = registered.get(row["tool"])
        out.append(
            ToolOut(
                **row,
                registered=tool is not None,
                description=tool.description if tool else None,
                parameters=dict(tool.parameters) if tool else None,
            )
        )
    return out


@router.get("/kpis", tags=["kpis"], summary="Control-plane KPIs for a time range")
def kpis(
    state: State,
    _: Viewer,
    since: Annotated[Timestamp | None, Query(description="Runs started at or after.")] = None,
    until: Annotated[Timestamp | None, Query(description="Runs started before.")] = None,
) -> KpiReport:
    """Time to first action, success, rollback and override rates, bypasses, cost, tokens."""
    # An empty range (until <= since) is a fair question with an empty answer, not an error.
    return KpiReport(**_finite(control_plane_kpis(state.ledger, utc(since), utc(until))))


@router.get(
    "/ledger/verify",
    tags=["ledger"],
    summary="Verify the ledger's hash chain (and its checkpoints)",
)
def verify_ledger(state: State, _: Admin) -> LedgerVerifyOut:
    """Walk the whole chain, as ``tailguard ledger verify`` does; with the service's checkpoint
    file configured, also report a ledger shorter than, or diverging from, a checkpoint.

    200 either way: ``ok`` says whether it holds, ``problem`` and ``first_bad_seq`` what broke.
    """
    checkpointer = state.checkpointer
    if checkpointer is None or not checkpointer.out.exists():
        report = state.ledger.verify()
        checked = 0
    else:
        found = read_checkpoints(checkpointer.out)
        report = verify_against(state.ledger, found, trusted=[checkpointer.key.public])
        checked = len(found)
    return LedgerVerifyOut(**report.to_dict(), checkpoints=checked)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such figures become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _rows(frame: pl.DataFrame) -> list[PulseRow]:
    kpi_cols = [c for c in frame.columns if c not in ("area_id", "as_of")]
    out = []
    for row in frame.iter_rows(named=True):
        out.append(
            PulseRow(
                area_id=row["area_id"],
                as_of=format_ts(row["as_of"]),
                kpis={k: _finite(row[k]) for k in kpi_cols},
            )
        )
    return out


@router.get("/pulse", tags=["pulse"], summary="Latest KPIs of every area", responses=responses(404))
def pulse_latest(state: State, _: Viewer, area_id: AreaQ = None) -> PulseLatest:
    """The pulse table's latest row per area (one area with ``area_id``)."""
    frame = state.pulse.latest()
    if area_id is not None:
        frame = frame.filter(pl.col("area_id") == area_id)
        if frame.is_empty():
            raise NotFoundError(f"no pulse for area {area_id!r}")
    return PulseLatest(areas=_rows(frame))


@router.get("/pulse/history", tags=["pulse"], summary="Hourly KPI history")
def pulse_history(
    state: State,
    _: Viewer,
    area_id: AreaQ = None,
    since: Annotated[Timestamp | None, Query()] = None,
    until: Annotated[Timestamp | None, Query()] = None,
    limit: LimitParam = 200,
    cursor: CursorParam = None,
) -> Page[PulseRow]:
    """Stored ticks with ``since <= as_of <= until``, by area then time."""
    key = decode_cursor("pulse", cursor, 2)
    frame = state.pulse.history(area_id=area_id, since=utc(since), until=utc(until))
    frame = frame.sort("area_id", "as_of")
    if key is not None:
        if not isinstance(key[0], str) or not isinstance(key[1], int):
            raise InvalidInputError("invalid cursor", details={"cursor": cursor})
        as_of_us = pl.col("as_of").dt.epoch("us")
        frame = frame.filter(
            (pl.col("area_id") > key[0]) | ((pl.col("area_id") == key[0]) & (as_of_us > key[1]))
        )
    page = frame.head(limit + 1)
    nxt = None
    if page.height > limit:
        last = page.row(limit - 1, named=True)
        as_of = last["as_of"]
        nxt = encode_cursor("pulse", [last["area_id"], int(as_of.timestamp() * 1_000_000)])
    return Page[PulseRow](items=_rows(page.head(limit)), next_cursor=nxt)


@router.get("/tails", tags=["pulse"], summary="Tails firing now")
def tails(
    state: State,
    _: Viewer,
    area_id: AreaQ = None,
    include_pending: Annotated[
        bool, Query(description="Also breaches that have not held for their `for` yet.")
    ] = False,
) -> TailsOut:
    """The tail rules over the pulse's latest tick, each ``for`` honoured over the history."""
    latest = state.pulse.latest()
    if latest.is_empty():
        return TailsOut(as_of=None, tails=[])
    as_of: datetime = latest["as_of"].max()  # type: ignore[assignment]
    hold = max((r.for_ for r in state.rules), default=timedelta(0))
    history = state.pulse.history(area_id=area_id, since=as_of - hold, until=as_of)
    if area_id is not None:
        latest = latest.filter(pl.col("area_id") == area_id)
    engine = RuleEngine(state.rules)
    alerts = []
    ticks = sorted(set(history["as_of"].to_list())) if not history.is_empty() else []
    for tick in ticks[:-1] if ticks and ticks[-1] == as_of else ticks:
        engine.evaluate(history.filter(pl.col("as_of") == tick), tick)
    # The final evaluation uses each area's latest row, whatever tick it was written at.
    alerts = engine.evaluate(latest, as_of)
    wanted = ("firing", "pending") if include_pending else ("firing",)
    return TailsOut(
        as_of=format_ts(as_of),
        tails=[
            TailOut(
                **{**a.to_dict(), "value": _finite(a.value)},  # type: ignore[arg-type]
                active_since=format_ts(a.active_since),
            )
            for a in alerts
            if a.state in wanted
        ],
    )


InterventionStatus = Literal[
    "decided", "executed", "held", "pending_approval", "rejected", "timeout", "failed", "skipped"
]
assert set(InterventionStatus.__args__) == set(STATUSES)  # type: ignore[attr-defined]


@router.get("/interventions", tags=["learning"], summary="Interventions and their outcomes")
def interventions(
    state: State,
    _: Viewer,
    area_id: AreaQ = None,
    status: InterventionStatus | None = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[Timestamp | None, Query(description="Decided at or after.")] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[InterventionOut]:
    """The self-learn store's decisions, oldest first: context, action, propensity, outcome."""
    key = decode_cursor("interventions", cursor, 1)
    if key is not None and not isinstance(key[0], int):
        raise InvalidInputError("invalid cursor", details={"cursor": cursor})
    store = state.extras.get("learning")
    if store is None:
        store = state.extras["learning"] = SelfLearnStore(state.ledger.engine)
    rows = store.list_interventions(
        area_id=area_id,
        status=status,
        kind=kind,
        since=utc(since),
        limit=limit + 1,
        after=key[0] if key else None,
    )
    nxt = (
        encode_cursor("interventions", [int(rows[limit - 1]["seq"])]) if len(rows) > limit else None
    )
    return Page[InterventionOut](
        items=[InterventionOut(**_finite(r)) for r in rows[:limit]], next_cursor=nxt
    )
