"""The simulator's true expected effect of each intervention arm, by area type and tenure.

For evaluation harnesses only (the learning benchmark's oracle, regret and harmful-pick
counts): it reads the means of the hidden effect draws in :mod:`tailguard.sim.effects` and the
actuators' scaling of them, which no agent may see. The value is the *gross* expected effect on
the intervention's own channel (travel time saved, chance a tech joins or accepts, NPS points,
expected units of stock), signed so that positive helps the tail it targets; costs are not
subtracted. :func:`normalised` divides by the largest absolute effect of the kind over every
context, so effects of different kinds compare on one scale (1 = the best case of the kind).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from tailguard.sim.effects import ROUTE_SAVING, SHADOW_VETERAN_NPS

AREA_TYPES: Final = ("urban", "suburban", "rural")


def _type_index(area_type: str) -> int | None:
    return AREA_TYPES.index(area_type) if area_type in AREA_TYPES else None


def expected_effect(
    kind: str, args: Mapping[str, Any], area_type: str, tenure: str
) -> float | None:
    """The true expected gross effect of ``kind`` with ``args`` in that context.

    ``tenure`` is ``rookie``, ``veteran``, ``unknown`` or ``-`` (not a tech target); an unknown
    area type or tenure averages over the possibilities. None for an unknown kind.
    """
    t = _type_index(area_type)
    if t is None:
        values = [expected_effect(kind, args, a, tenure) for a in AREA_TYPES]
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None
    if kind == "routing_weight_boost":
        return ROUTE_SAVING[t] * float(args.get("weight", 0.15)) / 0.15
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
            rookie = _by_tenure(kind, args, t, rookie=True)
            veteran = _by_tenure(kind, args, t, rookie=False)
            return 0.3 * rookie + 0.7 * veteran
        return _by_tenure(kind, args, t, rookie=tenure == "rookie")
    return None


def _by_tenure(kind: str, args: Mapping[str, Any], t: int, *, rookie: bool) -> float:
    if kind == "master_tech_shadow":
        return 1.6 if rookie else SHADOW_VETERAN_NPS  # NPS points: a veteran resents it
    accept = (0.8 if rookie else 0.6) * (1.0, 0.95, 0.85)[t]
    if kind == "surge_shift_offer":
        return 0.85 * accept
    return accept * float(args.get("jobs", 2)) / 2.0


#: The largest absolute expected effect of each kind over contexts and its catalogue levels
#: (computed lazily by :func:`normalised` from the arms it sees).
_SCALE: dict[str, float] = {
    "routing_weight_boost": 0.10 * 0.25 / 0.15,
    "surge_pay_window": 0.14,
    "recruiting_sms": 0.26,
    "apology_credit": 1.5 * math.sqrt(2.0),
    "locker_buffer": 1.0,
    "master_tech_shadow": 1.6,
    "nearby_job_offer": 0.8 * 1.5,
    "surge_shift_offer": 0.85 * 0.8,
}


def normalised(kind: str, args: Mapping[str, Any], area_type: str, tenure: str) -> float:
    """:func:`expected_effect` divided by the kind's largest absolute effect (0 if unknown)."""
    value = expected_effect(kind, args, area_type, tenure)
    if value is None:
        return 0.0
    return value / _SCALE.get(kind, 1.0)
