"""The bulk half of table validation: whole-batch Arrow expressions that clear the clean rows.

:func:`clear_rows` decides, with one pass of Arrow compute kernels over each column of a batch,
which rows are certainly valid *and* come out of the row-level rules
(:func:`tailguard.events.tables.check_rows`) unchanged. Only the other rows (bad ones, and
the rare good ones that need a rewrite: a value in another type's column, an ``extra`` object
naming a schema field) go through the row-level rules, which word every reason. The result is
therefore the same as the row-level rules on the whole batch, at columnar speed.

The ``extra`` column stays a JSON object string (see docs/events.md, "Extra fields"): it is
validated in bulk with one RE2 match that accepts a flat JSON object (string, number, boolean
and null members; no escapes, no control characters), which ``json.loads`` is certain to parse
to a ``dict``, and a search for any schema field's name in quotes (a member named like one, or
a value that reads like one). An object outside that grammar (nested values, escapes) or naming a
field is not wrong, just left to the row-level rules.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from tailguard.events._rules import FLOAT_BOUNDS, INT_BOUNDS, KINDS, OWNERS
from tailguard.events.schema import (
    COMMON_FIELDS,
    EVENT_TYPES,
    NULLABLE_FIELDS,
    TECH_STATUSES,
    WIDE_SCHEMA,
)

_WS: Final = r"[ \t\n\r]*"
_STRING: Final = r'"[^"\\\x00-\x1f]*"'
_NUMBER: Final = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_VALUE: Final = rf"(?:{_STRING}|{_NUMBER}|true|false|null)"
_MEMBER: Final = rf"{_STRING}{_WS}:{_WS}{_VALUE}{_WS}"
#: A flat JSON object: json.loads parses it to a dict, and its text is kept as it is.
FLAT_OBJECT: Final = rf"^{_WS}\{{{_WS}(?:{_MEMBER}(?:,{_WS}{_MEMBER})*)?\}}{_WS}$"

# Microseconds since the epoch of 0001-01-01 and 9999-12-31T23:59:59.999999.
_MIN_US: Final = -62_135_596_800_000_000
_MAX_US: Final = 253_402_300_799_999_999
_COMMON: Final = tuple(f.name for f in COMMON_FIELDS)
_TYPES: Final = pa.array(EVENT_TYPES, pa.string())
_STATUSES: Final = pa.array(TECH_STATUSES, pa.string())
#: Every schema field name as a JSON string (a member named like one is left to the rules).
_FIELD_NAMES: Final = [f'"{name}"' for name in sorted(KINDS)]


def _single(col: pa.ChunkedArray) -> pa.Array:
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def bulk_ready(table: pa.Table) -> bool:
    """Whether every column is a wide-schema field in its exact wide type (no duplicates).

    Other shapes (narrow files with other column types, unknown columns) take the row-level
    rules for the whole batch.
    """
    names = table.column_names
    if len(set(names)) != len(names):
        return False
    for field in table.schema:
        index = WIDE_SCHEMA.get_field_index(field.name)
        if index < 0 or not field.type.equals(WIDE_SCHEMA.field(index).type):
            return False
    return "type" in names


def _or(acc: pa.Array | None, mask: pa.Array) -> pa.Array:
    return mask if acc is None else pc.or_(acc, mask)


def _in_range(col: pa.Array, low: float, high: float, *, finite: bool) -> pa.Array | None:
    """Rows whose value lies outside [low, high] (or is not finite), or None if none can."""
    if col.null_count == len(col):
        return None
    if not finite:
        bounds = pc.min_max(col)
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        if lo is not None and lo >= low and hi <= high:
            return None
    outside = pc.or_(pc.less(col, low), pc.greater(col, high))
    if finite:
        outside = pc.or_(outside, pc.invert(pc.is_finite(col)))
    return pc.fill_null(outside, False)


def clear_rows(table: pa.Table) -> np.ndarray:
    """A mask of the rows the row-level rules would keep unchanged (the rest: check them).

    ``table`` must pass :func:`bulk_ready`. False means "not certain", never "bad".
    """
    n = table.num_rows
    cols = {name: _single(table.column(name)) for name in table.column_names}
    codes = pc.index_in(cols["type"], value_set=_TYPES)  # null: a missing or unknown type
    doubt: pa.Array | None = pc.is_null(codes)
    for name in _COMMON:
        col = cols.get(name)
        if col is None:
            return np.zeros(n, dtype=bool)
        if col.null_count:
            doubt = _or(doubt, pc.is_null(col))
    doubt = _or(doubt, pc.fill_null(pc.equal(cols["event_id"], ""), False))
    # Rows of each event type, as bitmaps; a field's owners are the OR of theirs (cheaper than
    # a take of "which types own it" per field). Null where the type is unknown: doubted.
    of_type = [pc.equal(codes, k) for k in range(len(EVENT_TYPES))]
    owners: dict[frozenset[str], pa.Array] = {}
    for name, kind in KINDS.items():
        col = cols.get(name)
        if name in _COMMON:
            if kind == "ts":
                beyond = _in_range(pc.cast(col, pa.int64()), _MIN_US, _MAX_US, finite=False)
                if beyond is not None:
                    doubt = _or(doubt, beyond)
            continue
        types = OWNERS[name]
        owned = owners.get(types)
        if owned is None:
            for k, event_type in enumerate(EVENT_TYPES):
                if event_type in types:
                    owned = of_type[k] if owned is None else pc.or_(owned, of_type[k])
            assert owned is not None
            owners[types] = owned
        if col is None:
            if name not in NULLABLE_FIELDS:
                doubt = _or(doubt, owned)  # absent from the file, required by these types
            continue
        if col.null_count != n:
            # A value in another type's column moves to `extra`: the row-level rules do that.
            doubt = _or(doubt, pc.and_(pc.is_valid(col), pc.invert(owned)))
        if name not in NULLABLE_FIELDS and col.null_count:
            doubt = _or(doubt, pc.and_(owned, pc.is_null(col)))
        if kind == "ts":
            beyond = _in_range(pc.cast(col, pa.int64()), _MIN_US, _MAX_US, finite=False)
            if beyond is not None:
                doubt = _or(doubt, beyond)
        elif name in INT_BOUNDS:
            low, high = INT_BOUNDS[name]
            outside = _in_range(col, low, high, finite=False)
            if outside is not None:
                doubt = _or(doubt, outside)
        elif name in FLOAT_BOUNDS:
            flow, fhigh = FLOAT_BOUNDS[name]
            outside = _in_range(col, flow, fhigh, finite=True)
            if outside is not None:
                doubt = _or(doubt, outside)
    status = cols.get("status")
    if status is not None and status.null_count != n:
        bad = pc.and_(pc.is_valid(status), pc.invert(pc.is_in(status, value_set=_STATUSES)))
        doubt = _or(doubt, pc.fill_null(bad, False))
    extra = cols.get("extra")
    if extra is not None and extra.null_count != n:
        # Rust's regex engine (Polars) runs these about twice as fast as RE2; a quoted field
        # name anywhere (a key, or a value that happens to read like one) is a doubt.
        texts = pl.Series(extra)
        unsure = ~texts.str.contains(FLAT_OBJECT) | texts.str.contains_any(_FIELD_NAMES)
        doubt = _or(doubt, pc.fill_null(unsure.to_arrow(), False))
    assert doubt is not None
    return ~np.asarray(pc.fill_null(doubt, True).to_numpy(zero_copy_only=False), dtype=bool)


def as_wide(table: pa.Table) -> pa.Table:
    """Cleared rows in :data:`WIDE_SCHEMA` (absent columns become nulls)."""
    n = table.num_rows
    arrays = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(n, f.type)
        for f in WIDE_SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=WIDE_SCHEMA)
