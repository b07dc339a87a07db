"""Event validation per INTERFACES.md section 1, with every reject sent to the dead letter.

Two entry points share one set of rules (:mod:`tailguard.events._rules`):
:func:`validate_records` for JSON text or parsed mappings (the JSON Lines path) and
:func:`validate_table` for Arrow tables in any subset or variant of the wide schema (the
Parquet path). Both return the valid rows as a :data:`~tailguard.events.schema.WIDE_SCHEMA`
table and never raise on bad content: each bad event becomes one dead letter with a precise
reason, and the rest of the batch proceeds.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any, Final

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tailguard.clock import format_ts
from tailguard.errors import InvalidInputError
from tailguard.events._rules import (
    COMMON_NAMES,
    INT_BOUNDS,
    KINDS,
    LOOSE_TYPES,
    OWNERS,
    Reasons,
    finish,
    loose_schema,
)
from tailguard.events.bulk import as_wide, bulk_ready, clear_rows
from tailguard.events.deadletter import DeadLetterSink
from tailguard.events.schema import NULLABLE_FIELDS, TYPE_FIELDS, WIDE_SCHEMA

_ALL_FIELDS: Final = frozenset(KINDS)
_OWN_FIELDS: Final = {t: (*COMMON_NAMES, *fields) for t, fields in TYPE_FIELDS.items()}
_OWN_SETS: Final = {t: frozenset(names) for t, names in _OWN_FIELDS.items()}
_KIND_WORDS: Final = {
    "str": "a string",
    "ts": "an RFC 3339 timestamp string",
    "float": "a number",
    "int": "an integer",
    "bool": "a boolean",
}
# The records path keeps timestamps as text until the vectorised parse in _rules.finish.
_RECORDS_SCHEMA: Final = pa.schema(
    [pa.field(f.name, pa.string()) if KINDS.get(f.name) == "ts" else f for f in loose_schema()]
)


class Rejects:
    """Collects a batch's rejects and hands them to the sink in line order.

    Without a sink, rejects must not vanish: :meth:`end_batch` raises naming the first one.
    """

    def __init__(self, sink: DeadLetterSink | None, source: str, *, unit: str = "line") -> None:
        self.sink = sink
        self.source = source
        self.unit = unit
        self.count = 0
        self._pending: list[tuple[int, str, str, int | None]] = []

    def add(self, *, line: int | None, reason: str, raw: str, unit: str | None = None) -> None:
        """Record one reject; the reason is prefixed with its line, row or item when known."""
        unit = unit or self.unit
        worded = f"{unit} {line}: {reason}" if line is not None else reason
        self.count += 1
        self._pending.append((line if line is not None else -1, worded, raw, line))

    def end_batch(self) -> None:
        """Write the batch's rejects, sorted by line (or raise if there is no sink)."""
        pending = sorted(self._pending, key=lambda item: item[0])
        self._pending = []
        if not pending:
            return
        if self.sink is None:
            raise InvalidInputError(
                f"{len(pending)} invalid event(s) in {self.source}; first: {pending[0][1]} "
                "(pass a DeadLetterSink to keep the valid ones and record the rest)",
                details={"source": self.source, "count": len(pending)},
            )
        for _, reason, raw, line in pending:
            self.sink.add(reason=reason, raw=raw, source=self.source, line=line)


