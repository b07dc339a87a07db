"""The service's read queries over the ledger and the control plane's gate table.

The ledger is append-only: the current state of a run, step, gate or OKR is its newest record.
:func:`latest_entities` walks the entities' first records newest first and joins each to its
newest record (both through the ``(kind, record_id, seq)`` index), paging by the first record's
``seq``, so an entity keeps its place in the list while it changes state. Filters on record fields compile to
``json_extract`` on SQLite and ``->>`` on PostgreSQL; nothing else differs between the two.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from tailguard.control.gates import awaiting_select
from tailguard.control.store import gates as gate_table
from tailguard.errors import BackendUnavailableError, LedgerError
from tailguard.ledger import Ledger, LedgerRecord
from tailguard.ledger import _tables as t
from tailguard.ledger.store import from_micros, to_micros

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


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecords:
    """Everything the ledger holds on one run, each entity in its current state."""

    run: LedgerRecord
    steps: list[LedgerRecord]
    gates: list[LedgerRecord]
    outcome: LedgerRecord | None
    details: dict[str, dict[str, Any]]


def run_records(ledger: Ledger, run_id: str) -> RunRecords | None:
    """The run's newest ``run`` record with its steps, gates and outcome (None if unknown).

    ``details`` maps a gate id to its merged ``gate_detail`` fields (requester, audit arguments,
    decision reason), which the approval audit needs beside the gate record.
    """
    latest: dict[tuple[str, str], LedgerRecord] = {}
    details: dict[str, dict[str, Any]] = {}
    for record in ledger.records(run_id=run_id):
        if record.kind == "gate_detail":
            details.setdefault(record.record_id, {}).update(record.fields)
        else:
            latest[(record.kind, record.record_id)] = record
    run = latest.get(("run", run_id))
    if run is None:
        return None
    of = list(latest.values())
    outcomes = [r for r in of if r.kind == "outcome"]
    return RunRecords(
        run=run,
        steps=[r for r in of if r.kind == "step"],
        gates=[r for r in of if r.kind == "gate"],
        outcome=outcomes[-1] if outcomes else None,
        details=details,
    )


def pending_gates(
    ledger: Ledger,
    *,
    now: datetime,
    limit: int,
    after: tuple[float, str] | None = None,
    tool_name: str | None = None,
    run_id: str | None = None,
    risk_level: str | None = None,
) -> list[sa.Row[Any]]:
    """Gates waiting for a decision and not yet timed out, oldest first.

    Rows of the control plane's gate table (``args_json`` holds the full arguments).
    """
    g = gate_table
    cond: list[sa.ColumnElement[bool]] = [
        g.c.decision == "pending",
        sa.or_(g.c.expires_at.is_(None), g.c.expires_at > now.timestamp()),
    ]
    if tool_name is not None:
        cond.append(g.c.tool_name == tool_name)
    if run_id is not None:
        cond.append(g.c.run_id == run_id)
    if risk_level is not None:
        cond.append(g.c.risk_level == risk_level)
    if after is not None:
        at, gate_id = after
        cond.append(
            sa.or_(g.c.presented_at > at, sa.and_(g.c.presented_at == at, g.c.gate_id > gate_id))
        )
    stmt = sa.select(g).where(*cond).order_by(g.c.presented_at, g.c.gate_id).limit(limit)
    return list(_read(ledger, stmt))


def awaiting_gates(
    ledger: Ledger,
    *,
    limit: int,
    after: tuple[float, str] | None = None,
    tool_name: str | None = None,
    run_id: str | None = None,
    risk_level: str | None = None,
) -> list[sa.Row[Any]]:
    """Gates approved whose call never ran nor was cancelled, oldest decision first."""
    g = gate_table
    stmt = awaiting_select(run_id=run_id)
    if tool_name is not None:
        stmt = stmt.where(g.c.tool_name == tool_name)
    if risk_level is not None:
        stmt = stmt.where(g.c.risk_level == risk_level)
    if after is not None:
        at, gate_id = after
        stmt = stmt.where(
            sa.or_(g.c.decided_at > at, sa.and_(g.c.decided_at == at, g.c.gate_id > gate_id))
        )
    return list(_read(ledger, stmt.limit(limit)))


def count_pending_gates(ledger: Ledger, *, now: datetime) -> int:
    """How many gates wait for a decision (not yet timed out)."""
    g = gate_table
    stmt = (
        sa.select(sa.func.count())
        .select_from(g)
        .where(
            g.c.decision == "pending",
            sa.or_(g.c.expires_at.is_(None), g.c.expires_at > now.timestamp()),
        )
    )
    return int(_read(ledger, stmt)[0][0])


def ping(ledger: Ledger) -> None:
    """One round trip to the ledger database.

    Raises:
        BackendUnavailableError: the database cannot be reached.
    """
    _read(ledger, sa.select(t.head.c.seq).where(t.head.c.id == 1))
