"""The simulator's true expected effect of each intervention arm, by area type and tenure.

For evaluation harnesses only (the learning benchmark's oracle, regret and harmful-pick
counts): it reads the means of the hidden effect draws in :mod:`tailguard.sim.effects` and the
actuators' scaling of them, which no agent may see. The value is the *gross* expected effect on
what the decision is judged by (its outcome KPI, where the mechanism differs by KPI), signed so
that positive helps the tail it targets; costs are not subtracted:

* routing boost: the share of the zip's travel time by which arrivals move earlier: the padded
  estimate sends techs out ``weight`` earlier, and the drive itself is shorter (cities) or
  longer (rural detours) by the hidden saving scaled by ``weight / 0.15``;
* surge pay window: the chance an off-shift tech joins; recruiting SMS: the chance a dormant
  tech answers, times the campaign's size; apology credit: NPS points; locker buffer: units
  staged; nearby jobs and surge shifts: the chance the tech accepts, times the jobs moved;
* master-tech shadow: NPS points for NPS outcomes, the share of recalls avoided for recall
  outcomes, diagnosis log-odds for parts (multi-part) outcomes: rookies gain on all three,
  veterans resent it (NPS down, recalls up) and gain no skill.

:func:`normalised` divides by the largest absolute effect of the kind (and, for the shadow, of
the outcome) over every context and catalogue level, so effects of different kinds compare on
one scale (1 = the best case of the kind).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from tailguard.sim.effects import ROUTE_SAVING, SHADOW_VETERAN_NPS

AREA_TYPES: Final = ("urban", "suburban", "rural")

#: How an outcome KPI reads a master-tech shadow: (rookie, veteran) mean effect.
_SHADOW: Final = {
    "nps": (1.6, SHADOW_VETERAN_NPS),  # NPS points
    "recall": (0.35, -0.10),  # share of recalls avoided (the recall multiplier, negated)
    "parts": (0.7, 0.0),  # diagnosis log-odds: fewer second visits for parts
}


def _type_index(area_type: str) -> int | None:
    return AREA_TYPES.index(area_type) if area_type in AREA_TYPES else None


def _shadow_channel(kpi: str | None) -> str:
    if kpi is not None and kpi.startswith("recall"):
        return "recall"
    if kpi is not None and (kpi.startswith("multi_part") or kpi.startswith("parts")):
        return "parts"
    return "nps"


def expected_effect(
    kind: str,
    args: Mapping[str, Any],
    area_type: str,
    tenure: str,
    kpi: str | None = None,
) -> float | None:
    """The true expected gross effect of ``kind`` with ``args`` in that context.

    ``tenure`` is ``rookie``, ``veteran``, ``unknown`` or ``-`` (not a tech target); an unknown
    area type or tenure averages over the possibilities. ``kpi`` is the decision's outcome KPI
    (it matters for the shadow). None for an unknown kind.
    """
    t = _type_index(area_type)
    if t is None:
        values = [expected_effect(kind, args, a, tenure, kpi) for a in AREA_TYPES]
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None
    if kind == "routing_weight_boost":
        weight = float(args.get("weight", 0.15))
        return weight * (1.0 + ROUTE_SAVING[t] / 0.15)
    if kind == "surge_pay_window":
        return (0.14, 0.10, 0.05)[t]
    if kind == "recruiting_sms":
        return (0.10, 0.16, 0.26)[t] * float(args.get("max_messages", 25)) / 25.0
    if kind == "apology_credit":
        return (0.7, 1.1, 1.5)[t] * math.sqrt(min(float(args.get("amount_usd", 25)) / 25.0, 2.0))
    if kind == "locker_buffer":
        return float(args.get("units", 6)) / 6.0
    if kind in ("master_tech_shadow", "nearby_job_offer", "surge_shift_offer"):
        if tenure not in ("rookie", "veteran"):
            rookie = _by_tenure(kind, args, t, rookie=True, kpi=kpi)
            veteran = _by_tenure(kind, args, t, rookie=False, kpi=kpi)
            return 0.3 * rookie + 0.7 * veteran
        return _by_tenure(kind, args, t, rookie=tenure == "rookie", kpi=kpi)
    return None


def _by_tenure(
    kind: str, args: Mapping[str, Any], t: int, *, rookie: bool, kpi: str | None
) -> float:
    if kind == "master_tech_shadow":
        return _SHADOW[_shadow_channel(kpi)][0 if rookie else 1]
    accept = (0.8 if rookie else 0.6) * (1.0, 0.95, 0.85)[t]
    if kind == "surge_shift_offer":
        return 0.85 * accept
    return accept * float(args.get("jobs", 2)) / 2.0


#: The largest absolute expected effect of each kind over contexts and catalogue levels.
_SCALE: Final = {
    "routing_weight_boost": 0.25 * max(abs(1.0 + s / 0.15) for s in ROUTE_SAVING),
    "surge_pay_window": 0.14,
    "recruiting_sms": 0.26,
    "apology_credit": 1.5 * math.sqrt(2.0),
    "locker_buffer": 1.0,
    "nearby_job_offer": 0.8 * 1.5,
    "surge_shift_offer": 0.85 * 0.8,
}


def normalised(
    kind: str, args: Mapping[str, Any], area_type: str, tenure: str, kpi: str | None = None
) -> float:
    """:func:`expected_effect` divided by the kind's largest absolute effect (0 if unknown)."""
    value = expected_effect(kind, args, area_type, tenure, kpi)
    if value is None:
        return 0.0
    if kind == "master_tech_shadow":
        scale = max(abs(v) for v in _SHADOW[_shadow_channel(kpi)])
    else:
        scale = _SCALE.get(kind, 1.0)
    return value / scale