def json_type(value: object) -> str:
    """The JSON name of a Python value's type, for reasons."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def jsonable(value: object) -> object:
    """``json.dumps`` fallback for values read from Arrow (timestamps, decimals, bytes)."""
    if isinstance(value, datetime):
        return format_ts(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def dump_extra(extra: Mapping[str, Any]) -> str:
    """Extra fields as canonical JSON (sorted keys, compact), so writers are deterministic."""
    return json.dumps(
        dict(sorted(extra.items())),
        separators=(",", ":"),
        ensure_ascii=False,
        default=jsonable,
    )


_SCANNER: Final[Any] = json.JSONDecoder()  # its C scan_once is untyped
_orjson_loads: Final = orjson.loads  # JSONDecodeError is a ValueError
_encode_str: Final[Any] = encode_basestring  # the C encoder json.dumps uses (ensure_ascii off)
_LONG_DIGITS: Final = re.compile(r"\d{19}").search
_NONE = type(None)
#: Python types a JSON value of each kind may arrive as (ints are numbers; bools are not).
_FAST_TYPES: Final = {
    "str": frozenset({str, _NONE}),
    "ts": frozenset({str, _NONE}),
    "float": frozenset({float, int, _NONE}),
    "int": frozenset({int, _NONE}),
    "bool": frozenset({bool, _NONE}),
}


def _check_value(name: str, value: Any) -> tuple[Any, str | None]:
    """One value of a field -> (the value to store, None) or (None, the reason it is bad)."""
    kind = KINDS[name]
    vtype = type(value)
    if value is None:
        return None, None
    if kind == "str" or (kind == "ts" and vtype is str):
        if vtype is not str:
            return None, f"field {name!r} must be a string, got {json_type(value)}"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None, f"field {name!r} is not valid Unicode (lone surrogate)"
        return value, None
    if kind == "float":
        if vtype is int:
            if abs(value) > 1e300:
                return None, f"{name} {value} is not a finite number"
            return float(value), None
        if vtype is not float:
            return None, f"field {name!r} must be a number, got {json_type(value)}"
        return value, None
    if kind == "int":
        if vtype is not int:
            return None, f"field {name!r} must be an integer, got {json_type(value)}"
        if not -(2**63) <= value < 2**63:  # beyond int64: Arrow could not even hold it
            low, high = INT_BOUNDS[name]
            return None, f"{name} {value} out of range {low}-{high}"
        return value, None
    if kind == "bool":
        if vtype is not bool:
            return None, f"field {name!r} must be a boolean, got {json_type(value)}"
        return value, None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return format_ts(value), None
    return None, f"field {name!r} must be {_KIND_WORDS['ts']}, got {json_type(value)}"


def _first_problem(obj: Mapping[str, Any]) -> str | None:
    """Why an object cannot be grouped by type, or None if it has a known type and all fields."""
    for name in COMMON_NAMES:
        if name not in obj:
            return f"missing field {name!r}"
    etype = obj["type"]
    if type(etype) is not str:
        return f"field 'type' must be a string, got {json_type(etype)}"
    own = _OWN_FIELDS.get(etype)
    if own is None:
        return f"unknown event type {etype!r}"
    for name in own:
        if name not in obj:
            return f"missing field {name!r}"
    return None


def _type_columns(
    etype: str, objs: list[Mapping[str, Any]], reasons: dict[int, str]
) -> dict[str, pa.Array]:
    """The loose columns of one type's events; bad cells become reasons (by position)."""
    columns: dict[str, pa.Array] = {}
    names = _OWN_FIELDS[etype]
    # One C-level pass turns the objects into columns (every own field is present).
    transposed = zip(*map(itemgetter(*names), objs), strict=True) if objs else ()
    for name, cells in zip(names, transposed, strict=False):
        values = list(cells)
        kind = KINDS[name]
        target = _RECORDS_SCHEMA.field(name).type
        array: pa.Array | None = None
        if set(map(type, values)) <= _FAST_TYPES[kind]:
            try:
                array = pa.array(values, type=target)
            except (pa.ArrowException, OverflowError, UnicodeEncodeError, ValueError):
                array = None  # huge ints, lone surrogates: find them one by one below
        if array is None:
            cleaned: list[Any] = []
            for i, value in enumerate(values):
                stored, reason = _check_value(name, value)
                if reason is not None:
                    reasons.setdefault(i, reason)
                cleaned.append(stored)
            array = pa.array(cleaned, type=target)
        if name not in NULLABLE_FIELDS and array.null_count:
            nulls = np.flatnonzero(_valid_mask(array) == 0).tolist()
            for i in nulls:
                if values[i] is None:
                    reasons.setdefault(i, f"field {name!r} must not be null")
        columns[name] = array
    own = _OWN_SETS[etype]
    extras: list[str | None] = [None] * len(objs)
    size = len(own)
    for i in [i for i, obj in enumerate(objs) if len(obj) > size]:
        obj = objs[i]
        keys = obj.keys() - own
        try:
            extra = {str(k): obj[k] for k in keys}
            text = _plain_extra(extra) or dump_extra(extra)
            text.encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            reasons.setdefault(i, f"extra fields are not JSON-serialisable: {exc}")
            continue
        except UnicodeEncodeError:
            reasons.setdefault(i, "an extra field is not valid Unicode (lone surrogate)")
            continue
        extras[i] = text
    columns["extra"] = pa.array(extras, pa.string())
    return columns


def _plain_extra(extra: dict[str, Any]) -> str | None:
    """:func:`dump_extra`'s text for strings, ints, booleans and nulls (None otherwise)."""
    parts = []
    try:
        for key in sorted(extra):
            value = extra[key]
            vtype = type(value)
            if vtype is str:
                text = _encode_str(value)
            elif value is None:
                text = "null"
            elif vtype is bool:
                text = "true" if value else "false"
            elif vtype is int:
                text = int.__repr__(value)
            else:
                return None
            parts.append(f"{_encode_str(key)}:{text}")
    except ValueError:  # an int too long to print: dump_extra words it
        return None
    return "{" + ",".join(parts) + "}"


