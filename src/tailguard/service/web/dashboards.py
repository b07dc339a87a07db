"""Run monitor (with drill-down), cost dashboard, approval audit log (with CSV) and quality."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from tailguard.errors import NotFoundError
from tailguard.service.approvals import audit_fields
from tailguard.service.auth import Role
from tailguard.service.settings import ServiceState
from tailguard.service.web import data
from tailguard.service.web.render import guarded, render, when
from tailguard.service.web.rollback import rollbackable
from tailguard.service.web.session import WebSession, service_state
from tailguard.service.web.svg import line_chart, stacked_bars
from tailguard.service.web.window import WINDOWS, Window, resolve_window

router = APIRouter()


def _window(request: Request, state: ServiceState, default: int) -> Window:
    return resolve_window(request.query_params, state.ledger, _now(state), default_days=default)


def _now(state: ServiceState) -> datetime:
    return state.settings.clock.now()


@router.get("/runs", include_in_schema=False)
def run_monitor(request: Request) -> Response:
    """Active runs, completion and error rates, runs per day, recent runs."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        win = _window(request, state, 7)
        since, now = win.since, win.until
        frame = data.runs(state.ledger, since=since).filter(pl.col("started") < now)
        summary = data.run_summary(frame)
        active = (
            frame.filter(frame["status"].is_in(["running", "waiting_approval"]))
            .sort("started", descending=True)
            .head(100)
            .to_dicts()
        )
        recent = frame.sort("started", descending=True).head(25).to_dicts()
        span = data.day_range(since, now - timedelta(microseconds=1))
        ones = frame.with_columns((frame["total_cost_usd"] * 0 + 1).alias("one"))
        by_status = data.daily_by(ones, "status", "one", span)
        chart = stacked_bars(
            "Runs per day by status",
            [d.strftime("%b %d") for d in span],
            {
                s: by_status[s]
                for s in ("completed", "failed", "aborted", "running", "waiting_approval")
                if s in by_status
            },
        )
        return render(
            request,
            "runs.html",
            session,
            days=win.days,
            win=win,
            windows=WINDOWS,
            summary=summary,
            roles=data.per_role(frame),
            active=active,
            recent=recent,
            chart=chart,
        )

    return guarded(request, Role.VIEWER, page)


def _run_detail(state: ServiceState, run_id: str) -> dict[str, Any]:
    latest: dict[tuple[str, str], Any] = {}
    details: dict[tuple[str, str], dict[str, Any]] = {}
    history: list[Any] = []
    for record in state.ledger.records(run_id=run_id):
        if record.kind in ("step_detail", "gate_detail"):
            details.setdefault((record.kind, record.record_id), {}).update(
                {k: v for k, v in record.fields.items() if v is not None}
            )
        else:
            latest[(record.kind, record.record_id)] = record
        if record.kind == "run":
            history.append(record)
    run = latest.get(("run", run_id))
    if run is None:
        raise NotFoundError(f"no run {run_id!r} in the ledger")
    steps = [
        {
            **r.fields,
            "recorded_at": r.recorded_at,
            **{"detail": details.get(("step_detail", k), {})},
        }
        for (kind, k), r in latest.items()
        if kind == "step"
    ]
    gates = [
        {**r.fields, "detail": details.get(("gate_detail", k), {})}
        for (kind, k), r in latest.items()
        if kind == "gate"
    ]
    # A call waiting at a gate: its step record (pending_approval) does not name the gate
    # yet (the gate is written after it), so show it with its gate and audit arguments.
    steps = [s for s in steps if s.get("status") != "pending_approval"]
    seen = {s["step_id"] for s in steps}
    steps += [
        {
            "step_id": g["step_id"],
            "tool_name": g["tool_name"],
            "risk_level": g["risk_level"],
            "status": "waiting_approval",
            "result_summary": "waiting at its approval gate",
            "approval_gate_id": g["gate_id"],
            "latency_ms": None,
            "retries": 0,
            "detail": {"audit_args": _waiting_audit_args(state, g["gate_id"])},
        }
        for g in gates
        if g["decision"] == "pending" and g["step_id"] not in seen
    ]
    outcomes = [r.fields for (kind, _), r in latest.items() if kind == "outcome"]
    alerts = [r.fields for (kind, _), r in latest.items() if kind == "alert"]
    return {
        "run": run.fields,
        "steps": steps,
        "gates": gates,
        "outcome": outcomes[-1] if outcomes else None,
        "alerts": alerts,
        "history": [(r.recorded_at, r.fields["status"]) for r in history],
    }


def _waiting_audit_args(state: ServiceState, gate_id: str) -> dict[str, Any]:
    call = state.plane.gates.get(gate_id)
    return {k: call.args[k] for k in audit_fields(state, call.tool_name) if k in call.args}


