"""Turn the simulator's numeric event rows into a WIDE_SCHEMA Arrow table.

Inside the simulator an event is a row of numbers (type code, seconds since the start, indices
of area/job/tech/...); strings exist only here, built column-wise (see :mod:`.ids`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from tailguard.events.schema import EVENT_TYPES, TECH_STATUSES, TS, WIDE_SCHEMA
from tailguard.sim.config import JOB_CODES
from tailguard.sim.ids import fixed_ids

TYPE_CODE: Final = {name: i for i, name in enumerate(EVENT_TYPES)}
STATUS_CODE: Final = {name: i for i, name in enumerate(TECH_STATUSES)}

#: The numeric row of an event: column -> (dtype, null sentinel).
ROW_SPEC: Final[dict[str, tuple[npt.DTypeLike, float | int]]] = {
    "type": (np.int8, -1),
    "ts": (np.float64, np.nan),
    "area": (np.int64, -1),
    "job": (np.int64, -1),
    "cust": (np.int64, -1),
    "tech": (np.int64, -1),
    "zip": (np.int64, -1),
    "code": (np.int8, -1),
    "wstart": (np.float64, np.nan),
    "wend": (np.float64, np.nan),
    "arrived": (np.float64, np.nan),
    "completed": (np.float64, np.nan),
    "revenue": (np.float64, np.nan),
    "parts_cost": (np.float64, np.nan),
    "tech_pay": (np.float64, np.nan),
    "ftf": (np.int8, -1),
    "recall_of": (np.int64, -1),
    "orig_tech": (np.int64, -1),
    "prestaged": (np.int32, -1),
    "used": (np.int32, -1),
    "status": (np.int8, -1),
    "nps_raw": (np.float64, np.nan),
    "sentiment": (np.float64, np.nan),
    "locker": (np.int64, -1),
    "sku": (np.int64, -1),
    "on_hand": (np.int32, -1),
    "lead": (np.float64, np.nan),
    "eta": (np.float64, np.nan),
    "parent": (np.int64, -1),
}

_EXTRA_PREFIX: Final = '{"parent_job_id":"J'
_EXTRA_SUFFIX: Final = b'"}'
_HIRED_PREFIX: Final = '{"hired_on":"'
_HIRED_SUFFIX: Final = '"}'


def _ts(sec: np.ndarray, start_us: int) -> pa.Array:
    valid = ~np.isnan(sec)
    us = start_us + np.floor(np.where(valid, sec, 0.0)).astype(np.int64) * 1_000_000
    return pa.array(us, type=TS, mask=~valid)


def _num(values: np.ndarray, sentinel: float | int, typ: pa.DataType) -> pa.Array:
    if isinstance(sentinel, float) and np.isnan(sentinel):
        mask = np.isnan(values)
    else:
        mask = values == sentinel
    return pa.array(values, type=typ, mask=mask)


def _take(names: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    valid = codes >= 0
    dictionary = pa.array(list(names), type=pa.string())
    idx = pa.array(codes.astype(np.int32), type=pa.int32(), mask=~valid)
    return dictionary.take(idx)


def _extra(parent: np.ndarray) -> pa.Array:
    valid = parent >= 0
    ids = fixed_ids(_EXTRA_PREFIX, parent, 12, valid)
    if not valid.any():
        return ids
    # Append the closing '"}' by rebuilding the buffers with two more bytes per valid row.
    n = len(parent)
    w = len(_EXTRA_PREFIX) + 12
    body = np.frombuffer(ids.buffers()[2], dtype=np.uint8)[: int(valid.sum()) * w]
    rows = body.reshape(-1, w)
    full = np.empty((rows.shape[0], w + 2), dtype=np.uint8)
    full[:, :w] = rows
    full[:, w:] = np.frombuffer(_EXTRA_SUFFIX, dtype=np.uint8)
    lengths = np.where(valid, w + 2, 0).astype(np.int32)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.StringArray.from_buffers(
        n,
        pa.py_buffer(offsets),
        pa.py_buffer(full.ravel()),
        pa.py_buffer(np.packbits(valid, bitorder="little")),
        null_count=int(n - valid.sum()),
    )


def _hired(hired: np.ndarray, start_us: int) -> pa.Array:
    """``{"hired_on":"YYYY-MM-DD"}`` (UTC day) where ``hired`` (seconds since the start) is set."""
    valid = ~np.isnan(hired)
    sec = start_us // 1_000_000 + np.floor(np.where(valid, hired, 0.0)).astype(np.int64)
    days = pa.array(np.floor_divide(sec, 86_400).astype(np.int32), type=pa.date32(), mask=~valid)
    return pc.binary_join_element_wise(_HIRED_PREFIX, days.cast(pa.string()), _HIRED_SUFFIX, "")


def build_table(
    rows: dict[str, np.ndarray],
    *,
    hour: int,
    start_us: int,
    sku_codes: tuple[str, ...],
    hired: np.ndarray | None = None,
) -> pa.Table:
    """Sort one hour's rows by time and build the WIDE_SCHEMA table with unique event ids.

    Args:
        rows: columns of :data:`ROW_SPEC` (``nps_raw`` already final, rounded by the caller).
        hour: the hour index since the start; event ids are ``E`` + hour (6 digits) + sequence.
        start_us: the simulation start in microseconds since the epoch.
        sku_codes: SKU strings by index.
        hired: per row, when the row's tech was hired (seconds since the start, NaN for none);
            a row with it carries the extension field ``hired_on`` in ``extra`` (the
            simulator sets it on ``tech.status``; docs/agents.md, "Detractor clusters").
    """
    n = int(rows["type"].shape[0])
    if n == 0:
        return WIDE_SCHEMA.empty_table()
    sec = np.floor(rows["ts"]).astype(np.int64)
    order = np.lexsort(
        (rows["sku"], rows["locker"], rows["cust"], rows["job"], rows["tech"], rows["type"], sec)
    )
    r = {name: col[order] for name, col in rows.items()}
    seq = np.arange(n, dtype=np.int64)
    nps = r["nps_raw"]
    nps_valid = ~np.isnan(nps)
    nps_int = np.clip(np.round(np.where(nps_valid, nps, 0.0)), 0, 10).astype(np.int8)
    columns: dict[str, pa.Array] = {
        "event_id": fixed_ids("E", hour * 100_000_000 + seq, 14),
        "type": _take(EVENT_TYPES, r["type"].astype(np.int64)),
        "ts": _ts(r["ts"], start_us),
        "area_id": fixed_ids("PA-", r["area"] + 1, 4),
        "job_id": fixed_ids("J", r["job"], 12, r["job"] >= 0),
        "customer_id": fixed_ids("C", r["cust"] + 1, 9, r["cust"] >= 0),
        "tech_id": fixed_ids("T", r["tech"] + 1, 6, r["tech"] >= 0),
        "zip": fixed_ids("", r["zip"], 5, r["zip"] >= 0),
        "job_code": _take(JOB_CODES, r["code"].astype(np.int64)),
        "window_start": _ts(r["wstart"], start_us),
        "window_end": _ts(r["wend"], start_us),
        "arrived_at": _ts(r["arrived"], start_us),
        "completed_at": _ts(r["completed"], start_us),
        "revenue": _num(np.round(r["revenue"], 2), np.nan, pa.float64()),
        "parts_cost": _num(np.round(r["parts_cost"], 2), np.nan, pa.float64()),
        "tech_pay": _num(np.round(r["tech_pay"], 2), np.nan, pa.float64()),
        "first_time_fix": pa.array(r["ftf"] == 1, type=pa.bool_(), mask=r["ftf"] < 0),
        "recall_of_job_id": fixed_ids("J", r["recall_of"], 12, r["recall_of"] >= 0),
        "original_tech_id": fixed_ids("T", r["orig_tech"] + 1, 6, r["orig_tech"] >= 0),
        "parts_prestaged": _num(r["prestaged"], -1, pa.int32()),
        "parts_used": _num(r["used"], -1, pa.int32()),
        "status": _take(TECH_STATUSES, r["status"].astype(np.int64)),
        "nps": pa.array(nps_int, type=pa.int8(), mask=~nps_valid),
        "sentiment": _num(np.round(r["sentiment"], 3), np.nan, pa.float64()),
        "locker_id": fixed_ids("L", r["locker"] + 1, 5, r["locker"] >= 0),
        "sku": _take(sku_codes, r["sku"]),
        "on_hand": _num(r["on_hand"], -1, pa.int32()),
        "lead_time_days": _num(np.round(r["lead"], 2), np.nan, pa.float64()),
        "eta": _ts(r["eta"], start_us),
        "extra": _extra(r["parent"]),
    }
    if hired is not None and not np.isnan(hired).all():
        told = _hired(hired[order], start_us)
        columns["extra"] = pc.coalesce(columns["extra"], told)
    return pa.Table.from_arrays([columns[f.name] for f in WIDE_SCHEMA], schema=WIDE_SCHEMA)
