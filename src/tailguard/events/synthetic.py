"""A seeded table of random but valid events of every type, for tests and benchmarks.

This is not the simulator (``tailguard.sim`` models a network); it only fills every field of
the event language with plausible values, vectorised, so readers, writers and buses can be
exercised at volume.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tailguard.events._rules import OWNERS
from tailguard.events.schema import EVENT_TYPES, TECH_STATUSES, WIDE_SCHEMA

_START_US = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp()) * 1_000_000
_HOUR_US = 3_600_000_000


def _ids(prefix: str, values: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pa.array(values).cast(pa.string()), "")


def synthetic_events(n: int, *, seed: int = 0, extra_every: int = 0) -> pa.Table:
    """``n`` valid events of every type in the wide schema, the same for the same seed.

    Args:
        n: how many events.
        seed: the random seed.
        extra_every: if positive, every that-many-th event carries an extra field.
    """
    rng = np.random.default_rng(seed)
    types = np.array(EVENT_TYPES)[rng.integers(0, len(EVENT_TYPES), n)]
    ts = _START_US + np.sort(rng.integers(0, 7 * 24 * _HOUR_US, n))
    window_start = ts + rng.integers(1, 72, n) * _HOUR_US
    window_end = window_start + 2 * _HOUR_US
    arrived = window_end + rng.integers(-90, 90, n) * 60_000_000
    recall = rng.random(n) < 0.05
    job_ids = _ids("J-", rng.integers(0, 10**7, n))
    ts_type = pa.timestamp("us", tz="UTC")
    columns: dict[str, pa.Array] = {
        "event_id": _ids(f"E-{seed}-", np.arange(n)),
        "type": pa.array(types),
        "ts": pa.array(ts, ts_type),
        "area_id": _ids("PA-", rng.integers(0, 400, n)),
        "job_id": job_ids,
        "customer_id": _ids("C-", rng.integers(0, 10**6, n)),
        "tech_id": _ids("T-", rng.integers(0, 40_000, n)),
        "zip": _ids("", rng.integers(10_000, 99_999, n)),
        "job_code": _ids("JC", rng.integers(0, 40, n)),
        "window_start": pa.array(window_start, ts_type),
        "window_end": pa.array(window_end, ts_type),
        "arrived_at": pa.array(arrived, ts_type),
        "completed_at": pa.array(arrived + rng.integers(20, 240, n) * 60_000_000, ts_type),
        "revenue": pa.array(np.round(rng.gamma(4.0, 80.0, n), 2)),
        "parts_cost": pa.array(np.round(rng.gamma(2.0, 30.0, n), 2)),
        "tech_pay": pa.array(np.round(rng.gamma(4.0, 25.0, n), 2)),
        "first_time_fix": pa.array(rng.random(n) < 0.8),
        "recall_of_job_id": pa.array(
            np.char.add("J-R", np.arange(n).astype(str)), pa.string(), mask=~recall
        ),
        "original_tech_id": pa.array(
            np.char.add("T-", rng.integers(0, 40_000, n).astype(str)), pa.string(), mask=~recall
        ),
        "parts_prestaged": pa.array(rng.integers(0, 5, n), pa.int32()),
        "parts_used": pa.array(rng.integers(0, 5, n), pa.int32()),
        "status": pa.array(np.array(TECH_STATUSES)[rng.integers(0, 4, n)]),
        "nps": pa.array(rng.integers(0, 11, n), pa.int8()),
        "sentiment": pa.array(np.round(rng.uniform(-1, 1, n), 3)),
        "locker_id": _ids("L-", rng.integers(0, 2_000, n)),
        "sku": _ids("SKU-", rng.integers(0, 5_000, n)),
        "on_hand": pa.array(rng.integers(0, 50, n), pa.int32()),
        "lead_time_days": pa.array(np.round(rng.gamma(2.0, 1.5, n), 2)),
        "eta": pa.array(arrived, ts_type),
    }
    type_col = columns["type"]
    for name, owners in OWNERS.items():
        owned = pc.is_in(type_col, pa.array(sorted(owners)))
        columns[name] = pc.if_else(owned, columns[name], pa.scalar(None, columns[name].type))
    extra: list[str | None] = [None] * n
    if extra_every > 0:
        for i in range(0, n, extra_every):
            extra[i] = '{"source":"synthetic"}'
    columns["extra"] = pa.array(extra, pa.string())
    return pa.Table.from_arrays(
        [columns[f.name].cast(f.type) for f in WIDE_SCHEMA], schema=WIDE_SCHEMA
    )
