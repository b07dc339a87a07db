"""Validation of tables (Parquet, and anything else already columnar) into the wide schema.

:func:`check_table` first clears the rows it can in bulk (:mod:`tailguard.events.bulk`), then
applies the row-level rules (:func:`check_rows`) to the rest: a column of the wrong Arrow type
rejects the rows that have a value in it, a column absent from the input is missing for every
row whose type needs it, values in another type's fields and unknown columns move to
``extra``. The shared vectorised rules are :func:`tailguard.events._rules.finish`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tailguard.events._rules import (
    COMMON_NAMES,
    INT_BOUNDS,
    KINDS,
    LOOSE_TYPES,
    OWNERS,
    Reasons,
    finish,
)
from tailguard.events.bulk import as_wide, bulk_ready, clear_rows
from tailguard.events.deadletter import DeadLetterSink
from tailguard.events.validate import (
    _KIND_WORDS,
    _OWN_SETS,
    Rejects,
    _valid_mask,
    dump_extra,
    json_type,
    jsonable,
)


def _is_stringish(typ: pa.DataType) -> bool:
    if pa.types.is_dictionary(typ):
        return _is_stringish(typ.value_type)
    return bool(
        pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ)
    )


def _coerce(name: str, col: pa.Array, reasons: Reasons, skip: np.ndarray | None) -> pa.Array:
    """Cast one input column to its loose type; cells of a wrong type are rejected rows.

    ``skip`` marks cells that are not this row's business (another type's field): they are
    nulled, never rejected.
    """
    kind = KINDS[name]
    typ = col.type
    target = LOOSE_TYPES[kind]
    if pa.types.is_null(typ):
        return pa.nulls(len(col), target)
    ok = (
        (kind == "str" and _is_stringish(typ))
        or (kind == "ts" and (pa.types.is_timestamp(typ) or _is_stringish(typ)))
        or (kind == "float" and (pa.types.is_integer(typ) or pa.types.is_floating(typ)))
        or (kind == "float" and pa.types.is_decimal(typ))
        or (kind == "int" and pa.types.is_integer(typ))
        or (kind == "bool" and pa.types.is_boolean(typ))
    )
    if not ok:
        word = f"field {name!r} must be {_KIND_WORDS[kind]}, got Arrow {typ}"
        wrong = _valid_mask(col) if skip is None else _valid_mask(col) & ~skip
        for i in np.flatnonzero(wrong).tolist():
            reasons.setdefault(i, word)
        return pa.nulls(len(col), target)
    if kind == "ts" and _is_stringish(typ):
        out = col.cast(pa.string())
    elif kind == "int" and pa.types.is_unsigned_integer(typ) and typ.bit_width == 64:
        low, high = INT_BOUNDS[name]
        huge = _true_mask(pc.greater(col, high))
        if skip is not None:
            huge &= ~skip
        values = col.to_pylist() if huge.any() else []
        for i in np.flatnonzero(huge).tolist():
            reasons.setdefault(i, f"{name} {values[i]} out of range {low}-{high}")
        out = pc.min_element_wise(col, pa.scalar(high, typ)).cast(target)
    else:
        # safe=False: ns -> us timestamps truncate; decimals round to the nearest float.
        out = col.cast(target, safe=kind not in ("ts", "float"))
    if skip is not None and skip.any():
        out = pc.if_else(pa.array(skip), pa.scalar(None, out.type), out)
    return out


def _true_mask(col: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(col, False).to_numpy(zero_copy_only=False), dtype=bool)


def check_table(table: pa.Table | pa.RecordBatch) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Validate a table in any subset or variant of the wide schema.

    A batch in the wide schema's own column types is cleared in bulk
    (:func:`tailguard.events.bulk.clear_rows`); only the rows the bulk pass cannot clear go
    through the row-level rules, which give the same result as they would on the whole batch.

    Returns:
        The valid rows in the wide schema and ``(row index, reason)`` of each rejected row.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not bulk_ready(table):
        return check_rows(table)
    clear = clear_rows(table)
    if clear.all():
        return as_wide(table), []
    fast = np.flatnonzero(clear)
    slow = np.flatnonzero(~clear)
    checked, bad = check_rows(table.take(pa.array(slow)))
    bad = [(int(slow[i]), reason) for i, reason in bad]
    if not len(fast):
        return checked, bad
    kept_slow = slow[np.isin(slow, [i for i, _ in bad], invert=True)] if bad else slow
    merged = pa.concat_tables([as_wide(table.take(pa.array(fast))), checked])
    order = np.argsort(np.concatenate([fast, kept_slow]), kind="stable")
    return merged.take(pa.array(order)), bad


def check_rows(table: pa.Table) -> tuple[pa.Table, list[tuple[int, str]]]:
    """The row-level rules of :func:`check_table` on every row (any column types)."""
    n = table.num_rows
    first: dict[str, int] = {}
    for index, name in enumerate(table.column_names):
        first.setdefault(name, index)  # a repeated column name: the first one counts
    raw_cols = {name: table.column(i).combine_chunks() for name, i in first.items()}
    reasons: Reasons = {}
    etype = _coerce("type", raw_cols["type"], reasons, None) if "type" in raw_cols else None
    if etype is None:
        etype = pa.nulls(n, pa.string())
    type_values = etype

    extras: dict[int, dict[str, Any]] = {}
    skips: dict[str, np.ndarray] = {}
    # Values in another type's fields and unknown columns are extra fields (kept, ignored).
    for name, col in raw_cols.items():
        if name == "extra" or name in COMMON_NAMES:
            continue
        if name in OWNERS:
            owned = pc.is_in(type_values, pa.array(sorted(OWNERS[name]), pa.string()))
            foreign = pc.and_(pc.is_valid(col), pc.invert(pc.fill_null(owned, False)))
            # Rows without a valid type are rejected anyway; leave their cells alone.
            foreign = pc.and_(foreign, pc.is_valid(type_values))
        else:
            foreign = pc.is_valid(col)
        mask = _true_mask(foreign)
        if not mask.any():
            continue
        idx = np.flatnonzero(mask)
        values = _pylist(col.take(pa.array(idx)))
        for i, value in zip(idx.tolist(), values, strict=True):
            extras.setdefault(i, {})[name] = value
        skips[name] = mask
    keep_text: dict[int, str] = {}
    if "extra" in raw_cols:
        _merge_extra_column(raw_cols["extra"], type_values, extras, reasons, keep_text)

    columns: dict[str, pa.Array] = {"type": etype}
    for name in KINDS:
        if name == "type":
            continue
        if name in raw_cols:
            columns[name] = _coerce(name, raw_cols[name], reasons, skips.get(name))
        else:
            columns[name] = pa.nulls(n, LOOSE_TYPES[KINDS[name]])
    extra_texts: list[str | None] = [None] * n
    for i, text in keep_text.items():
        extra_texts[i] = text
    for i, extra in extras.items():
        try:
            extra_texts[i] = dump_extra(extra)
        except (TypeError, ValueError) as exc:
            reasons.setdefault(i, f"extra fields are not JSON-serialisable: {exc}")
    columns["extra"] = pa.array(extra_texts, pa.string())
    loose = pa.table(columns)
    present = frozenset(name for name in KINDS if name in raw_cols)
    valid, reasons = finish(loose, present=present, reasons=reasons)
    return valid, sorted(reasons.items())


def _pylist(col: pa.Array) -> list[Any]:
    try:
        return list(col.to_pylist())
    except (ValueError, OverflowError, pa.ArrowException):
        # e.g. a timestamp beyond year 9999; keep the text Arrow prints for it.
        try:
            return list(col.cast(pa.string()).to_pylist())
        except pa.ArrowException:
            return [None if v is None else repr(v) for v in col.cast(pa.int64()).to_pylist()]


def _merge_extra_column(
    col: pa.Array,
    type_values: pa.Array,
    extras: dict[int, dict[str, Any]],
    reasons: Reasons,
    keep_text: dict[int, str],
) -> None:
    if not _is_stringish(col.type):
        word = f"field 'extra' must be a JSON object string, got Arrow {col.type}"
        for i in np.flatnonzero(_valid_mask(col)).tolist():
            reasons.setdefault(i, word)
        return
    texts = col.cast(pa.string())
    idx = np.flatnonzero(_valid_mask(texts))
    if not len(idx):
        return
    types = type_values.take(pa.array(idx)).to_pylist()
    for i, text, etype in zip(
        idx.tolist(), texts.take(pa.array(idx)).to_pylist(), types, strict=True
    ):
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            reasons.setdefault(i, f"field 'extra' is not valid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            reasons.setdefault(i, f"field 'extra' must be a JSON object, got {json_type(obj)}")
            continue
        own = _OWN_SETS.get(etype or "", frozenset(COMMON_NAMES))
        if i not in extras and own.isdisjoint(obj):
            keep_text[i] = text  # already a clean object: keep its bytes, skip re-encoding
            continue
        merged = {k: v for k, v in obj.items() if k not in own}
        merged.update(extras.get(i, {}))  # columns win over a stale copy inside `extra`
        extras[i] = merged


def validate_table(
    table: pa.Table | pa.RecordBatch,
    *,
    source: str,
    dead_letter: DeadLetterSink | None,
    first_row: int = 1,
) -> pa.Table:
    """Validate a table already in (a subset or variant of) the wide schema, vectorised.

    Narrow per-type tables, wide tables and tables with missing columns are all accepted; a
    column of the wrong Arrow type rejects the rows that have a value in it, a column absent
    from the input is missing for every row whose type needs it, values in another type's
    fields and unknown columns move to ``extra``.

    Args:
        table: the events.
        source: named in each dead letter.
        dead_letter: where rejects go; with ``None`` any reject raises
            :class:`~tailguard.errors.InvalidInputError`.
        first_row: the 1-based row number of the table's first row in its file, for reasons.

    Returns:
        The valid events, in input order, in the wide schema.
    """
    rejects = Rejects(dead_letter, source)
    valid = reject_rows(table, rejects, first_row=first_row)
    rejects.end_batch()
    return valid


def reject_rows(
    table: pa.Table | pa.RecordBatch, rejects: Rejects, *, first_row: int = 1
) -> pa.Table:
    """:func:`validate_table` with the rejects going to a :class:`Rejects`."""
    valid, bad = check_table(table)
    if bad:
        rows = table.take(pa.array([i for i, _ in bad]))
        names = rows.schema.names
        columns = [_pylist(rows.column(i)) for i in range(len(names))]
        for k, (i, reason) in enumerate(bad):
            row = {name: columns[j][k] for j, name in enumerate(names)}
            raw = json.dumps(row, default=jsonable, ensure_ascii=True)
            rejects.add(line=first_row + i, reason=reason, raw=raw, unit="row")
    return valid
