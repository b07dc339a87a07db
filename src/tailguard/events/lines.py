"""The bulk half of JSON Lines validation: the common line shape parsed as whole batches.

:func:`check_lines` recognises, with one regular expression over a whole batch of lines, the
lines whose meaning is certain without a per-line JSON parser: a compact object whose members
are the common fields then the type's own fields in INTERFACES.md order (as
:func:`~tailguard.events.jsonl.encode_jsonl` writes them), with strings free of escapes and
control characters, timestamps spelled as the writer spells them (``Z``, at most six fraction
digits), integers of at most 18 digits, numbers of a bounded size, booleans, ``null``
only where a field may be null, and at most one extra member after them (a string, a canonical
integer, a boolean or ``null``, under a name that is no event field). Those lines are parsed by
Polars' JSON Lines reader with a fixed schema, so their values are exactly what the per-line
path (:func:`~tailguard.events.validate.check_records`) would read: strings are their raw text,
integers fit int64, every number is correctly rounded by both parsers, and the extra member's
text is already :func:`~tailguard.events.validate.dump_extra`'s canonical form. Every other line
(other key orders, whitespace, escapes, nested values, duplicate keys, bad JSON) goes through the
per-line path, which words every reason. Both halves end in the same vectorised rules
(:func:`~tailguard.events._rules.finish`, row by row independent), so the valid events and the
dead letters are the same as the per-line path gives on the whole batch.
"""

from __future__ import annotations

import io
import re
from typing import Final

import numpy as np
import polars as pl
import pyarrow as pa

from tailguard.events._rules import COMMON_NAMES, KINDS, finish
from tailguard.events.schema import NULLABLE_FIELDS, TS, TYPE_FIELDS, WIDE_SCHEMA
from tailguard.events.validate import _RECORDS_SCHEMA, Rejects, check_records_at

#: A JSON string that is its own raw text: no escapes, no control characters, no quotes.
_STRING: Final = r'"[^"\\\x00-\x1f]*"'
#: Integers that fit int64 whatever the digits (and whose text is their value).
_INT: Final = r"-?(?:0|[1-9][0-9]{0,17})"
#: Numbers whose integer part is exact in a double and whose exponent keeps them finite.
_FLOAT: Final = r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,17})?(?:[eE][+-]?[0-9]{1,2})?"
#: A timestamp as the writer spells it (RFC 3339, UTC, "Z", at most microseconds; no year 0):
#: upper-casing and cutting digits change nothing, so Arrow's cast alone parses it.
_TS: Final = (
    r'"(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-[0-9]{2}-[0-9]{2}'
    r'T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z"'
)
_VALUES: Final = {
    "str": _STRING,
    "ts": _TS,
    "int": _INT,
    "float": _FLOAT,
    "bool": "(?:true|false)",
}
#: An extra member's value whose JSON text is what dump_extra writes for it (no "-0").
_EXTRA_VALUE: Final = rf"(?:{_STRING}|0|-?[1-9][0-9]{{0,17}}|true|false|null)"


def _value(name: str) -> str:
    value = _VALUES[KINDS[name]]
    return f"(?:{value}|null)" if name in NULLABLE_FIELDS else value


def _type_shape(event_type: str) -> str:
    own = "".join(f',"{name}":{_value(name)}' for name in TYPE_FIELDS[event_type])
    return f'"type":"{re.escape(event_type)}","ts":{_STRING},"area_id":{_STRING}{own}'


#: The common line shape (a type's fields in order, then at most one plain extra member).
SHAPE: Final = (
    rf'^\{{"event_id":{_STRING},(?:{"|".join(_type_shape(t) for t in TYPE_FIELDS)})'
    rf"(?:,{_STRING}:{_EXTRA_VALUE})?\}}$"
)
#: The last member of a line, on lines of the common shape that have an extra member.
_LAST: Final = r',"([^"]*)":((?:"[^"]*"|[^",]*))\}$'
#: Members per line without an extra one, by event type (a key is the only place for '":').
_MEMBERS: Final = {t: len(COMMON_NAMES) + len(fields) for t, fields in TYPE_FIELDS.items()}
_TYPE_OF: Final = r'^\{"event_id":"[^"]*","type":"([^"]*)"'
_FIELDS: Final = frozenset(KINDS)
_TS_FIELDS: Final = tuple(name for name, kind in KINDS.items() if kind == "ts")

