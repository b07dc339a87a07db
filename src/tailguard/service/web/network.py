"""The network view: every area's guard-band status as a grid, and one area's page.

The grid reads the pulse store's latest row per area and checks it against the guard-bands of
MISSION.md (:func:`tailguard.rules.guardband_status`, one vectorised pass). An area's page adds
its scorecard with recent history, the tail rules firing (the rule engine replayed over the
area's recent pulse history, so ``for`` durations hold as they do in the agent), the
interventions of the self-learn store, and its OKRs from the ledger.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from fastapi import APIRouter, Request, Response

from tailguard.errors import NotFoundError
from tailguard.learning import SelfLearnStore
from tailguard.ledger import queries as ledger_queries
from tailguard.metrics.kpis import KPIS
from tailguard.rules import GUARD_BANDS, RuleEngine, guardband_status
from tailguard.rules.model import OPS
from tailguard.rules.yoy import LAG, TOLERANCE_DAYS, history_baseline, last_year_jobs
from tailguard.service import queries
from tailguard.service.auth import Role
from tailguard.service.settings import ServiceState
from tailguard.service.web.render import guarded, render
from tailguard.service.web.session import WebSession, service_state
from tailguard.service.web.svg import sparkline

router = APIRouter()

_AREA_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HISTORY_HOURS = 48


#: Severity in words and a mark, so it is never told by colour alone.
_SEVERITY = {
    "in": ("inside every band", "✓"),
    "out1": ("1 band breached", "!"),
    "out2": ("2 bands breached", "!!"),
    "out3": ("3 or more breached", "!!!"),
    "nodata": ("no data", "–"),
}


def _cell_class(breaches: int, has_data: bool) -> str:
    if not has_data:
        return "nodata"
    return "in" if breaches == 0 else f"out{min(breaches, 3)}"


def network_cells(
    state: ServiceState,
) -> tuple[list[dict[str, Any]], dict[str, int | None], Any]:
    """One cell per area (id, class, breached bands) and breach counts per band."""
    latest = state.pulse.latest()
    if latest.height == 0:
        return [], {}, None
    last_year = _last_year(state, latest)
    status = guardband_status(latest, last_year_jobs_per_week=last_year)
    kpis = [c for c in latest.columns if c not in ("area_id", "as_of")]
    has_data = latest.select(
        "area_id", pl.any_horizontal(pl.col(kpis).is_not_null()).alias("has_data")
    )
    joined = status.join(has_data, on="area_id").sort("area_id")
    cells = []
    for row in joined.iter_rows(named=True):
        broken = [b.doc for b in GUARD_BANDS if row[f"gb_{b.id}"] is False]
        cells.append(
            {
                "area_id": row["area_id"],
                "cls": _cell_class(len(broken), bool(row["has_data"])),
                "broken": broken,
                "severity": _SEVERITY[_cell_class(len(broken), bool(row["has_data"]))],
            }
        )
    # A band no area has data for (the year-on-year band needs last year's jobs) is "no data",
    # never "0 areas outside".
    # (guardband_status counts a KPI without data as inside; here it is told apart.)
    per_band: dict[str, int | None] = {
        b.doc: None
        if (b.kind != "threshold" and (last_year is None or last_year.is_empty()))
        or b.kpi not in latest.columns
        or latest[b.kpi].null_count() == latest.height
        else int(status.select((~pl.col(f"gb_{b.id}")).fill_null(False).sum()).item())
        for b in GUARD_BANDS
    }
    as_of = latest["as_of"].max()
    return cells, per_band, as_of


def _last_year(state: ServiceState, latest: pl.DataFrame) -> pl.DataFrame | None:
    """Last year's jobs per week per area, for the YoY band: from the service's baseline file,
    else from the pulse store's own history a year back (None: neither has it)."""
    baseline = state.yoy_baseline
    if baseline is None:
        newest = latest["as_of"].max()
        if not isinstance(newest, datetime):
            return None
        around = newest - LAG
        slack = timedelta(days=TOLERANCE_DAYS + 1)
        history = state.pulse.history(since=around - slack, until=around + slack)
        baseline = history_baseline(history)
    if baseline is None:
        return None
    return last_year_jobs(baseline, latest)


