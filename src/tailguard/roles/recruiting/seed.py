"""The seeded synthetic recruiting dataset (ranges and sources in docs/recruiting.md).

Deterministic from ``seed`` and ``now``: the same pair always writes the same rows. A few
anchor rows are fixed so the documented scenarios always have data: postings around ZIP
75001 paying more than $0.55 per loaded mile, recruiter R-001's candidate John Davis at the
screening stage, and account ACC-001.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tailguard.clock import format_ts
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.geo import ZIPS, ZipPoint, miles_between

FIRST = [
    "Aaron",
    "Adriana",
    "Andre",
    "Angela",
    "Brandon",
    "Carla",
    "Carlos",
    "Darius",
    "Dawn",
    "Derek",
    "Elena",
    "Ernesto",
    "Faith",
    "Gary",
    "Hector",
    "Imani",
    "Jamal",
    "Janet",
    "Jerome",
    "Karen",
    "Keisha",
    "Kevin",
    "Latoya",
    "Luis",
    "Marcus",
    "Maria",
    "Mike",
    "Nadia",
    "Omar",
    "Pedro",
    "Rafael",
    "Renee",
    "Ricky",
    "Rosa",
    "Sam",
    "Tanya",
    "Terrell",
    "Tony",
    "Travis",
    "Vanessa",
    "Wade",
    "Yolanda",
]
LAST = [
    "Adams",
    "Alvarez",
    "Baker",
    "Banks",
    "Brooks",
    "Carter",
    "Castillo",
    "Coleman",
    "Diaz",
    "Edwards",
    "Evans",
    "Flores",
    "Foster",
    "Garcia",
    "Gomez",
    "Green",
    "Hall",
    "Harris",
    "Hayes",
    "Jackson",
    "Jenkins",
    "Johnson",
    "Jones",
    "Kelly",
    "Lopez",
    "Martin",
    "Mendoza",
    "Miller",
    "Morgan",
    "Nguyen",
    "Ortiz",
    "Parker",
    "Patel",
    "Perez",
    "Price",
    "Ramirez",
    "Reed",
    "Rivera",
    "Rogers",
    "Sanders",
    "Scott",
    "Simmons",
    "Torres",
    "Turner",
    "Walker",
    "Ward",
    "Washington",
    "Watson",
    "White",
    "Williams",
    "Wright",
]
CARRIER_A = [
    "Lone Star",
    "Red River",
    "Blue Ridge",
    "Great Plains",
    "Prairie",
    "Summit",
    "Iron Horse",
    "Gulf Coast",
    "Heartland",
    "Cascade",
    "Sierra",
    "Pioneer",
    "Liberty",
    "Keystone",
    "Magnolia",
    "Trinity",
    "Frontier",
    "Eagle",
    "Bluegrass",
    "Mesa",
]
CARRIER_B = [
    "Freight Lines",
    "Transport",
    "Logistics",
    "Carriers",
    "Trucking",
    "Express",
    "Haulers",
    "Freightways",
]
ROUTES = (
    "I-35",
    "I-20",
    "I-30",
    "I-45",
    "I-40",
    "I-10",
    "I-70",
    "I-80",
    "I-95",
    "I-75",
    "I-5",
    "I-94",
)
DROP_REASONS = (
    "pay_below_expectation",
    "home_time",
    "lost_contact",
    "failed_background",
    "took_other_offer",
    "equipment_mismatch",
)
FUNNEL_ADVANCE = {
    "lead": 0.72,
    "contacted": 0.62,
    "screening": 0.58,
    "interview": 0.62,
    "offer": 0.78,
}
ROUTE_BASE_CPM = {"OTR": 0.58, "regional": 0.56, "local": 0.52, "dedicated": 0.60}
EQUIPMENT_PREMIUM = {"dry_van": 0.0, "reefer": 0.04, "flatbed": 0.07, "tanker": 0.10}
WEEKLY_MILES = {
    "OTR": (2300, 3000),
    "regional": (1800, 2500),
    "local": (800, 1500),
    "dedicated": (2000, 2700),
}
HOME_TIME = {
    "OTR": "every 2-3 weeks",
    "regional": "weekly",
    "local": "daily",
    "dedicated": "weekly",
}
DFW = [z for z, p in ZIPS.items() if p.hub == "DFW"]


@dataclass(kw_only=True, slots=True)
class Dataset:
    """Rows per table, ready for one bulk insert each."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row for ``table``."""
        self.rows.setdefault(table, []).append(row)


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _weighted(rng: random.Random, options: Sequence[str], weights: Sequence[float]) -> str:
    return rng.choices(list(options), weights=list(weights))[0]


