"""A unit of work on the ledger: many records, and other tables' rows, in ONE transaction.

:meth:`tailguard.ledger.Ledger.transaction` opens a write transaction and yields a
:class:`LedgerTransaction`. Records appended to it are validated at once (a bad record fails
the call that appends it) and buffered; when the block ends without an exception the chain head
is locked, the hashes of the whole batch are computed in memory, the records are inserted with
one ``executemany`` and the head moves, in the same transaction as whatever the caller wrote
through :attr:`LedgerTransaction.conn` (the control plane's gates, claims and run rows). An
exception rolls everything back: no record and no row is written.

The head is locked when the batch is flushed, at the end: callers that take other row locks in
the transaction (the control plane's named locks) always take them before the head, like every
other writer, so lock order is the same everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tailguard.errors import InvalidInputError
from tailguard.ledger import _tables as t
from tailguard.ledger._canonical import canonical_json, record_hash
from tailguard.ledger.kinds import CheckedRecord, check_record

if TYPE_CHECKING:
    from tailguard.ledger.store import LedgerRecord

# Read the chain head and lock it until commit: FOR UPDATE on PostgreSQL; SQLite compiles the
# statement without the clause and relies on BEGIN IMMEDIATE instead.
LOCK_HEAD = sa.select(t.head.c.seq, t.head.c.hash).where(t.head.c.id == 1).with_for_update()

_IN_CHUNK = 500


def check_items(items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[CheckedRecord]:
    """Validate ``(kind, fields)`` pairs (all or nothing)."""
    checked = []
    for index, item in enumerate(items):
        try:
            kind, fields = item
        except (TypeError, ValueError):
            raise InvalidInputError(f"item {index} is not a (kind, fields) pair") from None
        checked.append(check_record(kind, fields))
    return checked


class LedgerTransaction:
    """Records waiting to be chained at commit, and the transaction's connection.

    Do not keep it past its ``with`` block.
    """

    def __init__(self, conn: sa.Connection, recorded_at: Any) -> None:
        self.conn = conn
        self._recorded_at = recorded_at
        self._pending: list[tuple[CheckedRecord, str]] = []

    @property
    def pending(self) -> int:
        """Records appended and not yet chained."""
        return len(self._pending)

    def append(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Validate one record now; it is chained and written when the transaction ends."""
        self.append_many([(kind, fields)])

    def append_many(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Validate several records now (all or nothing); they are written at commit."""
        self._pending.extend((c, canonical_json(c.fields)) for c in check_items(items))

    def lock_head(self) -> None:
        """Take the chain head's lock now, until the transaction ends (on SQLite the
        ``BEGIN IMMEDIATE`` write lock is already held). A read-then-append (the newest version
        of a record, then the next) is then safe against every other writer: they wait.
        Take it before no other lock (the lock order: named locks, then the head)."""
        self.conn.execute(LOCK_HEAD).one()

    def latest(self, kind: str, record_id: str) -> LedgerRecord | None:
        """The newest committed record of ``kind`` with id ``record_id``, read inside this
        transaction (records appended here and not yet flushed are not seen)."""
        from tailguard.ledger.store import _COLUMNS, _row_to_record

        query = (
            sa.select(*_COLUMNS)
            .where(t.records.c.kind == kind, t.records.c.record_id == record_id)
            .order_by(t.records.c.seq.desc())
            .limit(1)
        )
        row = self.conn.execute(query).first()
        return None if row is None else _row_to_record(row)

    def step_counts(self, run_ids: Iterable[str]) -> dict[str, int]:
        """Distinct ``step`` ids already in the ledger per run (committed or flushed here)."""
        steps: dict[str, set[str]] = {}
        ids = list(dict.fromkeys(run_ids))
        r = t.records.c
        for lo in range(0, len(ids), _IN_CHUNK):
            # Filtered by run only, so the planner takes the run index (a filter on kind as
            # well makes SQLite walk every step record through the entity index instead).
            query = sa.select(r.run_id, r.kind, r.record_id).where(
                r.run_id.in_(ids[lo : lo + _IN_CHUNK])
            )
            for run_id, kind, record_id in self.conn.execute(query):
                if kind == "step":
                    steps.setdefault(run_id, set()).add(record_id)
        return {run_id: len(found) for run_id, found in steps.items()}

    def latest_fields(
        self, run_ids: Iterable[str], kinds: Sequence[str]
    ) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
        """run -> kind -> record id -> the newest fields, for records already in the ledger."""
        out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
        ids = list(dict.fromkeys(run_ids))
        r = t.records.c
        for lo in range(0, len(ids), _IN_CHUNK):
            query = (
                sa.select(r.run_id, r.kind, r.record_id, r.fields)
                .where(r.run_id.in_(ids[lo : lo + _IN_CHUNK]))
                .order_by(r.seq)
            )
            for run_id, kind, record_id, fields in self.conn.execute(query):
                if kind in kinds:
                    by_kind = out.setdefault(run_id, {}).setdefault(kind, {})
                    by_kind[record_id] = json.loads(fields)
        return out

    def flush(self) -> list[tuple[int, CheckedRecord, str, str, str, int]]:
        """Chain and insert the pending records now (inside the transaction).

        Returns ``(seq, record, fields_json, prev_hash, hash, recorded_at_us)`` per record.
        """
        if not self._pending:
            return []
        from tailguard.ledger.store import to_micros

        seq, prev_hash = self.conn.execute(LOCK_HEAD).one()
        now = self._recorded_at()
        assert isinstance(now, datetime)
        recorded_us = to_micros(now)
        rows: list[dict[str, Any]] = []
        out: list[tuple[int, CheckedRecord, str, str, str, int]] = []
        for record, fields_json in self._pending:
            seq += 1
            digest = record_hash(
                seq=seq,
                kind=record.kind,
                fields_json=fields_json,
                prev_hash=prev_hash,
                recorded_at_us=recorded_us,
            )
            rows.append(
                {
                    "seq": seq,
                    "kind": record.kind,
                    "record_id": record.record_id,
                    "run_id": record.run_id,
                    "recorded_at_us": recorded_us,
                    "fields": fields_json,
                    "prev_hash": prev_hash,
                    "hash": digest,
                }
            )
            out.append((seq, record, fields_json, prev_hash, digest, recorded_us))
            prev_hash = digest
        self.conn.execute(sa.insert(t.records), rows)
        self.conn.execute(sa.update(t.head).where(t.head.c.id == 1).values(seq=seq, hash=prev_hash))
        self._pending.clear()
        return out
