"""The field-service read tools' handlers: pulse, tails, area scorecard, interventions and
their outcomes, the why-and-did-it-work of one area's interventions on a day, OKRs, and the
approvals waiting. Each returns a JSON-ready dict with a one-line ``summary``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tailguard.clock import format_ts
from tailguard.control import ToolContext
from tailguard.errors import InvalidInputError
from tailguard.ledger.queries import latest_entities, records_of
from tailguard.roles.fieldservice.days import parse_day
from tailguard.roles.fieldservice.sources import OpsSources

if TYPE_CHECKING:  # Polars is imported by the handlers, not by a listing of the tools
    import polars as pl


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return format_ts(value)
    return value


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dicts()]


def _area(args: Mapping[str, Any]) -> str | None:
    area = args.get("area_id")
    return None if area is None else str(area).strip().upper()


def pulse(src: OpsSources, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """The latest KPIs of one area, or of every area (at most ``limit``)."""
    del ctx
    import polars as pl

    latest = src.need_pulse().latest()
    area = _area(args)
    if area is not None:
        latest = latest.filter(pl.col("area_id") == area)
    rows = _rows(latest.sort("area_id").head(int(args.get("limit", 50))))
    if not rows:
        return {"areas": [], "summary": f"no pulse for {area or 'any area'} yet"}
    as_of = max(str(r["as_of"]) for r in rows)
    return {"areas": rows, "summary": f"pulse of {len(rows)} area(s) as of {as_of}"}


def tails(src: OpsSources, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Areas breaching a tail rule at the pulse's latest tick (``for`` honoured)."""
    del ctx
    import polars as pl

    from tailguard.rules import RuleEngine, builtin_rules

    store = src.need_pulse()
    rules = src.rules or builtin_rules()
    latest = store.latest()
    if latest.is_empty():
        return {"tails": [], "summary": "no pulse yet, so no tails"}
    as_of: datetime = latest["as_of"].max()  # type: ignore[assignment]
    area = _area(args)
    hold = max((r.for_ for r in rules), default=timedelta(0))
    history = store.history(area_id=area, since=as_of - hold, until=as_of)
    if area is not None:
        latest = latest.filter(pl.col("area_id") == area)
    engine = RuleEngine(rules)
    ticks = sorted(set(history["as_of"].to_list())) if not history.is_empty() else []
    for tick in ticks[:-1] if ticks and ticks[-1] == as_of else ticks:
        engine.evaluate(history.filter(pl.col("as_of") == tick), tick)
    alerts = [
        {k: _clean(v) for k, v in a.to_dict().items()}
        for a in engine.evaluate(latest, as_of)
        if a.state == "firing"
    ]
    areas = sorted({str(a["area_id"]) for a in alerts})
    return {
        "as_of": format_ts(as_of),
        "tails": alerts,
        "summary": f"{len(alerts)} tail(s) firing in {len(areas)} area(s)"
        + (f": {', '.join(areas[:10])}" if areas else ""),
    }