def validate_records(
    records: Iterable[tuple[int | None, str | Mapping[str, Any]]],
    *,
    source: str,
    dead_letter: DeadLetterSink | None,
) -> pa.Table:
    """Validate JSON events (text or parsed mappings) into a wide table of the valid ones.

    Args:
        records: ``(line number or None, raw JSON text or parsed mapping)`` pairs.
        source: named in each dead letter (a file path, a bus name).
        dead_letter: where rejects go, each with its reason; with ``None``, any reject
            raises :class:`~tailguard.errors.InvalidInputError` after the batch is checked.

    Returns:
        The valid events, in input order, in the wide schema.
    """
    rejects = Rejects(dead_letter, source)
    table = check_records(records, rejects)
    rejects.end_batch()
    return table


def check_records(
    records: Iterable[tuple[int | None, str | Mapping[str, Any]]],
    rejects: Rejects,
    *,
    long_digits: bool = True,
) -> pa.Table:
    """:func:`validate_records` with the rejects going to a :class:`Rejects`.

    ``long_digits=False`` promises that no text holds a run of 19 or more digits (the reader
    checks its bytes in bulk), which spares a per-line search.

    JSON is parsed line by line (unavoidable), but the type checks run per field over the
    whole batch: a set of the Python types present decides whether Arrow may convert the
    column in one call; only a column holding a wrong type is walked value by value.
    """
    groups: dict[str, list[tuple[int | None, str, Mapping[str, Any]]]] = {}
    order: dict[str, list[int]] = {}
    scan = _SCANNER.scan_once
    position = 0
    for line, record in records:
        if isinstance(record, str):
            raw = record
            # orjson first (3x the stdlib's speed); it parses what the stdlib parses to the
            # same objects, except integers beyond 64 bits (it gives a float: hence the digit
            # guard), NaN / Infinity and lone surrogates (it refuses: the stdlib decides).
            try:
                if long_digits and _LONG_DIGITS(record) is not None:
                    raise ValueError
                obj = _orjson_loads(record)
            except ValueError:
                # The C scanner; json.loads (same grammar) only to word an error or to
                # handle surrounding whitespace.
                try:
                    obj, end = scan(record, 0)
                    if end != len(record):
                        raise ValueError from None
                except (ValueError, StopIteration, RecursionError):
                    try:
                        obj = json.loads(record)
                    except (ValueError, RecursionError) as exc:
                        rejects.add(line=line, reason=f"invalid JSON: {exc}", raw=raw)
                        continue
        else:
            obj = record
            try:
                raw = json.dumps(record, default=jsonable, ensure_ascii=True)
            except (TypeError, ValueError, RecursionError):
                raw = repr(record)
        if type(obj) is not dict and not isinstance(obj, Mapping):
            rejects.add(line=line, reason=f"expected a JSON object, got {json_type(obj)}", raw=raw)
            continue
        etype = obj.get("type")
        own = _OWN_SETS.get(etype) if type(etype) is str else None
        if own is None or not obj.keys() >= own:
            problem = _first_problem(obj)
            if problem is not None:
                rejects.add(line=line, reason=problem, raw=raw)
                continue
        assert isinstance(etype, str)  # _first_problem found none: a known type name
        groups.setdefault(etype, []).append((line, raw, obj))
        order.setdefault(etype, []).append(position)
        position += 1
    tables: list[pa.Table] = []
    lines: list[int | None] = []
    raws: list[str] = []
    positions: list[int] = []
    for etype, items in groups.items():
        reasons: dict[int, str] = {}
        columns = _type_columns(etype, [obj for _, _, obj in items], reasons)
        keep = np.ones(len(items), dtype=bool)
        for i in sorted(reasons):
            keep[i] = False
            rejects.add(line=items[i][0], reason=reasons[i], raw=items[i][1])
        table = pa.table(
            {
                name: columns[name] if name in columns else pa.nulls(len(items), field.type)
                for name, field in zip(_RECORDS_SCHEMA.names, _RECORDS_SCHEMA, strict=True)
            },
            schema=_RECORDS_SCHEMA,
        )
        if not keep.all():
            table = table.filter(pa.array(keep))
        tables.append(table)
        kept = np.flatnonzero(keep).tolist()
        lines.extend(items[i][0] for i in kept)
        raws.extend(items[i][1] for i in kept)
        positions.extend(order[etype][i] for i in kept)
    if not tables:
        return WIDE_SCHEMA.empty_table()
    # Back to input order: the per-type groups interleave in the file.
    perm = np.argsort(np.asarray(positions, dtype=np.int64), kind="stable")
    table = pa.concat_tables(tables).take(pa.array(perm))
    lines = [lines[i] for i in perm.tolist()]
    raws = [raws[i] for i in perm.tolist()]
    valid, reasons = finish(table, present=_ALL_FIELDS, reasons={})
    for i in sorted(reasons):
        rejects.add(line=lines[i], reason=reasons[i], raw=raws[i])
    return valid


# ---------------------------------------------------------------------------------------------
# Tables (Parquet and anything else already columnar)


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


def _valid_mask(col: pa.Array) -> np.ndarray:
    return np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)


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
