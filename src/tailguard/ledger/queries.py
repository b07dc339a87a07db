"""Reads of the ledger for other packages: entities in their current state, records by id.

The ledger is append-only: the current state of a run, step, gate or OKR is its newest record.
:func:`latest_entities` walks the entities' first records newest first and joins each to its
newest record (both through the ``(kind, record_id, seq)`` index), paging by the first record's
``seq``, so an entity keeps its place in the list while it changes state. Filters on record
fields compile to ``json_extract`` on SQLite and ``->>`` on PostgreSQL; nothing else differs
between the two. Other packages read the ledger through these and :class:`Ledger`'s methods,
never its tables.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from tailguard.errors import BackendUnavailableError, LedgerError
from tailguard.ledger import _tables as t
from tailguard.ledger.store import Ledger, LedgerRecord, from_micros, to_micros

_DENSE_KINDS = frozenset({"run", "step", "gate", "outcome", "step_detail", "gate_detail"})


@dataclass(frozen=True, kw_only=True, slots=True)
class EntityRow:
    """The newest record of one entity, with where the entity starts in the chain."""

    first_seq: int
    first_at: datetime
    record: LedgerRecord


def _field(engine: sa.Engine, table: sa.FromClause, key: str) -> sa.ColumnElement[Any]:
    """A top-level field of a record's JSON, as text."""
    if engine.dialect.name == "postgresql":
        expr: sa.ColumnElement[Any] = sa.cast(table.c.fields, pg.JSONB)[key].astext
        return expr
    return sa.func.json_extract(table.c.fields, f"$.{key}")


def _read(ledger: Ledger, stmt: sa.Executable) -> Sequence[sa.Row[Any]]:
    try:
        with ledger.engine.connect() as conn:
            return conn.execution_options(**ledger.backend.read_options()).execute(stmt).all()
    except sa.exc.OperationalError as exc:
        raise BackendUnavailableError(f"the ledger database is unavailable: {exc.orig}") from exc
    except sa.exc.DBAPIError as exc:
        raise LedgerError(f"the ledger could not be read: {exc.orig}") from exc


def latest_entities(
    ledger: Ledger,
    kind: str,
    *,
    limit: int,
    before_seq: int | None = None,
    run_id: str | None = None,
    equals: Mapping[str, str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[EntityRow]:
    """Entities of ``kind`` in their current state, newest first.

    Args:
        ledger: the ledger.
        kind: the record kind (``run``, ``step``, ``gate``, ``outcome``, ``okr``, ...).
        limit: at most this many.
        before_seq: only entities whose first record has a smaller ``seq`` (the cursor).
        run_id: only entities of this run.
        equals: field values the current record must have (``{"status": "running"}``).
        since: only entities first recorded at or after this time.
        until: only entities first recorded before this time.
    """
    dense = kind in _DENSE_KINDS and run_id is None
    query = functools.partial(
        _entity_query,
        ledger,
        kind=kind,
        run_id=run_id,
        equals=equals or {},
        since=since,
        until=until,
    )
    if not dense:
        # A run's entities, or a rare kind: the (run_id, seq) or (kind, ...) index finds them.
        return _entity_rows(ledger, query(lo=None, hi=before_seq, limit=limit))
    # A dense kind: walk the chain backwards in growing seq windows, so that every query is
    # bounded by its window whatever plan the database picks, and a page costs O(limit)
    # index lookups however long the ledger is (a filter that matches nothing walks it all).
    hi = before_seq if before_seq is not None else ledger.head()[0] + 1
    window = max(256, 4 * limit)
    out: list[EntityRow] = []
    while hi > 0 and len(out) < limit:
        lo = max(0, hi - window)
        out += _entity_rows(ledger, query(lo=lo, hi=hi, limit=limit - len(out)))
        hi = lo
        window = min(window * 2, 65_536)
    return out


def _entity_query(
    ledger: Ledger,
    *,
    kind: str,
    run_id: str | None,
    equals: Mapping[str, str],
    since: datetime | None,
    until: datetime | None,
    lo: int | None,
    hi: int | None,
    limit: int,
) -> sa.Select[Any]:
    records = t.records
    first = records.alias("first")
    current = records.alias("current")
    earlier = records.alias("earlier")
    later = records.alias("later")
    is_first = ~sa.exists().where(
        earlier.c.kind == first.c.kind,
        earlier.c.record_id == first.c.record_id,
        earlier.c.seq < first.c.seq,
    )
    newest = (
        sa.select(sa.func.max(later.c.seq))
        .where(later.c.kind == first.c.kind, later.c.record_id == first.c.record_id)
        .scalar_subquery()
    )
    # In a seq window, keep the planner off the (kind, ...) index: the window's primary-key
    # range is the small set to scan.
    kind_col = first.c.kind + "" if lo is not None else first.c.kind
    cond: list[sa.ColumnElement[bool]] = [kind_col == kind, is_first]
    if run_id is not None:
        cond.append(first.c.run_id == run_id)
    if since is not None:
        cond.append(first.c.recorded_at_us >= to_micros(since))
    if until is not None:
        cond.append(first.c.recorded_at_us < to_micros(until))
    if lo is not None:
        cond.append(first.c.seq >= lo)
    if hi is not None:
        cond.append(first.c.seq < hi)
    cond += [_field(ledger.engine, current, key) == value for key, value in equals.items()]
    return (
        sa.select(
            first.c.seq.label("first_seq"),
            first.c.recorded_at_us.label("first_us"),
            current.c.seq,
            current.c.kind,
            current.c.record_id,
            current.c.run_id,
            current.c.recorded_at_us,
            current.c.fields,
            current.c.prev_hash,
            current.c.hash,
        )
        .select_from(first)
        .join(current, current.c.seq == newest)
        .where(*cond)
        .order_by(first.c.seq.desc())
        .limit(limit)
    )


def _entity_rows(ledger: Ledger, stmt: sa.Select[Any]) -> list[EntityRow]:
    return [
        EntityRow(
            first_seq=int(row.first_seq),
            first_at=from_micros(int(row.first_us)),
            record=LedgerRecord(
                seq=row.seq,
                kind=row.kind,
                record_id=row.record_id,
                run_id=row.run_id,
                recorded_at=from_micros(row.recorded_at_us),
                fields=json.loads(row.fields),
                prev_hash=row.prev_hash,
                hash=row.hash,
            ),
        )
        for row in _read(ledger, stmt)
    ]


def records_of(ledger: Ledger, kind: str, record_ids: Iterable[str]) -> list[LedgerRecord]:
    """Every record of these entities of ``kind``, in chain order."""
    ids = list(dict.fromkeys(record_ids))
    r = t.records
    out: list[LedgerRecord] = []
    for lo in range(0, len(ids), 500):
        stmt = (
            sa.select(r)
            .where(r.c.kind == kind, r.c.record_id.in_(ids[lo : lo + 500]))
            .order_by(r.c.seq)
        )
        out += [
            LedgerRecord(
                seq=row.seq,
                kind=row.kind,
                record_id=row.record_id,
                run_id=row.run_id,
                recorded_at=from_micros(row.recorded_at_us),
                fields=json.loads(row.fields),
                prev_hash=row.prev_hash,
                hash=row.hash,
            )
            for row in _read(ledger, stmt)
        ]
    return sorted(out, key=lambda rec: rec.seq)


def ping(ledger: Ledger) -> None:
    """One round trip to the ledger database.

    Raises:
        BackendUnavailableError: the database cannot be reached.
    """
    _read(ledger, sa.select(t.head.c.seq).where(t.head.c.id == 1))


__all__ = ["EntityRow", "latest_entities", "ping", "records_of"]