@router.get("/runs/{run_id}", include_in_schema=False)
def run_page(request: Request, run_id: str) -> Response:
    """One run: its status history, steps, gates, outcome and alerts, by correlation id."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        detail = _run_detail(state, run_id)
        can = session.principal.role.allows(Role.OPERATOR)
        undoable = rollbackable(state, detail["steps"]) if can else set()
        return render(request, "run.html", session, rollbackable=undoable, **detail)

    return guarded(request, Role.VIEWER, page)


@router.get("/costs", include_in_schema=False)
def costs(request: Request) -> Response:
    """Spend per day and week by role and area, top consumers, budget alerts."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        win = _window(request, state, 14)
        since, now = win.since, win.until
        frame = data.runs(state.ledger, since=since).filter(pl.col("started") < now)
        span = data.day_range(since, now - timedelta(microseconds=1))
        labels = [d.strftime("%b %d") for d in span]
        by_role = data.daily_by(frame, "role", "total_cost_usd", span)
        by_area = data.daily_by(frame, "area_id", "total_cost_usd", span)
        top_areas = sorted(by_area, key=lambda a: -sum(by_area[a]))[:6]
        return render(
            request,
            "costs.html",
            session,
            days=win.days,
            win=win,
            windows=WINDOWS,
            total=float(frame["total_cost_usd"].sum()) if frame.height else 0.0,
            tokens=float(frame["total_tokens"].sum()) if frame.height else 0.0,
            runs=frame.height,
            role_chart=stacked_bars("Spend per day by role", labels, by_role, unit="$"),
            area_chart=stacked_bars(
                "Spend per day, top areas", labels, {a: by_area[a] for a in top_areas}, unit="$"
            ),
            weekly_roles=data.weekly_by(frame, "role"),
            weekly_areas=data.weekly_by(frame, "area_id")[:40],
            top=data.top_consumers(frame),
            top_runs=frame.sort("total_cost_usd", descending=True).head(10).to_dicts(),
            alerts=data.alerts(state.ledger, since=since),
        )

    return guarded(request, Role.VIEWER, page)


def _audit_frame(request: Request, state: ServiceState) -> tuple[Any, dict[str, Any]]:
    q = request.query_params
    win = _window(request, state, 30)
    days = win.days
    decided_by = (q.get("decided_by") or "").strip()[:128]
    decision = q.get("decision") or ""
    decision = decision if decision in ("approved", "rejected", "timeout") else ""
    tool_name = (q.get("tool_name") or "").strip()[:128]
    frame = data.audit(
        state.ledger,
        since=win.since,
        decided_by=decided_by or None,
        decision=decision or None,
        tool_name=tool_name or None,
    )
    if win.absolute:  # whole days: drop decisions after the range's last day
        decided = pl.col("decided_at").str.to_datetime(
            time_zone="UTC", time_unit="us", strict=False
        )
        frame = frame.filter(decided.is_null() | (decided < win.until))
    filters = {"days": days, "decided_by": decided_by, "decision": decision, "tool_name": tool_name}
    return frame, filters


@router.get("/audit", include_in_schema=False)
def audit(request: Request) -> Response:
    """Every decision on an approval gate: who, when, why; filters and a CSV export."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        frame, filters = _audit_frame(request, state)
        counts = dict(frame.group_by("decision").len().iter_rows()) if frame.height else {}
        return render(
            request,
            "audit.html",
            session,
            rows=frame.head(500).to_dicts(),
            total=frame.height,
            counts=counts,
            filters=filters,
            windows=WINDOWS,
            query=request.url.query,
        )

    return guarded(request, Role.VIEWER, page)


@router.get("/audit.csv", include_in_schema=False)
def audit_csv(request: Request) -> Response:
    """The filtered audit log as CSV."""

    def page(session: WebSession) -> Response:
        del session
        state = service_state(request)
        frame, _ = _audit_frame(request, state)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(data.AUDIT_COLUMNS)
        for row in frame.select(data.AUDIT_COLUMNS).iter_rows():
            writer.writerow(["" if v is None else _csv_safe(v) for v in row])
        stamp = when(_now(state)).replace(" ", "_").replace(":", "")
        return StreamingResponse(
            iter([buf.getvalue()]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="approvals-audit-{stamp}.csv"'},
        )

    return guarded(request, Role.VIEWER, page)


def _csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ would run as a formula in a spreadsheet: quote it.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


@router.get("/quality", include_in_schema=False)
def quality(request: Request) -> Response:
    """Rolling 7-day outcome quality score by role."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        win = _window(request, state, 30)
        days = win.days
        shown, trend, latest = data.quality_trend(state.ledger, until=win.until, days=days)
        chart = line_chart(
            "Rolling 7-day mean quality score by role",
            [d.strftime("%b %d") for d in shown],
            trend,
            ymax=100.0,
            width=1100,
            height=340,
        )
        return render(
            request,
            "quality.html",
            session,
            days=days,
            win=win,
            windows=WINDOWS,
            chart=chart,
            latest=latest,
        )

    return guarded(request, Role.VIEWER, page)
