"""The bulk table path gives exactly what the row-level rules give: same events, same rejects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailguard.events import WIDE_SCHEMA, DeadLetterSink, read_all, synthetic_events
from tailguard.events._rules import KINDS
from tailguard.events.bulk import FLAT_OBJECT, bulk_ready, clear_rows
from tailguard.events.schema import EVENT_TYPES
from tailguard.events.tables import check_rows, check_table

# Extra texts on both sides of the bulk grammar: flat objects (kept as they are), objects naming
# a schema field (rewritten), nested or escaped ones (left to the row-level rules), bad JSON.
EXTRAS = [
    '{"hired_on":"2025-03-01"}',
    '{"parent_job_id":"J-9","n":1.5e3,"ok":true,"none":null}',
    '  { "k" : -0.25 , "z":false }  ',
    "{}",
    '{"tech_id":"T-2"}',
    '{"type":"cx.chat","x":1}',
    '{"nested":{"a":1}}',
    '{"list":[1,2]}',
    '{"esc":"a\\"b"}',
    '{"a":NaN}',
    '{"a":1,"a":2}',
    '{"a":01}',
    '{"a":"tab\there"}',
    "[1,2]",
    '"text"',
    "{bad json",
    "",
    "null",
    '{"status": "x"}',
]


def _table(rows: int, seed: int) -> pa.Table:
    return synthetic_events(rows, seed=seed, extra_every=3)


def _set(table: pa.Table, name: str, row: int, value: Any) -> pa.Table:
    """``table`` with one cell replaced (timestamps given as int64 microseconds)."""
    index = table.schema.get_field_index(name)
    typ = WIDE_SCHEMA.field(name).type
    if KINDS.get(name) == "ts":
        values = table.column(name).cast(pa.int64()).to_pylist()
        values[row] = value
        column = pa.array(values, pa.int64()).cast(typ)
    else:
        values = table.column(name).to_pylist()
        values[row] = value
        column = pa.array(values, typ)
    return table.set_column(index, WIDE_SCHEMA.field(name), column)


def _mixed() -> pa.Table:
    """Good events of every type with bad ones and rewritten ones among them."""
    table = _table(300, seed=5)
    types = table.column("type").to_pylist()
    first = {t: types.index(t) for t in EVENT_TYPES}
    edits: list[tuple[str, int, Any]] = [
        ("type", 1, "job.cancelled"),
        ("event_id", 2, ""),
        ("nps", first["cx.survey"], 11),
        ("revenue", first["job.completed"], float("nan")),
        ("tech_pay", types.index("job.completed", first["job.completed"] + 1), -1.0),
        ("sentiment", first["cx.chat"], 1.5),
        ("status", first["tech.status"], "asleep"),
        ("tech_id", first["job.completed"], None),
        ("eta", first["eta.update"], 2**62),
        ("sku", types.index("job.booked", 140), "SKU-9"),  # another type's field: moved to extra
        ("on_hand", first["parts.stock"], -3),
    ]
    for k, text in enumerate(EXTRAS):
        edits.append(("extra", 150 + 7 * k, text))
    for name, row, value in edits:
        table = _set(table, name, row, value)
    return table


def _read(path: Path, tmp_path: Path) -> tuple[pa.Table, list[tuple[int, str]]]:
    dead = tmp_path / (path.name + ".dead")
    with DeadLetterSink(dead) as sink:
        table = read_all(path, dead_letter=sink)
    letters = [json.loads(line) for line in dead.read_text().splitlines()] if dead.exists() else []
    return table, [(d["line"], d["reason"]) for d in letters]


def test_mixed_file_gives_the_same_events_and_dead_letters_as_the_row_rules(
    tmp_path: Path,
) -> None:
    table = _mixed()
    path = tmp_path / "mixed.parquet"
    pq.write_table(table, path, row_group_size=128)
    got, dead = _read(path, tmp_path)

    want, bad = check_rows(table)  # the row-level rules alone, on every row
    assert got.equals(want)
    assert dead == [(i + 1, f"row {i + 1}: {reason}") for i, reason in bad]
    # The file really is mixed: rejects of several kinds and rewritten extras among the valid.
    assert len(bad) >= 12
    reasons = " ".join(r for _, r in bad)
    for word in ("unknown event type", "empty", "out of range", "not valid JSON", "JSON object"):
        assert word in reasons
    assert '"sku":"SKU-9"' in "".join(t for t in got.column("extra").to_pylist() if t)
    assert "hired_on" in "".join(t for t in got.column("extra").to_pylist() if t)


def test_bulk_pass_clears_a_clean_batch_whole() -> None:
    table = _table(500, seed=1)
    assert bulk_ready(table)
    assert clear_rows(table).all()
    valid, bad = check_table(table)
    assert bad == []
    assert valid.equals(check_rows(table)[0])


def test_flat_object_grammar_only_holds_what_json_parses_to_a_dict() -> None:
    import pyarrow.compute as pc

    texts = pa.array(EXTRAS, pa.string())
    flat = pc.match_substring_regex(texts, FLAT_OBJECT).to_pylist()
    for text, is_flat in zip(EXTRAS, flat, strict=True):
        if is_flat:
            assert isinstance(json.loads(text), dict), text
    assert all(flat[:4])


_TS = st.integers(-(2**62), 2**62)
_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "str": st.sampled_from(["", "x", "available", "churned", "asleep"]) | st.text(max_size=4),
    "ts": _TS,
    "float": st.floats(),
    "bool": st.booleans(),
}
_INT_RANGES = {"nps": (-128, 127)}


def _value(name: str) -> st.SearchStrategy[Any]:
    if name == "type":
        return st.sampled_from([*EVENT_TYPES, "nope", ""])
    if name == "extra":
        return st.sampled_from(EXTRAS) | st.text(max_size=12).map(lambda t: json.dumps({t: t}))
    kind = KINDS[name]
    if kind == "int":
        low, high = _INT_RANGES.get(name, (-(2**31), 2**31 - 1))
        return st.integers(low, high)
    return _VALUES[kind]


@st.composite
def _edits(draw: st.DrawFn) -> list[tuple[str, int, Any]]:
    names = [*KINDS, "extra"]
    out = []
    for _ in range(draw(st.integers(1, 12))):
        name = draw(st.sampled_from(names))
        value = draw(st.none() | _value(name))
        out.append((name, draw(st.integers(0, 39)), value))
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=_edits(), seed=st.integers(0, 3))
def test_bulk_path_equals_row_rules_on_any_edited_batch(
    edits: list[tuple[str, int, Any]], seed: int
) -> None:
    table = _table(40, seed=seed)
    for name, row, value in edits:
        table = _set(table, name, row, value)
    got, got_bad = check_table(table)
    want, want_bad = check_rows(table)
    assert got_bad == want_bad
    assert got.equals(want)