@router.get("/network", include_in_schema=False)
def network(request: Request) -> Response:
    """The grid of areas."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        cells, per_band, as_of = network_cells(state)
        inside = sum(1 for c in cells if c["cls"] == "in")
        order = request.query_params.get("sort") or "severity"
        if order == "area":
            rows = sorted(cells, key=lambda c: c["area_id"])
        else:
            order = "severity"
            rows = sorted(
                cells, key=lambda c: (c["cls"] == "nodata", -len(c["broken"]), c["area_id"])
            )
        return render(
            request,
            "network.html",
            session,
            cells=cells,
            rows=[c for c in rows if c["cls"] != "in"][:200],
            order=order,
            per_band=per_band,
            inside=inside,
            as_of=as_of,
        )

    return guarded(request, Role.VIEWER, page)


def _bands_by_kpi() -> dict[str, Any]:
    return {b.kpi: b for b in GUARD_BANDS if b.kind == "threshold"}


def _inside(value: float, op: str, bound: float) -> bool:
    return bool(OPS[op](value, bound))


def area_scorecard(state: ServiceState, area_id: str) -> tuple[list[dict[str, Any]], Any, Any]:
    """KPI rows (value, band, inside?, sparkline) of the area's latest pulse, and its history."""
    latest = state.pulse.latest().filter(pl.col("area_id") == area_id)
    if latest.height == 0:
        raise NotFoundError(f"no pulse for area {area_id!r}")
    row = latest.row(0, named=True)
    as_of = row["as_of"]
    history = state.pulse.history(area_id, since=as_of - timedelta(hours=HISTORY_HOURS))
    bands = _bands_by_kpi()
    kpis = []
    for kpi_id, value in row.items():
        if kpi_id in ("area_id", "as_of"):
            continue
        band = bands.get(kpi_id)
        definition = KPIS.get(kpi_id)
        series = history[kpi_id].to_list() if kpi_id in history.columns else []
        kpis.append(
            {
                "id": kpi_id,
                "title": definition.title if definition else kpi_id,
                "unit": definition.unit if definition else "",
                "value": value,
                "band": band.doc if band else None,
                "inside": None
                if band is None or value is None
                else _inside(value, band.inside_op, band.bound),
                "spark": sparkline(series, bound=band.bound if band else None),
            }
        )
    return kpis, as_of, history


def tails_firing(state: ServiceState, history: pl.DataFrame) -> list[dict[str, Any]]:
    """The tail rules breached at the latest tick, replayed over the area's recent history."""
    engine = RuleEngine(state.rules)
    alerts: list[Any] = []
    for as_of, tick in history.sort("as_of").group_by("as_of", maintain_order=True):
        alerts = engine.evaluate(tick.drop("as_of"), as_of[0])
    return [a.to_dict() | {"active_since": a.active_since} for a in alerts]


def area_okrs(state: ServiceState, area_id: str, limit: int = 6) -> list[dict[str, Any]]:
    """The area's newest OKRs: the committed record, with its week's score merged in.

    The weekly cycle appends an ``okr`` record when it commits the sprint and another with the
    same id when it scores it a week later; the page shows both, key result by key result.
    """
    newest = queries.latest_entities(state.ledger, "okr", limit=limit, equals={"area_id": area_id})
    ids = [row.record.record_id for row in newest]
    if not ids:
        return []
    merged: dict[str, dict[str, Any]] = {okr: {"okr_id": okr} for okr in ids}
    for record in ledger_queries.records_of(state.ledger, "okr", ids):
        fields = dict(record.fields)
        okr = merged[record.record_id]
        if fields.get("status") == "scored":
            okr["score"] = fields
        else:
            okr.update(fields)
            okr["recorded_at"] = record.recorded_at
    for okr in merged.values():
        scores = {k.get("kr_id"): k for k in (okr.get("score") or {}).get("key_results", [])}
        okr["krs"] = [
            _key_result(kr, scores.get(kr.get("kr_id")) if isinstance(kr, dict) else None)
            for kr in okr.get("key_results") or []
        ]
        okr["lever_names"] = [
            lv.get("lever_id", "?") if isinstance(lv, dict) else str(lv)
            for lv in okr.get("levers") or []
        ]
    return [merged[i] for i in ids]


def _key_result(kr: Any, score: dict[str, Any] | None) -> dict[str, Any]:
    if not isinstance(kr, dict):
        return {"text": str(kr), "status": None}
    return {
        "text": kr.get("text") or kr.get("kpi") or kr.get("kr_id"),
        "status": score.get("status") if score else None,
        "realised": score.get("realised") if score else None,
    }


@router.get("/network/{area_id}", include_in_schema=False)
def area(request: Request, area_id: str) -> Response:
    """One area: scorecard, tails firing, interventions and OKRs."""

    def page(session: WebSession) -> Response:
        if not _AREA_RE.match(area_id):
            raise NotFoundError(f"no area {area_id!r}")
        state = service_state(request)
        kpis, as_of, history = area_scorecard(state, area_id)
        learn = SelfLearnStore(state.ledger.engine)
        interventions = learn.list_interventions(area_id=area_id, limit=10_000)[-50:][::-1]
        okrs = area_okrs(state, area_id)
        return render(
            request,
            "area.html",
            session,
            area_id=area_id,
            kpis=kpis,
            as_of=as_of,
            tails=tails_firing(state, history),
            interventions=interventions,
            okrs=okrs,
        )

    return guarded(request, Role.VIEWER, page)
