"""The OKR sprint of an area, its commitment to the ledger, and last week's score.

Each area's OKR for the week starting at ``as_of`` (``week_of``, a date) has one objective and
three key results, one per chosen lever: the lever's first effect whose KPI has a value this
week, with target = this week's value + the simulated mean effect. It is appended to the ledger
as an ``okr`` record (``okr_id = okr-<area>-<week_of>``, status ``committed``), hash-chained
like every record, so other areas and the dashboards read it with ``Ledger.records(kind="okr")``.

A week later the pack scores it against the scorecard: a key result is ``met`` when the KPI
reached its target, ``partly`` when it moved toward it but not all the way, ``missed``
otherwise (including no data). The score is appended as a new ``okr`` record with the same
``okr_id`` and status ``scored`` (the ledger is append-only). Appends are idempotent: a record
already present with the same id and status is not written again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tailguard.ledger import Ledger
from tailguard.metrics.kpis import KPIS
from tailguard.weekly.playbook import Play, totals

#: Values a KPI can take (a target outside them could never be met).
_BOUNDS: dict[str, tuple[float, float]] = {
    "nps_p10": (0.0, 10.0),
    "nps_p90": (0.0, 10.0),
    "ftf_pct": (0.0, 100.0),
    "eta_adherence_pct": (0.0, 100.0),
    "recall_pct_p90": (0.0, 100.0),
    "churn_90d_pct": (0.0, 100.0),
    "gp_pct": (-100.0, 100.0),
    "parts_cost_delta_p90_pct": (-100.0, math.inf),
}


def _feasible(kpi: str, value: float) -> float:
    lo, hi = _BOUNDS.get(kpi, (0.0, math.inf))
    return min(max(value, lo), hi)


def okr_id(area_id: str, week_of: str) -> str:
    """The id of an area's OKR for a week."""
    return f"okr-{area_id}-{week_of}"


