"""Event validation per INTERFACES.md section 1, with every reject sent to the dead letter.

Two entry points share one set of rules (:mod:`tailguard.events._rules`):
:func:`validate_records` here, for JSON text or parsed mappings (the JSON Lines path), and
:func:`~tailguard.events.tables.validate_table` for Arrow tables in any subset or variant of
the wide schema (the Parquet path). Both return the valid rows as a
:data:`~tailguard.events.schema.WIDE_SCHEMA` table and never raise on bad content: each bad
event becomes one dead letter with a precise reason, and the rest of the batch proceeds.
"""

from __future__ import annotations

import base64
import gc
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
    finish,
    loose_schema,
)
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

    The cyclic garbage collector is paused for the batch: a batch allocates tens of thousands
    of dicts that form no cycles, and its passes over them cost about a third of the time.
    """
    return check_records_at(records, rejects, long_digits=long_digits)[0]


def check_records_at(
    records: Iterable[tuple[int | None, str | Mapping[str, Any]]],
    rejects: Rejects,
    *,
    long_digits: bool = True,
) -> tuple[pa.Table, np.ndarray]:
    """:func:`check_records`, also giving the input position of each valid row (ascending)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _check_records(records, rejects, long_digits=long_digits)
    finally:
        if paused:
            gc.enable()


def _check_records(
    records: Iterable[tuple[int | None, str | Mapping[str, Any]]],
    rejects: Rejects,
    *,
    long_digits: bool,
) -> tuple[pa.Table, np.ndarray]:
    groups: dict[str, list[tuple[int | None, str, Mapping[str, Any]]]] = {}
    order: dict[str, list[int]] = {}
    scan = _SCANNER.scan_once
    for position, (line, record) in enumerate(records):
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
        return WIDE_SCHEMA.empty_table(), np.zeros(0, dtype=np.int64)
    # Back to input order: the per-type groups interleave in the file.
    at = np.asarray(positions, dtype=np.int64)
    perm = np.argsort(at, kind="stable")
    table = pa.concat_tables(tables).take(pa.array(perm))
    lines = [lines[i] for i in perm.tolist()]
    raws = [raws[i] for i in perm.tolist()]
    valid, reasons = finish(table, present=_ALL_FIELDS, reasons={})
    at = at[perm]
    if reasons:
        at = np.delete(at, sorted(reasons))
    for i in sorted(reasons):
        rejects.add(line=lines[i], reason=reasons[i], raw=raws[i])
    return valid, at


def _valid_mask(col: pa.Array) -> np.ndarray:
    return np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)