def _near(origin: ZipPoint, radius: float) -> list[str]:
    return sorted(z for z, p in ZIPS.items() if miles_between(origin, p) <= radius)


def generate(*, seed: int, now: datetime, drivers: int = 400, carriers: int = 40) -> Dataset:
    """Build the whole dataset in memory (a few thousand rows; milliseconds)."""
    rng = random.Random(seed)
    data = Dataset()
    zips = sorted(ZIPS)

    def ago(days_low: float, days_high: float) -> datetime:
        return now - timedelta(days=rng.uniform(days_low, days_high))

    # Carriers: log-uniform fleet sizes (most carriers are small), FMCSA-like OOS rates.
    dots = rng.sample(range(1_000_000, 4_000_000), carriers)
    mcs = rng.sample(range(100_000, 1_000_000), carriers)
    for i in range(carriers):
        rating = _weighted(rng, ("Satisfactory", "Conditional", "Unrated"), (0.62, 0.08, 0.30))
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
                "driver_oos_rate": round(_clip(rng.gauss(5.5, 2.5) + bump, 0.5, 18.0), 1),
                "vehicle_oos_rate": round(_clip(rng.gauss(21.0, 7.0) + bump, 3.0, 45.0), 1),
                "power_units": units,
                "drivers_count": int(units * rng.uniform(1.0, 1.2)),
                "crashes_24mo": int(units * rng.uniform(0.0, 0.04)),
                "home_zip": "75061" if i == 0 else rng.choice(zips),
            },
        )
    carrier_rows = data.rows["rc_carriers"]

    # Drivers. D-0001 lives in Addison (75001); D-0008 is John Davis, R-001's candidate.
    for i in range(drivers):
        years = (
            rng.uniform(0.1, 1.0) if rng.random() < 0.15 else min(35.0, rng.gammavariate(2.0, 4.0))
        )
        equipment = _weighted(rng, t.EQUIPMENT, (0.55, 0.20, 0.15, 0.10))
        endorsements = [
            e
            for e, p in zip(t.ENDORSEMENTS, (0.18, 0.15, 0.12, 0.08, 0.02), strict=True)
            if rng.random() < p
        ]
        if equipment == "tanker" and "N" not in endorsements:
            endorsements.append("N")
        row = {
            "driver_id": f"D-{i + 1:04d}",
            "first_name": rng.choice(FIRST),
            "last_name": rng.choice(LAST),
            "home_zip": rng.choice(zips),
            "cdl_class": "A" if rng.random() < 0.9 else "B",
            "endorsements": sorted(endorsements),
            "experience_years": round(years, 1),
            "desired_cpm": round(
                _clip(0.48 + 0.006 * min(years, 20) + rng.gauss(0, 0.03), 0.45, 0.80), 2
            ),
            "equipment": equipment,
            "phone": f"214-555-{i % 10000:04d}",
            "created_at": format_ts(ago(0, 365)),
        }
        if i == 0:
            row.update(home_zip="75001", cdl_class="A", desired_cpm=0.55, equipment="dry_van")
        if i == 7:
            row.update(
                first_name="John",
                last_name="Davis",
                home_zip="75061",
                cdl_class="A",
                experience_years=6.0,
                desired_cpm=0.58,
                equipment="dry_van",
            )
        data.add("rc_drivers", row)
    driver_rows = data.rows["rc_drivers"]

    # Postings: the first five are DFW anchors paying above $0.55 per loaded mile.
    dests = ("30303", "77001", "73101", "38103", "80202")
    for i in range(150):
        anchor = i < 5
        carrier = carrier_rows[i % 3] if anchor else rng.choice(carrier_rows)
        route = "regional" if anchor else _weighted(rng, t.ROUTE_TYPES, (0.45, 0.30, 0.10, 0.15))
        equipment = (
            "dry_van"
            if anchor and i < 3
            else ("reefer" if anchor else _weighted(rng, t.EQUIPMENT, (0.5, 0.22, 0.17, 0.11)))
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
        cpm = _clip(
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
                "hiring_zips": _near(o, 120 if anchor else 250)[:8],
                "min_experience_years": 1.0 if anchor else rng.choice((0.0, 0.5, 1.0, 2.0)),
                "cdl_class": "B" if route == "local" and rng.random() < 0.3 else "A",
                "required_endorsements": required,
                "openings": rng.randint(1, 12),
                "status": "open" if anchor or rng.random() < 0.9 else "filled",
                "posted_at": format_ts(ago(0, 60)),
            },
        )
    posting_rows = data.rows["rc_postings"]

    recruiter_names = (
        "Dana Whitfield",
        "Luis Ortega",
        "Priya Raman",
        "Tom Becker",
        "Alicia Moore",
        "Greg Hanson",
        "Monique Ellis",
        "Sean O'Neal",
    )
    for i, name in enumerate(recruiter_names):
        data.add(
            "rc_recruiters",
            {
                "recruiter_id": f"R-{i + 1:03d}",
                "name": name,
                "email": name.lower().replace(" ", ".").replace("'", "") + "@example.com",
                "carrier_id": carrier_rows[i]["carrier_id"],
            },
        )
    recruiter_of = {r["carrier_id"]: r["recruiter_id"] for r in data.rows["rc_recruiters"]}

    _pipeline(rng, data, now, driver_rows, posting_rows, recruiter_of)
    _accounts(rng, data, now, carrier_rows)
    _world(rng, data, now)

    for drv in driver_rows:
        data.add(
            "rc_users",
            {
                "user_id": "drv-" + drv["driver_id"][2:],
                "role": "driver",
                "subject_id": drv["driver_id"],
                "display_name": f"{drv['first_name']} {drv['last_name']}",
            },
        )
    for r in data.rows["rc_recruiters"]:
        data.add(
            "rc_users",
            {
                "user_id": "rec-" + r["recruiter_id"][2:],
                "role": "recruiter",
                "subject_id": r["recruiter_id"],
                "display_name": r["name"],
            },
        )
    for a in data.rows["rc_accounts"]:
        data.add(
            "rc_users",
            {
                "user_id": "acct-" + a["account_id"][4:],
                "role": "carrier",
                "subject_id": a["account_id"],
                "display_name": f"{a['name']} ops",
            },
        )
    data.add(
        "rc_users",
        {"user_id": "admin", "role": "admin", "subject_id": None, "display_name": "Platform admin"},
    )
    data.add(
        "rc_users",
        {
            "user_id": "admin-2",
            "role": "admin",
            "subject_id": None,
            "display_name": "Second admin (approver)",
        },
    )
    return data


