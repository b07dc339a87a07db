"""Seeded market side of the recruiting dataset: carriers, postings, accounts and the road.

Part of :func:`tailguard.roles.recruiting.seed.generate`; each function draws from the shared
``rng`` in a fixed order, so the dataset stays the same for a given seed.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from tailguard.clock import format_ts
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.geo import ZIPS
from tailguard.roles.recruiting.seed_data import (
    CARRIER_A,
    CARRIER_B,
    DFW,
    EQUIPMENT_PREMIUM,
    HOME_TIME,
    ROUTE_BASE_CPM,
    ROUTES,
    WEEKLY_MILES,
    Dataset,
    ago,
    clip,
    near,
    weighted,
)


def add_carriers(rng: random.Random, data: Dataset, count: int) -> list[dict[str, Any]]:
    """Carriers: log-uniform fleet sizes (most carriers are small), FMCSA-like OOS rates.

    C-001 is always rated Satisfactory and based in 75061.
    """
    zips = sorted(ZIPS)
    dots = rng.sample(range(1_000_000, 4_000_000), count)
    mcs = rng.sample(range(100_000, 1_000_000), count)
    for i in range(count):
        rating = weighted(rng, ("Satisfactory", "Conditional", "Unrated"), (0.62, 0.08, 0.30))
        units = int(math.exp(rng.uniform(math.log(5), math.log(2000))))
        bump = 4.0 if rating == "Conditional" else 0.0
        data.add(
            "rc_carriers",
            {
                "carrier_id": f"C-{i + 1:03d}",
                "name": f"{CARRIER_A[i % len(CARRIER_A)]} {CARRIER_B[(i * 3 + i // len(CARRIER_A)) % len(CARRIER_B)]}",
                "dot_number": dots[i],
                "mc_number": mcs[i],
                "safety_rating": "Satisfactory" if i == 0 else rating,
                "driver_oos_rate": round(clip(rng.gauss(5.5, 2.5) + bump, 0.5, 18.0), 1),
                "vehicle_oos_rate": round(clip(rng.gauss(21.0, 7.0) + bump, 3.0, 45.0), 1),
                "power_units": units,
                "drivers_count": int(units * rng.uniform(1.0, 1.2)),
                "crashes_24mo": int(units * rng.uniform(0.0, 0.04)),
                "home_zip": "75061" if i == 0 else rng.choice(zips),
            },
        )
    return data.rows["rc_carriers"]


def add_postings(
    rng: random.Random, data: Dataset, now: datetime, carrier_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """150 postings; the first five are DFW anchors paying above $0.55 per loaded mile."""
    zips = sorted(ZIPS)
    dests = ("30303", "77001", "73101", "38103", "80202")
    for i in range(150):
        anchor = i < 5
        carrier = carrier_rows[i % 3] if anchor else rng.choice(carrier_rows)
        route = "regional" if anchor else weighted(rng, t.ROUTE_TYPES, (0.45, 0.30, 0.10, 0.15))
        equipment = (
            "dry_van"
            if anchor and i < 3
            else ("reefer" if anchor else weighted(rng, t.EQUIPMENT, (0.5, 0.22, 0.17, 0.11)))
        )
        origin = (
            DFW[i % len(DFW)]
            if anchor
            else (carrier["home_zip"] if rng.random() < 0.5 else rng.choice(zips))
        )
        dest = (
            dests[i]
            if anchor
            else (origin if route == "local" else rng.choice([z for z in zips if z != origin]))
        )
        o, d = ZIPS[origin], ZIPS[dest]
        cpm = clip(
            ROUTE_BASE_CPM[route] + EQUIPMENT_PREMIUM[equipment] + rng.gauss(0, 0.03), 0.45, 0.85
        )
        if anchor:
            cpm = 0.57 + 0.02 * i
        empty_kind = rng.random()
        cpm_empty = (
            cpm
            if empty_kind < 0.5
            else (round(rng.uniform(0.30, 0.45), 2) if empty_kind < 0.8 else 0.0)
        )
        lo, hi = WEEKLY_MILES[route]
        required = ["N"] if equipment == "tanker" else []
        if equipment == "tanker" and rng.random() < 0.4:
            required = ["H", "N"]
        data.add(
            "rc_postings",
            {
                "posting_id": f"P-{i + 1:04d}",
                "carrier_id": carrier["carrier_id"],
                "title": f"{route} {equipment.replace('_', ' ')} driver, {o.hub} to {d.hub}",
                "equipment": equipment,
                "route_type": route,
                "origin_zip": origin,
                "dest_zip": dest,
                "lane": f"{o.hub}-{d.hub}",
                "region": o.region,
                "cpm_loaded": round(cpm, 2),
                "cpm_empty": round(cpm_empty, 2),
                "weekly_miles": rng.randrange(lo, hi + 1, 50),
                "sign_on_bonus": rng.choice((0, 0, 1000, 1500, 2500, 3000, 5000, 7500, 10000)),
                "home_time": HOME_TIME[route],
                "hiring_zips": near(o, 120 if anchor else 250)[:8],
                "min_experience_years": 1.0 if anchor else rng.choice((0.0, 0.5, 1.0, 2.0)),
                "cdl_class": "B" if route == "local" and rng.random() < 0.3 else "A",
                "required_endorsements": required,
                "openings": rng.randint(1, 12),
                "status": "open" if anchor or rng.random() < 0.9 else "filled",
                "posted_at": format_ts(ago(rng, now, 0, 60)),
            },
        )
    return data.rows["rc_postings"]


def add_accounts(
    rng: random.Random, data: Dataset, now: datetime, carriers: list[dict[str, Any]]
) -> None:
    """A customer account per carrier, with market signals and sales opportunities."""
    owners = ("Jordan Lee", "Casey Kim", "Riley Chen", "Morgan Diaz")
    for i, carrier in enumerate(carriers):
        account_id = f"ACC-{i + 1:03d}"
        units = carrier["power_units"]
        tier = "enterprise" if units >= 500 else ("growth" if units >= 60 else "starter")
        data.add(
            "rc_accounts",
            {
                "account_id": account_id,
                "name": carrier["name"],
                "carrier_id": carrier["carrier_id"],
                "tier": tier,
                "annual_contract_usd": int(units * rng.uniform(90, 160)) + 2400,
                "health_score": rng.randint(30, 98),
                "owner": rng.choice(owners),
                "renewal_date": format_ts(now + timedelta(days=rng.randint(15, 330))),
            },
        )
        for k in range(rng.randint(4, 9)):
            kind = rng.choice(
                (
                    "spot_rate",
                    "capacity",
                    "lane_demand",
                    "disruption",
                    "driver_shortage",
                    "churn_risk",
                )
            )
            origin = ZIPS[rng.choice(sorted(ZIPS))]
            dest = ZIPS[rng.choice(sorted(ZIPS))]
            equipment = rng.choice(t.EQUIPMENT)
            value, unit, detail = {
                "spot_rate": (
                    round(rng.uniform(1.7, 3.2), 2),
                    "usd_per_mile",
                    f"{equipment} spot rate on {origin.hub}-{dest.hub}",
                ),
                "capacity": (
                    round(rng.uniform(1.5, 9.0), 1),
                    "loads_per_truck",
                    f"load-to-truck ratio out of {origin.hub}",
                ),
                "lane_demand": (
                    float(rng.randint(5, 120)),
                    "loads_per_week",
                    f"tendered loads {origin.hub}-{dest.hub}",
                ),
                "disruption": (
                    float(rng.randint(1, 5)),
                    "severity_1_5",
                    f"{rng.choice(('storm', 'port congestion', 'bridge work', 'fuel shortage'))} near {origin.city}",
                ),
                "driver_shortage": (
                    float(rng.randint(1, 25)),
                    "open_seats",
                    f"unseated trucks at {origin.hub} terminal",
                ),
                "churn_risk": (
                    round(rng.uniform(0.05, 0.6), 2),
                    "probability",
                    "90-day driver churn risk",
                ),
            }[kind]
            data.add(
                "rc_signals",
                {
                    "signal_id": f"SG-{i + 1:03d}-{k + 1:02d}",
                    "account_id": account_id,
                    "kind": kind,
                    "region": origin.region,
                    "lane": f"{origin.hub}-{dest.hub}",
                    "equipment": equipment,
                    "value": value,
                    "unit": unit,
                    "detail": detail,
                    "observed_at": format_ts(now - timedelta(hours=rng.uniform(1, 24 * 14))),
                },
            )
        for k in range(rng.randint(0 if i else 2, 4)):
            data.add(
                "rc_opportunities",
                {
                    "opportunity_id": f"OP-{i + 1:03d}-{k + 1}",
                    "account_id": account_id,
                    "title": rng.choice(
                        (
                            "Dedicated fleet expansion",
                            "Regional lane add",
                            "Driver referral program",
                            "Seasonal surge hiring",
                        )
                    ),
                    "stage": rng.choice(
                        ("prospecting", "qualified", "proposal", "negotiation", "won", "lost")
                    ),
                    "value_usd": rng.randrange(5_000, 250_000, 500),
                    "drivers_needed": rng.randint(2, 40),
                    "close_date": format_ts(now + timedelta(days=rng.randint(-30, 120))),
                },
            )


def add_road_and_parking(rng: random.Random, data: Dataset, now: datetime) -> None:
    """Road conditions on the interstates and truck parking (the first few around DFW)."""
    zips = sorted(ZIPS)
    for i in range(60):
        zip_code = DFW[i % len(DFW)] if i < 6 else rng.choice(zips)
        kind = weighted(
            rng,
            ("clear", "construction", "weather", "accident", "closure"),
            (0.45, 0.25, 0.15, 0.1, 0.05),
        )
        delay = {
            "clear": 0,
            "construction": rng.randint(5, 35),
            "weather": rng.randint(10, 90),
            "accident": rng.randint(10, 60),
            "closure": rng.randint(45, 240),
        }[kind]
        severity = (
            "none"
            if delay == 0
            else ("minor" if delay < 20 else ("moderate" if delay < 60 else "major"))
        )
        data.add(
            "rc_road_conditions",
            {
                "condition_id": f"RC-{i + 1:03d}",
                "route": ROUTES[i % len(ROUTES)] if i >= 6 else "I-35",
                "zip": zip_code,
                "kind": kind,
                "severity": severity,
                "delay_min": delay,
                "detail": f"{kind} on {ROUTES[i % len(ROUTES)] if i >= 6 else 'I-35'} near {ZIPS[zip_code].city}",
                "updated_at": format_ts(now - timedelta(minutes=rng.randint(5, 600))),
            },
        )
    for i in range(70):
        zip_code = DFW[i % len(DFW)] if i < 8 else rng.choice(zips)
        total = rng.randint(20, 250)
        data.add(
            "rc_parking",
            {
                "location_id": f"PK-{i + 1:03d}",
                "name": f"{ZIPS[zip_code].city} Truck Plaza {i + 1}",
                "zip": zip_code,
                "route": rng.choice(ROUTES),
                "spaces_total": total,
                "spaces_available": rng.randint(0, total),
                "amenities": sorted(
                    rng.sample(
                        ["showers", "fuel", "scales", "restaurant", "laundry", "wifi", "repair"],
                        rng.randint(1, 4),
                    )
                ),
                "updated_at": format_ts(now - timedelta(minutes=rng.randint(1, 240))),
            },
        )
