"""Cross-role intelligence: carrier data for recruiters, recruiter outcomes for carriers.

Carrier side -> recruiter: market intel by region, lane demand, compensation benchmarks, and
a short market summary placed in the recruiter's system prompt. Recruiter side -> carrier:
hiring benchmarks and conversion insights by lane and equipment, and the ranking weights
``find_matches`` uses (lanes and equipment that convert rank higher; pay weighs more when
candidates drop off over pay).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from tailguard.clock import parse_ts
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.store import RecruitingStore


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (k - low), 3)


def pipeline_outcomes(
    store: RecruitingStore, *, carrier_id: str | None = None
) -> list[dict[str, Any]]:
    """Each candidacy with its posting's lane, region, equipment and days to hire."""
    p, j = t.pipeline, t.postings
    query = sa.select(
        p.c.interest_id,
        p.c.status,
        p.c.drop_off_reason,
        p.c.created_at,
        p.c.updated_at,
        j.c.lane,
        j.c.region,
        j.c.equipment,
        j.c.carrier_id,
    ).join(j, j.c.posting_id == p.c.posting_id)
    if carrier_id:
        query = query.where(j.c.carrier_id == carrier_id)
    rows = store.rows(query)
    for row in rows:
        row["days_to_hire"] = (
            round(
                (parse_ts(row["updated_at"]) - parse_ts(row["created_at"])).total_seconds() / 86400,
                1,
            )
            if row["status"] == "hired"
            else None
        )
    return rows


