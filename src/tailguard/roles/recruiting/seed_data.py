"""Shared parts of the seeded recruiting dataset: the row container, name and rate tables.

The tables' ranges and sources are in docs/recruiting.md; :mod:`.seed` builds the dataset from
them with :mod:`.seed_market` (carriers, postings, accounts, road and parking) and
:mod:`.seed_people` (drivers, recruiters, the hiring pipeline, users).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

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


def clip(value: float, low: float, high: float) -> float:
    """``value`` held inside ``[low, high]``."""
    return max(low, min(high, value))


def weighted(rng: random.Random, options: Sequence[str], weights: Sequence[float]) -> str:
    """One of ``options`` drawn with ``weights``."""
    return rng.choices(list(options), weights=list(weights))[0]


def near(origin: ZipPoint, radius: float) -> list[str]:
    """The ZIP codes within ``radius`` miles of ``origin``, sorted."""
    return sorted(z for z, p in ZIPS.items() if miles_between(origin, p) <= radius)


def ago(rng: random.Random, now: datetime, days_low: float, days_high: float) -> datetime:
    """A time a uniformly drawn number of days (between the bounds) before ``now``."""
    return now - timedelta(days=rng.uniform(days_low, days_high))
