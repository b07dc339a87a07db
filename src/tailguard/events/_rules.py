"""The vectorised half of event validation: timestamps, presence, ranges and enums.

Both input paths end here. The JSON Lines path checks Python types per record (JSON parsing is
per line anyway) and hands over a *loose* table (ints as int64, timestamps as strings); the
Parquet path coerces whole columns and hands over the same loose table. The checks below run
on whole columns with pyarrow compute; Python only touches the rows that fail, to word the
reason.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tailguard.events.schema import (
    COMMON_FIELDS,
    EVENT_TYPES,
    FIELD_TYPES,
    NULLABLE_FIELDS,
    TECH_STATUSES,
    TS,
    TYPE_FIELDS,
    WIDE_SCHEMA,
)

INT32_MAX: Final = 2**31 - 1

COMMON_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in COMMON_FIELDS)


def _kind(typ: pa.DataType) -> str:
    if pa.types.is_timestamp(typ):
        return "ts"
    if pa.types.is_floating(typ):
        return "float"
    if pa.types.is_integer(typ):
        return "int"
    if pa.types.is_boolean(typ):
        return "bool"
    return "str"


#: The kind of every event field (``str``, ``ts``, ``float``, ``int``, ``bool``).
KINDS: Final[MappingProxyType[str, str]] = MappingProxyType(
    {f.name: _kind(f.type) for f in WIDE_SCHEMA if f.name != "extra"}
)

#: The Arrow type each kind is carried in before range checks (wide enough for any JSON int).
LOOSE_TYPES: Final[MappingProxyType[str, pa.DataType]] = MappingProxyType(
    {"str": pa.string(), "ts": TS, "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_()}
)

#: The event types that own each type-specific field.
OWNERS: Final[MappingProxyType[str, frozenset[str]]] = MappingProxyType(
    {
        name: frozenset(t for t, fields in TYPE_FIELDS.items() if name in fields)
        for name in FIELD_TYPES
    }
)

INT_BOUNDS: Final[MappingProxyType[str, tuple[int, int]]] = MappingProxyType(
    {
        "nps": (0, 10),
        "parts_prestaged": (0, INT32_MAX),
        "parts_used": (0, INT32_MAX),
        "on_hand": (0, INT32_MAX),
    }
)

FLOAT_BOUNDS: Final[MappingProxyType[str, tuple[float, float]]] = MappingProxyType(
    {
        "sentiment": (-1.0, 1.0),
        "revenue": (0.0, float("inf")),
        "parts_cost": (0.0, float("inf")),
        "tech_pay": (0.0, float("inf")),
        "lead_time_days": (0.0, float("inf")),
    }
)

# RFC 3339 date-time (upper-cased first); a space for the T is the RFC's own allowance.
_RFC3339: Final = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"

Reasons = dict[int, str]

# Microseconds since the epoch of 0001-01-01 and 9999-12-31T23:59:59.999999 (Python's range).
_MIN_US: Final = -62_135_596_800_000_000
_MAX_US: Final = 253_402_300_799_999_999


def loose_schema() -> pa.Schema:
    """The schema of a table handed to :func:`finish` (timestamps may also be strings)."""
    fields = [pa.field(name, LOOSE_TYPES[kind]) for name, kind in KINDS.items()]
    return pa.schema([*fields, pa.field("extra", pa.string())])


def _np_mask(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    filled = pc.fill_null(mask, False)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def _flag(reasons: Reasons, mask: np.ndarray, word: Callable[[int], str]) -> None:
    for i in np.flatnonzero(mask).tolist():
        if i not in reasons:
            reasons[i] = word(i)


def parse_timestamps(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Parse a string column of RFC 3339 timestamps to UTC microseconds.

    Returns:
        The timestamp column (null where unparsable) and a mask of the unparsable cells.
    """
    upper = pc.utf8_upper(col)
    # Sub-microsecond digits are legal RFC 3339; the schema keeps microseconds, so cut them.
    # (A timestamp with them has at least 28 bytes: shorter columns need no cut.)
    longest = pc.max(pc.binary_length(col)).as_py()
    if longest is not None and longest >= 28:
        upper = pc.replace_substring_regex(upper, pattern=r"(\.\d{6})\d+", replacement=r"\1")
    shaped = pc.and_(
        pc.match_substring_regex(upper, _RFC3339),
        pc.invert(pc.starts_with(upper, "0000")),
    )
    bad = _np_mask(pc.and_(pc.is_valid(col), pc.invert(pc.fill_null(shaped, False))))
    candidate = pc.if_else(pa.array(bad), pa.scalar(None, pa.string()), upper)
    try:
        parsed = candidate.cast(TS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Rare: a well-shaped but impossible date (Feb 30, hour 24). Find the cells one by one.
        values = candidate.to_pylist()
        out: list[object] = []
        for i, text in enumerate(values):
            if text is None:
                out.append(None)
                continue
            try:
                out.append(pa.scalar(text).cast(TS))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                bad[i] = True
                out.append(None)
        parsed = pa.array(out, type=TS)
    return parsed, bad


def finish(
    table: pa.Table, *, present: frozenset[str], reasons: Reasons
) -> tuple[pa.Table, Reasons]:
    """Apply the vectorised rules and return the valid rows in :data:`WIDE_SCHEMA`.

    Args:
        table: every wide column in its loose type (timestamp columns may be strings);
            cells of other event types' fields must already be null (moved to ``extra``).
        present: the fields the input carried at all (a field absent from a Parquet file is
            missing for every row of a type that needs it).
        reasons: rows already rejected (index -> reason); extended in place.

    Returns:
        The valid rows in the wide schema, and every rejected row's reason.
    """
    n = table.num_rows
    columns: dict[str, pa.Array] = {
        name: table.column(name).combine_chunks() for name in table.column_names
    }
    etype = columns["type"]
    known = pc.is_in(etype, value_set=pa.array(EVENT_TYPES))
    _flag(reasons, _np_mask(pc.is_null(etype)), _const("missing field 'type'"))
    unknown = _np_mask(pc.invert(known))
    if unknown.any():  # only then pay for the Python list of type names
        type_values = etype.to_pylist()
        _flag(reasons, unknown, lambda i: f"unknown event type {type_values[i]!r}")
    for name in COMMON_NAMES:
        if name != "type":
            _flag(reasons, _np_mask(pc.is_null(columns[name])), _const(_missing(name)))
    _flag(
        reasons,
        _np_mask(pc.equal(columns["event_id"], "")),
        _const("field 'event_id' is empty"),
    )
    for name, kind in KINDS.items():
        col = columns[name]
        if kind == "ts" and not pa.types.is_timestamp(col.type):
            raw = col
            col, bad = parse_timestamps(raw)
            texts = raw.to_pylist() if bad.any() else []
            _flag(reasons, bad, _quoting(f"{name} {{!r}} is not an RFC 3339 timestamp", texts))
            columns[name] = col
        if kind == "ts":
            micros = pc.cast(col, pa.int64())
            beyond = pc.or_(pc.less(micros, _MIN_US), pc.greater(micros, _MAX_US))
            _flag(reasons, _np_mask(beyond), _const(f"{name} outside years 1-9999"))
    for event_type, fields in TYPE_FIELDS.items():
        of_type = _np_mask(pc.equal(etype, event_type))
        if not of_type.any():
            continue
        for name in fields:
            if name not in present:
                _flag(reasons, of_type, _const(_missing(name)))
            elif name not in NULLABLE_FIELDS:
                null = of_type & _np_mask(pc.is_null(columns[name]))
                _flag(reasons, null, _const(_missing(name)))
    for name, (low, high) in INT_BOUNDS.items():
        _check_range(reasons, name, columns[name], low, high)
    for name, (flow, fhigh) in FLOAT_BOUNDS.items():
        _check_range(reasons, name, columns[name], flow, fhigh)
    status = columns["status"]
    bad_status = pc.and_(pc.is_valid(status), pc.invert(pc.is_in(status, pa.array(TECH_STATUSES))))
    bad_status_mask = _np_mask(bad_status)
    if bad_status_mask.any():
        status_values = status.to_pylist()
        _flag(reasons, bad_status_mask, lambda i: f"unknown tech status {status_values[i]!r}")
    good = np.ones(n, dtype=bool)
    if reasons:
        good[np.fromiter(reasons.keys(), dtype=np.int64, count=len(reasons))] = False
    keep = pa.array(good)
    out = [
        pc.filter(columns[f.name], keep).cast(f.type) if f.name in columns else None
        for f in WIDE_SCHEMA
    ]
    arrays = [
        a if a is not None else pa.nulls(int(good.sum()), f.type)
        for a, f in zip(out, WIDE_SCHEMA, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=WIDE_SCHEMA), reasons


def _const(text: str) -> Callable[[int], str]:
    return lambda _: text


def _quoting(template: str, values: list[object]) -> Callable[[int], str]:
    return lambda i: template.format(values[i])


def _missing(name: str) -> str:
    return f"missing field {name!r}"


def _check_range(reasons: Reasons, name: str, col: pa.Array, low: float, high: float) -> None:
    if col.null_count == len(col):
        return
    outside = pc.or_(pc.less(col, low), pc.greater(col, high))
    is_float = pa.types.is_floating(col.type)
    if is_float:
        outside = pc.or_(outside, pc.invert(pc.is_finite(col)))
    mask = _np_mask(outside)
    if not mask.any():
        return
    values = col.to_pylist()
    span = f"{low:g}..{high:g}" if is_float else f"{low}-{high}"

    def word(i: int) -> str:
        value = values[i]
        if value != value or value in (float("inf"), float("-inf")):
            return f"{name} {value} is not a finite number"
        if value < low and high in (float("inf"), INT32_MAX):
            return f"{name} {value} out of range (must be >= {low:g})"
        return f"{name} {value} out of range {span}"

    _flag(reasons, mask, word)