_POLARS_TYPES: Final = {
    "str": pl.String,
    "ts": pl.String,
    "int": pl.Int64,
    "float": pl.Float64,
    "bool": pl.Boolean,
}
_SCHEMA: Final = {name: _POLARS_TYPES[kind] for name, kind in KINDS.items()}


def _fast_table(texts: pl.Series) -> tuple[pa.Table, np.ndarray]:
    """The loose table of lines of the common shape (what the per-line path builds).

    Returns:
        The table of the lines it keeps, and which lines those are: a line whose extra member
        is named like an event field (a duplicate key, or another type's field) is left to the
        per-line path, which decides what it means.
    """
    members = texts.str.count_matches('":', literal=True)
    expected = texts.str.extract(_TYPE_OF, 1).replace_strict(_MEMBERS, return_dtype=pl.UInt32)
    has_extra = (members > expected).to_numpy()
    keep = np.ones(len(texts), dtype=bool)
    extra = pl.Series("extra", [None] * len(texts), dtype=pl.String)
    if has_extra.any():
        last = texts.filter(pl.Series(has_extra)).str.extract_groups(_LAST).struct.unnest()
        last = last.select(
            pl.col("1").is_in(list(_FIELDS)).alias("field"),
            pl.concat_str(pl.lit('{"'), pl.col("1"), pl.lit('":'), pl.col("2"), pl.lit("}")).alias(
                "text"
            ),
        )
        at = np.flatnonzero(has_extra)
        extra = extra.scatter(at, last["text"])
        named = last["field"].to_numpy()
        if named.any():
            keep[at[named]] = False
            texts, extra = texts.filter(pl.Series(keep)), extra.filter(pl.Series(keep))
    data = texts.str.join("\n").item().encode("utf-8")
    frame = pl.read_ndjson(io.BytesIO(data), schema=_SCHEMA).with_columns(extra)
    table = frame.to_arrow().cast(_RECORDS_SCHEMA)
    for name in _TS_FIELDS:
        # What _rules.parse_timestamps ends in for these spellings; an impossible date (Feb
        # 30) makes the cast fail, and then the rules parse the column and word the reason.
        try:
            parsed = table.column(name).cast(TS)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        table = table.set_column(table.schema.get_field_index(name), name, parsed)
    return table, keep


def check_lines(numbers: list[int], lines: list[str], rejects: Rejects) -> pa.Table:
    """Validate a batch of JSON Lines (texts and their line numbers) into the valid events.

    Rejects go to ``rejects`` with the same reasons as
    :func:`~tailguard.events.validate.check_records` would give on the whole batch.
    """
    if not lines:
        return WIDE_SCHEMA.empty_table()
    texts = pl.Series("line", lines, dtype=pl.String)
    shaped = texts.str.contains(SHAPE).to_numpy()
    fast = np.flatnonzero(shaped)
    parts: list[pa.Table] = []
    at: list[np.ndarray] = []
    if len(fast):
        try:
            table, keep = _fast_table(texts.gather(fast))
        except pl.exceptions.PolarsError:  # not expected: then every line takes the per-line path
            table, keep = WIDE_SCHEMA.empty_table(), np.zeros(len(fast), dtype=bool)
        if not keep.all():
            shaped[fast[~keep]] = False
            fast = fast[keep]
        if len(fast):
            valid, reasons = finish(table, present=_FIELDS, reasons={})
            for i in sorted(reasons):
                k = int(fast[i])
                rejects.add(line=numbers[k], reason=reasons[i], raw=lines[k])
            parts.append(valid)
            at.append(np.delete(fast, sorted(reasons)) if reasons else fast)
    slow = np.flatnonzero(~shaped)
    if len(slow):
        rows = [(numbers[i], lines[i]) for i in slow.tolist()]
        valid, kept = check_records_at(rows, rejects)
        parts.append(valid)
        at.append(slow[kept])
    if not parts:
        return WIDE_SCHEMA.empty_table()
    if len(parts) == 1:
        return parts[0]
    order = np.argsort(np.concatenate(at), kind="stable")
    return pa.concat_tables(parts).take(pa.array(order))
