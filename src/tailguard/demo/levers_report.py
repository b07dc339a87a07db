"""The report's "OKR levers" section, from ``summary.json``'s ``okr_levers``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailguard.demo.levers import by_lever, lever_overview
from tailguard.demo.tables import fmt_num


def levers_section(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Overview, per lever and per area (which levers ran, cost, forecast against outcome)."""
    levers = list(summary.get("okr_levers") or [])
    if not levers:
        return {"okr": None}
    areas: dict[str, list[dict[str, Any]]] = {}
    for lv in levers:
        forecast = lv.get("forecast") or {}
        areas.setdefault(str(lv["area_id"]), []).append(
            {
                "week": lv.get("week"),
                "lever_id": lv["lever_id"],
                "kpi": lv.get("kpi") or "-",
                "applied": bool(lv.get("applied")),
                "calls": f"{(lv.get('calls') or {}).get('executed', 0)}"
                f" / {sum((lv.get('calls') or {}).values())}",
                "cost": fmt_num(lv.get("cost_usd"), 0),
                "forecast": "-"
                if not forecast
                else f"{forecast['mean']:+.2f} ({forecast['p10']:+.2f} to {forecast['p90']:+.2f})",
                "outcome": "-" if lv.get("outcome") is None else f"{lv['outcome']:+.2f}",
                "vs_others": "-"
                if lv.get("outcome_vs_others") is None
                else f"{lv['outcome_vs_others']:+.2f}",
                "inside": "-"
                if lv.get("inside_80") is None
                else "yes"
                if lv["inside_80"]
                else "no",
            }
        )
    rows = [
        {
            **r,
            "forecast_mean": fmt_num(r["forecast_mean"], 2),
            "outcome_mean": fmt_num(r["outcome_mean"], 2),
            "vs_others_mean": fmt_num(r["vs_others_mean"], 2),
            "cost_usd": fmt_num(r["cost_usd"], 0),
        }
        for r in by_lever(levers)
    ]
    return {
        "okr": {
            "overview": summary.get("okr_levers_overview") or lever_overview(levers),
            "by_lever": rows,
            "areas": sorted(areas.items())[:40],
            "areas_total": len(areas),
        }
    }