def funnel(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Conversion figures of a set of candidacies."""
    rows = list(rows)
    total = len(rows)
    hired = sum(1 for r in rows if r["status"] == "hired")
    dropped = [r for r in rows if r["status"] in t.TERMINAL]
    reached_interview = sum(1 for r in rows if r["status"] in ("interview", "offer", "hired"))
    days = [float(r["days_to_hire"]) for r in rows if r["days_to_hire"] is not None]
    reasons = Counter(str(r["drop_off_reason"]) for r in dropped if r["drop_off_reason"])
    return {
        "candidates": total,
        "hired": hired,
        "conversion_rate": round(hired / total, 3) if total else None,
        "interview_rate": round(reached_interview / total, 3) if total else None,
        "drop_off_rate": round(len(dropped) / total, 3) if total else None,
        "median_days_to_hire": round(statistics.median(days), 1) if days else None,
        "top_drop_off_reasons": [{"reason": k, "count": v} for k, v in reasons.most_common(3)],
    }


def hiring_benchmarks(
    store: RecruitingStore, *, by: str = "equipment", carrier_id: str | None = None
) -> list[dict[str, Any]]:
    """Recruiter outcomes grouped by ``lane``, ``region`` or ``equipment``."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in pipeline_outcomes(store, carrier_id=carrier_id):
        groups[str(row[by])].append(row)
    return [
        {by: key, **funnel(rows)}
        for key, rows in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class RankingWeights:
    """How ``find_matches`` weighs pay, distance, carrier safety and hiring conversion.

    ``conversion_factor`` maps an equipment type to its conversion rate relative to the whole
    network (1.0 = average), from recruiter outcomes.
    """

    pay: float
    distance: float
    safety: float
    conversion: float
    conversion_factor: Mapping[str, float] = field(default_factory=dict)
    pay_drop_off_share: float = 0.0


BASE_WEIGHTS = {"pay": 0.40, "distance": 0.25, "safety": 0.15, "conversion": 0.20}


def ranking_weights(store: RecruitingStore) -> RankingWeights:
    """Match-ranking weights fed by recruiter outcomes.

    Pay's weight grows with the share of drop-offs blamed on pay (candidates tell us pay
    matters more than the base weights assume); each equipment type's conversion relative to
    the network scales the conversion term.
    """
    rows = pipeline_outcomes(store)
    overall = funnel(rows)["conversion_rate"] or 0.0
    by_equipment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_equipment[str(row["equipment"])].append(row)
    factors = {}
    for equipment, group in by_equipment.items():
        rate = funnel(group)["conversion_rate"] or 0.0
        factors[equipment] = round(max(0.5, min(1.5, rate / overall)), 3) if overall else 1.0
    dropped = [r for r in rows if r["status"] in t.TERMINAL]
    pay_share = (
        sum(1 for r in dropped if r["drop_off_reason"] == "pay_below_expectation") / len(dropped)
        if dropped
        else 0.0
    )
    raw = dict(BASE_WEIGHTS)
    raw["pay"] *= 1 + pay_share
    total = sum(raw.values())
    return RankingWeights(
        pay=round(raw["pay"] / total, 4),
        distance=round(raw["distance"] / total, 4),
        safety=round(raw["safety"] / total, 4),
        conversion=round(raw["conversion"] / total, 4),
        conversion_factor=factors,
        pay_drop_off_share=round(pay_share, 3),
    )


def _open_postings(store: RecruitingStore) -> list[dict[str, Any]]:
    return store.rows(sa.select(t.postings).where(t.postings.c.status == "open"))


def market_intel(store: RecruitingStore, *, region: str | None = None) -> list[dict[str, Any]]:
    """Carrier-side demand, pay and capacity by region (from postings and B2B signals)."""
    postings = _open_postings(store)
    signals = store.rows(sa.select(t.signals))
    regions = sorted({p["region"] for p in postings} | {s["region"] for s in signals})
    out = []
    for name in regions:
        if region and name.lower() != region.lower():
            continue
        ps = [p for p in postings if p["region"] == name]
        ss = [s for s in signals if s["region"] == name]
        spot = [s["value"] for s in ss if s["kind"] == "spot_rate"]
        capacity = [s["value"] for s in ss if s["kind"] == "capacity"]
        out.append(
            {
                "region": name,
                "open_postings": len(ps),
                "open_seats": sum(p["openings"] for p in ps),
                "avg_cpm_loaded": round(statistics.fmean(p["cpm_loaded"] for p in ps), 3)
                if ps
                else None,
                "avg_sign_on_bonus": round(statistics.fmean(p["sign_on_bonus"] for p in ps))
                if ps
                else None,
                "unseated_trucks": int(
                    sum(s["value"] for s in ss if s["kind"] == "driver_shortage")
                ),
                "avg_spot_rate_usd_per_mile": round(statistics.fmean(spot), 2) if spot else None,
                "avg_load_to_truck_ratio": round(statistics.fmean(capacity), 1)
                if capacity
                else None,
                "disruptions": sum(1 for s in ss if s["kind"] == "disruption"),
            }
        )
    return sorted(out, key=lambda r: -r["open_seats"])


def lane_demand(
    store: RecruitingStore, *, equipment: str | None = None, limit: int = 10
) -> list[dict[str, Any]]:
    """Lanes ranked by open seats plus tendered loads per week."""
    seats: Counter[str] = Counter()
    cpm: dict[str, list[float]] = defaultdict(list)
    for p in _open_postings(store):
        if equipment and p["equipment"] != equipment:
            continue
        seats[p["lane"]] += p["openings"]
        cpm[p["lane"]].append(p["cpm_loaded"])
    loads: Counter[str] = Counter()
    for s in store.rows(sa.select(t.signals).where(t.signals.c.kind == "lane_demand")):
        if equipment and s["equipment"] != equipment:
            continue
        loads[str(s["lane"])] += int(s["value"])
    lanes = set(seats) | set(loads)
    rows: list[dict[str, Any]] = [
        {
            "lane": lane,
            "open_seats": seats[lane],
            "loads_per_week": loads[lane],
            "avg_cpm_loaded": round(statistics.fmean(cpm[lane]), 3) if cpm[lane] else None,
            "demand_score": seats[lane] * 10 + loads[lane],
        }
        for lane in lanes
    ]
    return sorted(rows, key=lambda r: (-r["demand_score"], r["lane"]))[:limit]


def compensation_benchmarks(
    store: RecruitingStore,
    *,
    equipment: str | None = None,
    route_type: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """Pay percentiles of open postings matching the filters."""
    ps = [
        p
        for p in _open_postings(store)
        if (not equipment or p["equipment"] == equipment)
        and (not route_type or p["route_type"] == route_type)
        and (not region or p["region"].lower() == region.lower())
    ]
    cpm = [p["cpm_loaded"] for p in ps]
    weekly = [p["cpm_loaded"] * p["weekly_miles"] for p in ps]
    return {
        "postings": len(ps),
        "cpm_loaded": {"p25": _pct(cpm, 0.25), "p50": _pct(cpm, 0.5), "p75": _pct(cpm, 0.75)},
        "weekly_gross_usd": {
            "p25": _pct(weekly, 0.25),
            "p50": _pct(weekly, 0.5),
            "p75": _pct(weekly, 0.75),
        },
        "sign_on_bonus_median": _pct([float(p["sign_on_bonus"]) for p in ps], 0.5),
        "paid_empty_miles_share": round(sum(1 for p in ps if p["cpm_empty"] > 0) / len(ps), 3)
        if ps
        else None,
    }


def market_summary(store: RecruitingStore) -> str:
    """Two sentences of current market context for the recruiter's system prompt."""
    regions = market_intel(store)
    lanes = lane_demand(store, limit=3)
    comp = compensation_benchmarks(store, equipment="dry_van")
    if not regions:
        return "No current carrier market data."
    top = regions[0]
    lane_text = ", ".join(f"{lane['lane']} ({lane['open_seats']} seats)" for lane in lanes)
    return (
        f"Current market shows the highest driver demand in the {top['region']} "
        f"({top['open_seats']} open seats across {top['open_postings']} postings, average "
        f"${top['avg_cpm_loaded']:.2f}/mile loaded). Busiest lanes: {lane_text}. "
        f"Dry-van pay benchmark P50 ${comp['cpm_loaded']['p50']:.2f}/mile."
    )
