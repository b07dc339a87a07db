"""The seeded synthetic recruiting dataset (ranges and sources in docs/recruiting.md).

Deterministic from ``seed`` and ``now``: the same pair always writes the same rows. A few
anchor rows are fixed so the documented scenarios always have data: postings around ZIP
75001 paying more than $0.55 per loaded mile, recruiter R-001's candidate John Davis at the
screening stage, and account ACC-001.

The rows are built per entity in :mod:`.seed_market` and :mod:`.seed_people` from the tables
in :mod:`.seed_data`; every draw comes from one random stream, in the order below.
"""

from __future__ import annotations

import random
from datetime import datetime

from tailguard.roles.recruiting.seed_data import (
    CARRIER_A,
    CARRIER_B,
    DFW,
    DROP_REASONS,
    EQUIPMENT_PREMIUM,
    FIRST,
    FUNNEL_ADVANCE,
    HOME_TIME,
    LAST,
    ROUTE_BASE_CPM,
    ROUTES,
    WEEKLY_MILES,
    Dataset,
)
from tailguard.roles.recruiting.seed_market import (
    add_accounts,
    add_carriers,
    add_postings,
    add_road_and_parking,
)
from tailguard.roles.recruiting.seed_people import (
    add_drivers,
    add_pipeline,
    add_recruiters,
    add_users,
)

__all__ = [
    "CARRIER_A",
    "CARRIER_B",
    "DFW",
    "DROP_REASONS",
    "EQUIPMENT_PREMIUM",
    "FIRST",
    "FUNNEL_ADVANCE",
    "HOME_TIME",
    "LAST",
    "ROUTES",
    "ROUTE_BASE_CPM",
    "WEEKLY_MILES",
    "Dataset",
    "generate",
]


def generate(*, seed: int, now: datetime, drivers: int = 400, carriers: int = 40) -> Dataset:
    """Build the whole dataset in memory (a few thousand rows; milliseconds)."""
    rng = random.Random(seed)
    data = Dataset()
    carrier_rows = add_carriers(rng, data, carriers)
    driver_rows = add_drivers(rng, data, now, drivers)
    posting_rows = add_postings(rng, data, now, carrier_rows)
    recruiter_of = add_recruiters(data, carrier_rows)
    add_pipeline(rng, data, now, driver_rows, posting_rows, recruiter_of)
    add_accounts(rng, data, now, carrier_rows)
    add_road_and_parking(rng, data, now)
    add_users(data)
    return data


# Private names of this module before the per-entity split, kept importable here.
from tailguard.roles.recruiting.seed_data import clip as _clip  # noqa: E402, F401
from tailguard.roles.recruiting.seed_data import near as _near  # noqa: E402, F401
from tailguard.roles.recruiting.seed_data import weighted as _weighted  # noqa: E402, F401
from tailguard.roles.recruiting.seed_market import add_accounts as _accounts  # noqa: E402, F401
from tailguard.roles.recruiting.seed_market import (  # noqa: E402, F401
    add_road_and_parking as _world,
)
from tailguard.roles.recruiting.seed_people import add_pipeline as _pipeline  # noqa: E402, F401