def _pipeline(
    rng: random.Random,
    data: Dataset,
    now: datetime,
    driver_rows: list[dict[str, Any]],
    posting_rows: list[dict[str, Any]],
    recruiter_of: dict[str, str],
) -> None:
    seen: set[tuple[str, str]] = set()
    plans: list[tuple[dict[str, Any], dict[str, Any], str | None]] = [
        (driver_rows[7], posting_rows[0], "screening")  # John Davis, R-001, DFW anchor
    ]
    for _ in range(340):
        plans.append((rng.choice(driver_rows[8:]), rng.choice(posting_rows), None))
    n = 0
    for driver, posting, forced in plans:
        key = (driver["driver_id"], posting["posting_id"])
        if key in seen:
            continue
        seen.add(key)
        n += 1
        interest_id = f"I-{n:04d}"
        recruiter = recruiter_of.get(posting["carrier_id"]) or f"R-{rng.randint(1, 8):03d}"
        if forced:
            recruiter = "R-001"
        created = now - timedelta(days=rng.uniform(3, 90))
        status, reason, history = "lead", None, [("lead", created)]
        underpaid = posting["cpm_loaded"] + 0.03 < driver["desired_cpm"]
        when = created
        while forced is None and status in FUNNEL_ADVANCE:
            step_at = when + timedelta(days=rng.uniform(1, 7))
            if step_at > now:
                break
            advance = FUNNEL_ADVANCE[status] - (0.25 if underpaid else 0.0)
            roll = rng.random()
            if roll < advance:
                status = t.STAGES[t.STAGES.index(status) + 1]
            elif roll < advance + (1 - advance) * 0.6:
                status = "rejected" if rng.random() < 0.4 else "withdrawn"
                reason = (
                    "pay_below_expectation"
                    if underpaid and rng.random() < 0.7
                    else rng.choice(DROP_REASONS)
                )
            else:
                break
            when = step_at
            history.append((status, when))
        if forced:
            for stage in ("contacted", "screening"):
                when = when + timedelta(days=2)
                history.append((stage, when))
            status = forced
        data.add(
            "rc_pipeline",
            {
                "interest_id": interest_id,
                "driver_id": driver["driver_id"],
                "posting_id": posting["posting_id"],
                "recruiter_id": recruiter,
                "status": status,
                "drop_off_reason": reason,
                "created_at": format_ts(created),
                "updated_at": format_ts(when),
            },
        )
        previous: str | None = None
        for seq, (to_status, at) in enumerate(history, start=1):
            data.add(
                "rc_status_history",
                {
                    "interest_id": interest_id,
                    "seq": seq,
                    "from_status": previous,
                    "to_status": to_status,
                    "changed_by": recruiter,
                    "reason": "seed",
                    "changed_at": format_ts(at),
                },
            )
            previous = to_status
        reached = {s for s, _ in history}
        if reached & {"contacted", "screening", "interview", "offer", "hired"}:
            for k in range(rng.randint(1, 3)):
                data.add(
                    "rc_messages",
                    {
                        "message_id": f"M-{interest_id[2:]}-{k + 1}",
                        "interest_id": interest_id,
                        "sender_id": recruiter,
                        "receiver_id": driver["driver_id"],
                        "channel": rng.choice(("sms", "email", "in_app")),
                        "content": f"Hi {driver['first_name']}, following up on {posting['title']}.",
                        "sent_at": format_ts(created + timedelta(days=k + 1)),
                    },
                )
        if "interview" in reached:
            done = status != "interview"
            data.add(
                "rc_interviews",
                {
                    "interview_id": f"IV-{interest_id[2:]}",
                    "interest_id": interest_id,
                    "recruiter_id": recruiter,
                    "scheduled_for": format_ts(
                        when if done else now + timedelta(days=rng.randint(1, 6))
                    ),
                    "kind": rng.choice(("phone", "video", "onsite")),
                    "status": "completed" if done else "scheduled",
                },
            )
        if rng.random() < 0.5:
            data.add(
                "rc_calls",
                {
                    "call_id": f"CL-{interest_id[2:]}",
                    "recruiter_id": recruiter,
                    "driver_id": driver["driver_id"],
                    "outcome": rng.choice(
                        ("connected", "voicemail", "no_answer", "callback_requested")
                    ),
                    "duration_s": rng.randint(20, 900),
                    "notes": "seeded call",
                    "logged_at": format_ts(created + timedelta(hours=rng.uniform(1, 48))),
                },
            )


def _accounts(
    rng: random.Random, data: Dataset, now: datetime, carriers: list[dict[str, Any]]
) -> None:
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


def _world(rng: random.Random, data: Dataset, now: datetime) -> None:
    zips = sorted(ZIPS)
    for i in range(60):
        zip_code = DFW[i % len(DFW)] if i < 6 else rng.choice(zips)
        kind = _weighted(
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
