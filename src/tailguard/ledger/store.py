"""The run ledger: append-only, hash-chained records on SQLite or PostgreSQL.

Every query is written here once with SQLAlchemy Core; ``_sqlite.py`` and ``_postgres.py`` hold
only what differs. Appends read and lock the one-row chain head (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite ignores the clause and relies on ``BEGIN IMMEDIATE``), insert the new records
and move the head, all in one transaction, so writers in any number of threads and processes
extend one chain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from tailguard.clock import Clock, SystemClock
from tailguard.errors import (
    BackendUnavailableError,
    InvalidInputError,
    LedgerError,
    NotFoundError,
)
from tailguard.ledger import _tables as t
from tailguard.ledger._backend import Backend, parse_url
from tailguard.ledger._canonical import GENESIS_HASH
from tailguard.ledger.transaction import LedgerTransaction, check_items
from tailguard.ledger.verify import VerifyReport, verify_chain
from tailguard.migrations import ensure_schema

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_READ_BATCH = 1000


def to_micros(when: datetime) -> int:
    """Microseconds since the Unix epoch of an aware (or UTC-naive) datetime."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of microseconds since the Unix epoch."""
    return datetime.fromtimestamp(micros // 1_000_000, tz=UTC).replace(
        microsecond=micros % 1_000_000
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerRecord:
    """One record of the chain, as stored.

    ``record_id`` is the value of the kind's id field (``run_id`` for a run, ``gate_id`` for a
    gate, ``<kind>_id`` otherwise); ``run_id`` is the run it belongs to, when it names one.
    """

    seq: int
    kind: str
    record_id: str
    run_id: str | None
    recorded_at: datetime
    fields: Mapping[str, Any]
    prev_hash: str
    hash: str

    def to_export(self) -> dict[str, Any]:
        """``{"kind", **fields, "seq", "recorded_at_us", "prev_hash", "hash"}``: one line of
        ``ledger export``, enough to recompute the record's hash."""
        return {
            "kind": self.kind,
            **self.fields,
            "seq": self.seq,
            "recorded_at_us": to_micros(self.recorded_at),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


_COLUMNS = (
    t.records.c.seq,
    t.records.c.kind,
    t.records.c.record_id,
    t.records.c.run_id,
    t.records.c.recorded_at_us,
    t.records.c.fields,
    t.records.c.prev_hash,
    t.records.c.hash,
)


def _row_to_record(row: Sequence[Any]) -> LedgerRecord:
    seq, kind, record_id, run_id, recorded_at_us, fields_json, prev_hash, hash_ = row
    return LedgerRecord(
        seq=seq,
        kind=kind,
        record_id=record_id,
        run_id=run_id,
        recorded_at=from_micros(recorded_at_us),
        fields=json.loads(fields_json),
        prev_hash=prev_hash,
        hash=hash_,
    )


class Ledger:
    """The append-only, hash-chained record of runs, steps, gates, outcomes and more.

    Open one with :meth:`open`; it is safe to share between threads, and any number of
    processes may append to the same database. ``engine`` is public so that co-located stores
    (gates, rate limits, budgets) can keep their own tables beside the ledger. On SQLite every
    transaction on it starts with ``BEGIN IMMEDIATE`` unless the connection has the execution
    option ``tailguard_read_only=True``.
    """

    def __init__(self, *, engine: sa.Engine, backend: Backend, clock: Clock) -> None:
        self.engine = engine
        self.backend = backend
        self.clock = clock

    @classmethod
    def open(cls, url: str, *, clock: Clock | None = None, create: bool = True) -> Ledger:
        """Open (creating if needed) the ledger at ``url``.

        Args:
            url: ``sqlite:///path.db`` or a bare path for SQLite; ``postgresql://...`` or
                ``postgresql+psycopg://...`` for PostgreSQL (tables go in the first schema of
                the search_path, so ``?options=-csearch_path=myschema`` works).
            clock: where ``recorded_at`` comes from; the system clock by default.
            create: create the database file and tables when missing; with False a missing
                ledger is a NotFoundError (what read-only commands such as verify want).

        Raises:
            InvalidInputError: for a URL that names no supported database.
            NotFoundError: ``create=False`` and there is no ledger at ``url``.
            BackendUnavailableError: when the database cannot be reached or created.
        """
        sa_url, backend = parse_url(url)
        if not create and backend.name == "sqlite" and not Path(sa_url.database or "").is_file():
            raise NotFoundError(f"no ledger at {sa_url.database or url}")
        engine = backend.create_engine(sa_url)
        ledger = cls(engine=engine, backend=backend, clock=clock or SystemClock())
        try:
            ledger._ensure_schema(create=create)
        except BaseException:
            engine.dispose()
            raise
        return ledger

    def _ensure_schema(self, *, create: bool) -> None:
        # The tables (and the records table's append-only triggers) come from the migrations
        # (tailguard.migrations); opening brings an older database to the current revision.
        with self._db_errors("open the ledger"):
            if not create:
                with self.engine.connect() as conn:
                    if not sa.inspect(conn).has_table(t.records.name):
                        raise NotFoundError(f"no ledger table in {self.engine.url!r}")
            ensure_schema(self.engine)
        with self._db_errors("open the ledger"), self.engine.begin() as conn:
            self.backend.lock_schema(conn)
            if conn.execute(sa.select(t.head.c.id).where(t.head.c.id == 1)).first() is None:
                conn.execute(sa.insert(t.head).values(id=1, seq=0, hash=GENESIS_HASH))

    @contextmanager
    def _db_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.IntegrityError as exc:
            raise LedgerError(f"could not {action}: the database refused it ({exc.orig})") from exc
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated or (
                self.backend.name == "postgresql" and isinstance(exc, sa.exc.OperationalError)
            ):
                raise BackendUnavailableError(
                    f"could not {action}: {self.backend.name} is unavailable ({exc.orig})"
                ) from exc
            raise LedgerError(f"could not {action}: {exc.orig}") from exc

    def append(self, kind: str, fields: Mapping[str, Any]) -> LedgerRecord:
        """Validate and append one record; returns it with its seq and hashes.

        Raises:
            InvalidInputError: a run/step/gate/outcome record whose fields break INTERFACES.md
                section 5, or another kind without its ``<kind>_id``.
            LedgerError: the database refused the write.
        """
        return self.append_many([(kind, fields)])[0]

    def append_many(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> list[LedgerRecord]:
        """Validate and append several records in one transaction, as one chain segment.

        Nothing is written unless every record is valid.
        """
        checked = check_items(items)
        if not checked:
            return []
        with self.transaction() as tx:
            tx.append_many([(c.kind, c.fields) for c in checked])
            flushed = tx.flush()
        return [
            LedgerRecord(
                seq=seq,
                kind=record.kind,
                record_id=record.record_id,
                run_id=record.run_id,
                recorded_at=from_micros(recorded_us),
                fields=json.loads(fields_json),
                prev_hash=prev_hash,
                hash=digest,
            )
            for seq, record, fields_json, prev_hash, digest, recorded_us in flushed
        ]

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        """One write transaction: records appended to it are chained and written at its end.

        Rows written through ``tx.conn`` (co-located tables) commit or roll back with the
        records. Database errors become :class:`LedgerError` (or
        :class:`BackendUnavailableError`); an exception in the block writes nothing.
        """
        with self._db_errors("append to the ledger"), self.engine.begin() as conn:
            tx = LedgerTransaction(conn, self.clock.now)
            yield tx
            tx.flush()

    def records(
        self,
        *,
        kind: str | None = None,
        run_id: str | None = None,
        since_seq: int | None = None,
        limit: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[LedgerRecord]:
        """Stream records in seq order, fetched in batches (bounded memory).

        Args:
            kind: only records of this kind.
            run_id: only records belonging to this run.
            since_seq: only records with seq greater than this (a resume cursor).
            limit: at most this many records.
            since: only records with ``recorded_at >= since``.
            until: only records with ``recorded_at < until``.
        """
        conditions: list[sa.ColumnElement[bool]] = []
        if kind is not None:
            conditions.append(t.records.c.kind == kind)
        if run_id is not None:
            conditions.append(t.records.c.run_id == run_id)
        if since is not None:
            conditions.append(t.records.c.recorded_at_us >= to_micros(since))
        if until is not None:
            conditions.append(t.records.c.recorded_at_us < to_micros(until))
        if limit is not None and limit < 0:
            raise InvalidInputError(f"limit must be >= 0, got {limit}")
        after = since_seq if since_seq is not None else -(2**62)
        remaining = limit
        while remaining is None or remaining > 0:
            batch = _READ_BATCH if remaining is None else min(_READ_BATCH, remaining)
            query = (
                sa.select(*_COLUMNS)
                .where(t.records.c.seq > after, *conditions)
                .order_by(t.records.c.seq)
                .limit(batch)
            )
            with self._db_errors("read the ledger"), self.engine.connect() as conn:
                rows = conn.execution_options(**self.backend.read_options()).execute(query).all()
            for row in rows:
                yield _row_to_record(row)
            if len(rows) < batch:
                return
            after = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)

    def latest(self, kind: str, record_id: str) -> LedgerRecord | None:
        """The newest record of ``kind`` whose id field equals ``record_id`` (current state)."""
        query = (
            sa.select(*_COLUMNS)
            .where(t.records.c.kind == kind, t.records.c.record_id == record_id)
            .order_by(t.records.c.seq.desc())
            .limit(1)
        )
        with self._db_errors("read the ledger"), self.engine.connect() as conn:
            row = conn.execution_options(**self.backend.read_options()).execute(query).first()
        return None if row is None else _row_to_record(row)

    def span(self) -> tuple[datetime, datetime] | None:
        """When the first and the last record were recorded (None: the ledger is empty).

        Dashboards default to it when the ledger's data lies outside "the last N days" (a
        demo's ledger holds simulated time).
        """
        first = sa.select(t.records.c.recorded_at_us).order_by(t.records.c.seq).limit(1)
        last = sa.select(t.records.c.recorded_at_us).order_by(t.records.c.seq.desc()).limit(1)
        with self._db_errors("read the ledger"), self.engine.connect() as conn:
            conn = conn.execution_options(**self.backend.read_options())
            lo = conn.execute(first).scalar()
            hi = conn.execute(last).scalar()
        if lo is None or hi is None:
            return None
        return from_micros(int(lo)), from_micros(int(hi))

    def count(self) -> int:
        """How many records the ledger holds."""
        with self._db_errors("read the ledger"), self.engine.connect() as conn:
            value = (
                conn.execution_options(**self.backend.read_options())
                .execute(sa.select(sa.func.count()).select_from(t.records))
                .scalar_one()
            )
        return int(value)

    def head(self) -> tuple[int, str]:
        """The chain head as stored: (last seq, last hash); (0, genesis hash) when empty."""
        with self._db_errors("read the ledger"), self.engine.connect() as conn:
            seq, digest = (
                conn.execution_options(**self.backend.read_options())
                .execute(sa.select(t.head.c.seq, t.head.c.hash).where(t.head.c.id == 1))
                .one()
            )
        return int(seq), str(digest)

    def verify(self, *, batch_size: int = 5000) -> VerifyReport:
        """Walk the whole chain and report the first record altered, inserted or removed."""
        with self._db_errors("verify the ledger"):
            return verify_chain(
                self.engine, read_options=self.backend.read_options(), batch_size=batch_size
            )

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