def build_okr(
    area_id: str,
    week_of: str,
    as_of: str,
    plays: Sequence[Play],
    bench: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The ``okr.json`` document of one area (see the module docstring)."""
    krs: list[dict[str, Any]] = []
    for i, play in enumerate(plays, start=1):
        kpi = next(
            (
                e.kpi
                for e in play.lever.effects
                if bench.get(e.kpi, {}).get("value") is not None and e.kpi in play.kpi_effects
            ),
            None,
        )
        kr: dict[str, Any] = {
            "kr_id": f"kr{i}",
            "lever_id": play.lever.id,
            "category": play.lever.category,
            "owner": play.lever.owner,
        }
        if kpi is None:
            kr.update(
                kpi=None, text=f"Run '{play.lever.title}' all week", baseline=None, target=None
            )
        else:
            base = float(bench[kpi]["value"])
            eff = play.kpi_effects[kpi]
            k = KPIS[kpi]
            target = round(_feasible(kpi, base + eff.mean), 2)
            direction = "up" if eff.mean > 0 else "down"
            kr.update(
                kpi=kpi,
                baseline=round(base, 2),
                target=target,
                target_p10=round(_feasible(kpi, base + eff.p10), 2),
                target_p90=round(_feasible(kpi, base + eff.p90), 2),
                direction=direction,
                text=(
                    f"{'Raise' if direction == 'up' else 'Cut'} {k.title} from {base:,.1f} to "
                    f"{target:,.1f} {k.unit} with '{play.lever.title}'"
                ),
            )
        krs.append(kr)
    tot = totals(plays)
    weakest = min(
        (kr for kr in krs if kr.get("kpi") is not None),
        key=lambda kr: bench[kr["kpi"]].get("percentile") or 0.0,
        default=None,
    )
    focus = KPIS[weakest["kpi"]].title if weakest else "the tails"
    gp = tot.get("net_gp")
    objective = f"Squeeze the {focus} tail this week"
    if gp is not None and gp.mean > 0:
        objective += f" and add ${gp.mean:,.0f} of gross profit net of the levers' cost"
    elif gp is not None:
        objective += " while keeping the levers' cost inside their gross-profit lift"
    return {
        "okr_id": okr_id(area_id, week_of),
        "area_id": area_id,
        "week_of": week_of,
        "as_of": as_of,
        "owner": f"area-agent:{area_id}",
        "objective": objective,
        "levers": [p.to_dict() for p in plays],
        "key_results": krs,
        "expected": {k: v.to_dict() for k, v in tot.items()},
    }


def score_okr(okr: Mapping[str, Any], scorecard: Mapping[str, float | None]) -> dict[str, Any]:
    """Score a past OKR against this week's KPI values (met / partly / missed per key result)."""
    scored = []
    for kr in okr.get("key_results", []):
        kpi = kr.get("kpi")
        realised = scorecard.get(kpi) if kpi else None
        base, target = kr.get("baseline"), kr.get("target")
        if realised is None or base is None or target is None:
            status, progress = "missed", None
        elif target == base:
            status, progress = ("met", 1.0)
        else:
            progress = (realised - base) / (target - base)
            status = "met" if progress >= 1.0 else "partly" if progress > 0 else "missed"
        scored.append(
            {
                "kr_id": kr.get("kr_id"),
                "kpi": kpi,
                "baseline": base,
                "target": target,
                "realised": None if realised is None else round(float(realised), 2),
                "progress": None if progress is None else round(progress, 3),
                "status": status,
            }
        )
    statuses = {s["status"] for s in scored}
    overall = "met" if statuses == {"met"} else "missed" if statuses <= {"missed"} else "partly"
    return {
        "okr_id": okr["okr_id"],
        "area_id": okr["area_id"],
        "week_of": okr["week_of"],
        "overall": overall,
        "key_results": scored,
    }


def committed_okrs(ledger: Ledger, week_of: str) -> dict[str, dict[str, Any]]:
    """The committed OKRs of a week by area (the latest committed record per okr_id)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in ledger.records(kind="okr"):
        f = rec.fields
        if f.get("week_of") == week_of and f.get("status") == "committed":
            out[str(f["area_id"])] = dict(f)
    return out


def _existing(ledger: Ledger) -> set[tuple[str, str]]:
    return {(r.record_id, str(r.fields.get("status"))) for r in ledger.records(kind="okr")}


def commit(
    ledger: Ledger,
    okrs: Iterable[Mapping[str, Any]],
    scores: Iterable[Mapping[str, Any]] = (),
) -> int:
    """Append committed OKRs and last week's scores as ``okr`` records; returns records written."""
    have = _existing(ledger)
    items: list[tuple[str, dict[str, Any]]] = []
    for score in scores:
        if (score["okr_id"], "scored") in have:
            continue
        items.append(("okr", {**score, "status": "scored"}))
    for okr in okrs:
        if (okr["okr_id"], "committed") in have:
            continue
        record = {
            "okr_id": okr["okr_id"],
            "area_id": okr["area_id"],
            "week_of": okr["week_of"],
            "as_of": okr["as_of"],
            "status": "committed",
            "owner": okr["owner"],
            "objective": okr["objective"],
            "key_results": okr["key_results"],
            "levers": [
                {
                    "lever_id": lv["lever_id"],
                    "category": lv["category"],
                    "owner": lv["owner"],
                    "gp_lift": lv["gp_lift"],
                    "revenue_lift": lv["revenue_lift"],
                    "cost": lv["cost"],
                    # what the area agent carries out next week (tailguard.agents.levers)
                    "interventions": lv.get("interventions", []),
                    "kpi_effects": lv.get("kpi_effects", {}),
                }
                for lv in okr["levers"]
            ],
            "expected": okr["expected"],
        }
        items.append(("okr", record))
    written = 0
    for start in range(0, len(items), 500):
        written += len(ledger.append_many(items[start : start + 500]))
    return written