def scorecard(src: OpsSources, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """One area's KPIs over the last ``days`` days of the pulse, tick by tick."""
    del ctx
    area = _area(args)
    days = int(args.get("days", 7))
    now = src.clock.now()
    history = src.need_pulse().history(area_id=area, since=now - timedelta(days=days), until=now)
    rows = _rows(history)
    if not rows:
        return {"area_id": area, "ticks": [], "summary": f"no pulse for {area} in {days} days"}
    first, last = rows[0], rows[-1]
    changes = []
    for kpi in ("ftf_rate", "nps", "lateness_p90_min"):
        if first.get(kpi) is not None and last.get(kpi) is not None:
            changes.append(f"{kpi} {first[kpi]:.3g} -> {last[kpi]:.3g}")
    return {
        "area_id": area,
        "ticks": rows,
        "summary": f"{area}: {len(rows)} ticks over {days} days"
        + (f" ({'; '.join(changes)})" if changes else ""),
    }


def _verdict(row: Mapping[str, Any]) -> str:
    from tailguard.learning.arms import LOWER_IS_BETTER

    kpi, delta = row.get("outcome_kpi"), row.get("outcome_delta")
    if kpi is None:
        return "no outcome is measured for this kind"
    if row.get("measured_at") is None:
        return f"{kpi} not measured yet (horizon {row.get('horizon_at') or 'unset'})"
    if delta is None:
        return f"{kpi} had no data at the horizon"
    good = delta < 0 if kpi in LOWER_IS_BETTER else delta > 0
    word = "it worked" if good else ("no change" if delta == 0 else "it did not work")
    return (
        f"{kpi} {row.get('baseline_value'):.3g} -> {row.get('outcome_value'):.3g} "
        f"({delta:+.3g}): {word}"
    )


def _decision(row: Mapping[str, Any]) -> dict[str, Any]:
    keep = (
        "decision_id", "area_id", "kind", "tool_name", "trigger", "target_type", "target_id",
        "args", "status", "reason", "decided_at", "executed_at", "gate_id", "run_id",
        "cost_usd", "outcome_kpi", "baseline_value", "outcome_value", "outcome_delta",
        "horizon_at", "measured_at", "propensity", "policy_version",
    )  # fmt: skip
    out = {k: _clean(row.get(k)) for k in keep}
    out["verdict"] = _verdict(row)
    return out


def interventions(src: OpsSources, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Interventions of the last ``days`` days (one area or all), with their outcomes."""
    del ctx
    area = _area(args)
    days = int(args.get("days", 7))
    since = src.clock.now() - timedelta(days=days)
    rows = src.learn.list_interventions(
        area_id=area, since=since, kind=args.get("kind"), limit=int(args.get("limit", 100))
    )
    items = [_decision(r) for r in rows]
    measured = [i for i in items if i["measured_at"] is not None]
    return {
        "interventions": items,
        "summary": f"{len(items)} intervention(s) in {area or 'all areas'} over {days} days, "
        f"{len(measured)} with a measured outcome",
    }


def explain(src: OpsSources, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Why an area got its interventions on a day (trigger, reason, run, approval) and
    whether they worked (the measured outcome against the baseline, and the pulse since)."""
    del ctx
    area = _area(args)
    if area is None:
        raise InvalidInputError("area_id is required")
    start, end = parse_day(str(args.get("day", "yesterday")), src.clock.now())
    wanted = str(args.get("kind") or "").lower().replace(" ", "_")
    rows = [
        r
        for r in src.learn.list_interventions(area_id=area, since=start, limit=1000)
        if str(r["decided_at"]) < format_ts(end)
        and (not wanted or wanted in r["kind"] or wanted in r["tool_name"])
    ]
    day = start.date().isoformat()
    if not rows:
        what = f"no {wanted.replace('_', ' ')} intervention" if wanted else "no intervention"
        return {
            "area_id": area,
            "day": day,
            "interventions": [],
            "summary": f"{area} had {what} on {day}",
        }
    runs = {
        r.record_id: r.fields
        for r in records_of(src.ledger, "run", [r["run_id"] for r in rows if r["run_id"]])
    }
    gates = {
        r.record_id: r.fields
        for r in records_of(src.ledger, "gate", [r["gate_id"] for r in rows if r["gate_id"]])
    }
    items, lines = [], []
    for row in rows:
        item = _decision(row)
        run = runs.get(row["run_id"] or "", {})
        gate = gates.get(row["gate_id"] or "", {})
        item["goal"] = run.get("goal_text")
        item["approval"] = (
            None if not gate else {"decision": gate.get("decision"), "by": gate.get("decided_by")}
        )
        items.append(item)
        why = f"trigger {row['trigger']}" + (f" ({row['reason']})" if row.get("reason") else "")
        approved = (
            f", {gate.get('decision')} by {gate.get('decided_by')}"
            if gate.get("decided_by")
            else ""
        )
        lines.append(
            f"{row['tool_name']} at {item['decided_at']} because of {why}; "
            f"status {row['status']}{approved}; {item['verdict']}"
        )
    return {
        "area_id": area,
        "day": day,
        "interventions": items,
        "summary": f"{area} on {day}: " + " | ".join(lines),
    }


def okrs(src: OpsSources, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """The latest OKR records (committed objectives and their weekly scores)."""
    del ctx
    area = _area(args)
    found = latest_entities(src.ledger, "okr", limit=int(args.get("limit", 20)))
    items = [dict(e.record.fields) for e in found]
    if area is not None:
        items = [i for i in items if str(i.get("area_id", "")).upper() == area]
    return {
        "okrs": items,
        "summary": f"{len(items)} OKR record(s)" + (f" for {area}" if area else ""),
    }


def approvals(src: OpsSources, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Gates waiting for a person's decision, oldest first."""
    del ctx
    pending = src.need_control().pending_gates()[: int(args.get("limit", 50))]
    items = [
        {
            "gate_id": p.gate_id,
            "tool_name": p.tool_name,
            "risk_level": p.risk_level,
            "reason": p.reason,
            "requester_id": p.requester_id,
            "presented_at": format_ts(p.presented_at),
            "expires_at": None if p.expires_at is None else format_ts(p.expires_at),
            "args": p.args,
        }
        for p in pending
    ]
    return {"approvals": items, "summary": f"{len(items)} approval(s) waiting"}
