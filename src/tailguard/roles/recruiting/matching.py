"""Driver-to-posting matching: ``find_matches`` and ``explain_match``.

A posting matches when one of its hiring ZIPs is within the search radius, it pays at least
the asked rate per loaded mile, and (for a driver) their CDL class, endorsements and
experience qualify. Matches are ranked by a weighted score whose weights come from
recruiter outcomes (:func:`~tailguard.roles.recruiting.crossrole.ranking_weights`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from tailguard.errors import InvalidInputError
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.crossrole import RankingWeights, ranking_weights
from tailguard.roles.recruiting.env import CallEnv
from tailguard.roles.recruiting.geo import ZIPS, miles_between, zip_point

SAFETY_SCORE = {"Satisfactory": 1.0, "Unrated": 0.6, "Conditional": 0.2}


def _qualifies(driver: Mapping[str, Any], posting: Mapping[str, Any]) -> list[str]:
    gaps = []
    if posting["cdl_class"] == "A" and driver["cdl_class"] != "A":
        gaps.append("needs a class A CDL")
    missing = set(posting["required_endorsements"]) - set(driver["endorsements"])
    if missing:
        gaps.append(f"missing endorsements {sorted(missing)}")
    if driver["experience_years"] < posting["min_experience_years"]:
        gaps.append(f"needs {posting['min_experience_years']} years of experience")
    return gaps


def score(
    posting: Mapping[str, Any],
    carrier: Mapping[str, Any],
    distance: float,
    radius: float,
    weights: RankingWeights,
) -> dict[str, float]:
    """The score of one posting and its parts (each part in 0..1 before weighting)."""
    parts = {
        "pay": max(0.0, min(1.0, (posting["cpm_loaded"] - 0.45) / 0.40)),
        "distance": max(0.0, 1.0 - distance / radius) if radius > 0 else 1.0,
        "safety": SAFETY_SCORE.get(carrier["safety_rating"], 0.5)
        * max(0.0, 1.0 - carrier["driver_oos_rate"] / 30.0),
        "conversion": weights.conversion_factor.get(posting["equipment"], 1.0) / 1.5,
    }
    total = (
        weights.pay * parts["pay"]
        + weights.distance * parts["distance"]
        + weights.safety * parts["safety"]
        + weights.conversion * parts["conversion"]
    )
    return {**{k: round(v, 4) for k, v in parts.items()}, "total": round(total, 4)}


def _distance(posting: Mapping[str, Any], origin: str) -> float:
    here = zip_point(origin)
    return min(
        (miles_between(here, ZIPS[z]) for z in posting["hiring_zips"] if z in ZIPS),
        default=float("inf"),
    )


def find_matches(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Open postings near a ZIP that pay at least ``minCpm``, best first."""
    driver = None
    if env.user.role == "driver":
        driver = env.store.row(
            sa.select(t.drivers).where(t.drivers.c.driver_id == env.subject("driver")),
            what="driver",
        )
    origin = args.get("zip") or (driver["home_zip"] if driver else None)
    if not origin:
        raise InvalidInputError("find_matches needs a zip")
    zip_point(origin)
    radius = float(args.get("maxDistance", 100))
    min_cpm = float(args.get("minCpm", 0.0))
    equipment = args.get("equipment")
    limit = int(args.get("limit", 10))
    weights = ranking_weights(env.store)
    query = (
        sa.select(
            t.postings,
            t.carriers.c.name.label("carrier_name"),
            t.carriers.c.safety_rating,
            t.carriers.c.driver_oos_rate,
            t.carriers.c.dot_number,
        )
        .join(t.carriers, t.carriers.c.carrier_id == t.postings.c.carrier_id)
        .where(t.postings.c.status == "open", t.postings.c.cpm_loaded >= min_cpm)
    )
    if equipment:
        query = query.where(t.postings.c.equipment == equipment)
    matches = []
    for row in env.store.rows(query):
        distance = _distance(row, origin)
        if distance > radius:
            continue
        if driver is not None and _qualifies(driver, row):
            continue
        parts = score(row, row, distance, radius, weights)
        matches.append(
            {
                "posting_id": row["posting_id"],
                "carrier_id": row["carrier_id"],
                "carrier_name": row["carrier_name"],
                "dot_number": row["dot_number"],
                "safety_rating": row["safety_rating"],
                "title": row["title"],
                "lane": row["lane"],
                "equipment": row["equipment"],
                "route_type": row["route_type"],
                "cpm_loaded": row["cpm_loaded"],
                "cpm_empty": row["cpm_empty"],
                "weekly_miles": row["weekly_miles"],
                "sign_on_bonus": row["sign_on_bonus"],
                "home_time": row["home_time"],
                "distance_miles": round(distance, 1),
                "score": parts["total"],
            }
        )
    matches.sort(key=lambda m: (-m["score"], m["posting_id"]))
    matches = matches[:limit]
    carriers = sorted({m["carrier_name"] for m in matches})
    return {
        "summary": (
            f"{len(matches)} open postings from {len(carriers)} carriers within {radius:g} mi "
            f"of {origin} paying at least ${min_cpm:.2f}/mile"
        ),
        "zip": origin,
        "matches": matches,
        "carriers": carriers,
        "weights": {
            "pay": weights.pay,
            "distance": weights.distance,
            "safety": weights.safety,
            "conversion": weights.conversion,
        },
    }


def explain_match(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Why a posting ranks where it does for a driver, and what stands in the way."""
    driver_id = env.user.subject_id if env.user.role == "driver" else args.get("driverId")
    if not driver_id:
        raise InvalidInputError("explain_match needs a driverId")
    driver = env.store.row(
        sa.select(t.drivers).where(t.drivers.c.driver_id == driver_id), what=f"driver {driver_id}"
    )
    posting = env.store.row(
        sa.select(t.postings).where(t.postings.c.posting_id == args["postingId"]),
        what=f"posting {args['postingId']}",
    )
    carrier = env.store.row(
        sa.select(t.carriers).where(t.carriers.c.carrier_id == posting["carrier_id"]),
        what="carrier",
    )
    weights = ranking_weights(env.store)
    distance = _distance(posting, driver["home_zip"])
    radius = float(args.get("maxDistance", 250))
    parts = score(posting, carrier, distance, radius, weights)
    gaps = _qualifies(driver, posting)
    pay_gap = round(posting["cpm_loaded"] - driver["desired_cpm"], 2)
    if pay_gap < 0:
        gaps.append(f"pays ${-pay_gap:.2f}/mile below the driver's desired rate")
    if distance > radius:
        gaps.append(f"nearest hiring ZIP is {distance:.0f} mi from home")
    return {
        "summary": f"score {parts['total']:.2f} for {posting['posting_id']}; "
        + ("no blockers" if not gaps else f"{len(gaps)} gaps"),
        "driver_id": driver_id,
        "posting_id": posting["posting_id"],
        "score": parts,
        "weights": {
            "pay": weights.pay,
            "distance": weights.distance,
            "safety": weights.safety,
            "conversion": weights.conversion,
        },
        "distance_miles": round(distance, 1),
        "pay_gap_cpm": pay_gap,
        "gaps": gaps,
    }
