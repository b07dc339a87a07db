"""The control plane's own tables, kept on the ledger's database engine.

The ledger is append-only evidence; these tables are the control plane's working state that must
be shared by every thread and process: rate-limit hits, run budgets and reservations, daily run
counts, pending approval calls and resumption claims. Queries are written once (SQLAlchemy Core)
for SQLite and PostgreSQL. Critical sections start by *writing* a named lock row
(:meth:`ControlStore.lock`): on PostgreSQL that takes a row lock, on SQLite it takes the
database write lock before anything is read, so a read-check-write never interleaves with
another writer on either backend. Payloads are JSON text, never pickle.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from tailguard.errors import LedgerError
from tailguard.migrations import ensure_schema

#: Ids per ``IN (...)`` list: far under every backend's bound-parameter limit.
IN_CHUNK = 500

metadata = sa.MetaData()

_Time = sa.Float(precision=53)

locks = sa.Table(
    "tailguard_control_locks",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False, default=0),
)

runs = sa.Table(
    "tailguard_control_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(255), nullable=False),
    sa.Column("initiator_id", sa.String(255), nullable=False),
    sa.Column("goal_text", sa.Text, nullable=True),
    sa.Column("conversation_id", sa.String(255), nullable=True),
    sa.Column("started_at", _Time, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    # Budget caps (None = no cap). Money is kept in integer micro-dollars so sums are exact.
    sa.Column("max_tokens", sa.BigInteger, nullable=True),
    sa.Column("max_cost_micros", sa.BigInteger, nullable=True),
    sa.Column("max_seconds", _Time, nullable=True),
    sa.Column("alert_cost_micros", sa.BigInteger, nullable=True),
    sa.Column("input_tokens", sa.BigInteger, nullable=False, default=0),
    sa.Column("output_tokens", sa.BigInteger, nullable=False, default=0),
    sa.Column("cost_micros", sa.BigInteger, nullable=False, default=0),
    sa.Column("reserved_tokens", sa.BigInteger, nullable=False, default=0),
    sa.Column("reserved_cost_micros", sa.BigInteger, nullable=False, default=0),
    sa.Column("alerted", sa.Boolean, nullable=False, default=False),
    # What the run is about, as structured fields (None for runs of no area or hour): an area
    # agent's run of one area and one hour is found again by them after a restart.
    sa.Column("area_id", sa.String(255), nullable=True),
    sa.Column("hour", _Time, nullable=True),
    sa.Index("ix_tailguard_control_runs_area_hour", "area_id", "hour"),
)

#: Columns added to a table after its first release: (table, column), added by
#: :meth:`ControlStore._create_tables` to a database created before them.

reservations = sa.Table(
    "tailguard_control_reservations",
    metadata,
    sa.Column("reservation_id", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("tokens", sa.BigInteger, nullable=False),
    sa.Column("cost_micros", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # open, settled, released
)

daily_runs = sa.Table(
    "tailguard_control_daily_runs",
    metadata,
    sa.Column("user_id", sa.String(255), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("runs", sa.Integer, nullable=False),
)

rate_hits = sa.Table(
    "tailguard_control_rate_hits",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("key", sa.String(512), nullable=False),
    sa.Column("at", _Time, nullable=False),
    sa.Index("ix_tailguard_control_rate_hits_key_at", "key", "at"),
)

gates = sa.Table(
    "tailguard_control_gates",
    metadata,
    sa.Column("gate_id", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("step_id", sa.String(64), nullable=False, unique=True),
    sa.Column("tool_name", sa.String(255), nullable=False),
    sa.Column("args_json", sa.Text, nullable=False),
    sa.Column("risk_level", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("requester_id", sa.String(255), nullable=False),
    sa.Column("initiator_id", sa.String(255), nullable=False),
    sa.Column("presented_at", _Time, nullable=False),
    sa.Column("expires_at", _Time, nullable=True),
    sa.Column("decision", sa.String(16), nullable=False, index=True),
    sa.Column("decided_by", sa.String(255), nullable=True),
    sa.Column("decided_at", _Time, nullable=True),
    sa.Column("decision_reason", sa.Text, nullable=True),
    sa.Column("edited", sa.Boolean, nullable=False, default=False),
    sa.Column("idempotency_key", sa.String(128), nullable=False),
)

claims = sa.Table(
    "tailguard_control_claims",
    metadata,
    # The primary key is the exactly-once guarantee: only one resumer can insert the claim.
    sa.Column("gate_id", sa.String(64), primary_key=True),
    sa.Column("claimed_at", _Time, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # running, done
    sa.Column("result_json", sa.Text, nullable=True),
)

step_payloads = sa.Table(
    "tailguard_control_step_payloads",
    metadata,
    # Kept only for steps whose policy names a compensating tool: rollback needs the arguments
    # and result that the ledger stores only as a hash.
    sa.Column("step_id", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("tool_name", sa.String(255), nullable=False),
    sa.Column("args_json", sa.Text, nullable=False),
    sa.Column("result_json", sa.Text, nullable=True),
)

rollbacks = sa.Table(
    "tailguard_control_rollbacks",
    metadata,
    sa.Column("step_id", sa.String(64), primary_key=True),
    sa.Column("requested_by", sa.String(255), nullable=False),
    sa.Column("at", _Time, nullable=False),
)

#: One row per gate an approval policy has assessed (:mod:`tailguard.control.delegation`):
#: ``approve`` (the policy decides it), ``sample`` (covered, sent to a person for review) or
#: ``outside`` (a person decides). The primary key makes the assessment once-only across
#: processes; the spend columns feed the policy's caps.
policy_reviews = sa.Table(
    "tailguard_control_policy_reviews",
    metadata,
    sa.Column("gate_id", sa.String(64), primary_key=True),
    sa.Column("policy", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("area_id", sa.String(255), nullable=True),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("spend_micros", sa.BigInteger, nullable=False, default=0),
    sa.Column("assessed_at", _Time, nullable=False),
)
sa.Index("ix_policy_reviews_cap", policy_reviews.c.policy, policy_reviews.c.day)


class ControlStore:
    """The control plane's tables on one engine (the ledger's).

    Args:
        engine: a SQLAlchemy engine for SQLite or PostgreSQL.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._create_tables()

    def _create_tables(self) -> None:
        # Several processes may open the same fresh database at once; CREATE TABLE races are
        # resolved by retrying with checkfirst, which then sees the winner's tables.
        for attempt in range(5):
            try:
                ensure_schema(self.engine)  # the migrations create and upgrade the tables
                return
            except sa.exc.DBAPIError as exc:
                if attempt == 4:
                    raise LedgerError(f"cannot create the control plane's tables: {exc}") from exc
                time.sleep(0.05 * (attempt + 1))

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction; database errors become :class:`LedgerError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.IntegrityError:
            raise
        except sa.exc.DBAPIError as exc:
            raise LedgerError(f"control store write failed: {exc.orig or exc}") from exc

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A read transaction that does not take the SQLite write lock."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(tailguard_read_only=True)
                with conn.begin():
                    yield conn
        except sa.exc.DBAPIError as exc:
            raise LedgerError(f"control store read failed: {exc.orig or exc}") from exc

    def lock(self, conn: sa.Connection, name: str) -> None:
        """Serialise on ``name`` until ``conn``'s transaction ends (row lock / write lock)."""
        insert_ignore(conn, locks, {"name": name, "n": 0})
        conn.execute(sa.update(locks).where(locks.c.name == name).values(n=locks.c.n + 1))


def rows_by_key(
    conn: sa.Connection, column: sa.Column[Any], keys: Iterable[str], *, lock: bool = False
) -> dict[str, Any]:
    """key -> row of ``column``'s table for the keys that exist, in chunks of :data:`IN_CHUNK`.

    With ``lock``, rows are locked (FOR UPDATE on PostgreSQL) in key order: every batch locks
    rows of a table in that one order, so two batches over the same rows wait, never deadlock.
    """
    ids = sorted(set(keys))
    out: dict[str, Any] = {}
    for lo in range(0, len(ids), IN_CHUNK):
        query = sa.select(column.table).where(column.in_(ids[lo : lo + IN_CHUNK])).order_by(column)
        if lock:
            query = query.with_for_update()
        out.update({getattr(row, column.name): row for row in conn.execute(query)})
    return out


def insert_ignore(conn: sa.Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
    """Insert a row unless its primary key exists; True when a row was inserted."""
    stmt: Any
    if conn.dialect.name == "postgresql":
        stmt = pg_dialect.insert(table).values(**values).on_conflict_do_nothing()
    elif conn.dialect.name == "sqlite":
        stmt = sqlite_dialect.insert(table).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported backends reach here
        raise LedgerError(f"unsupported database {conn.dialect.name!r}")
    # RETURNING rather than rowcount: psycopg reports 1 for a skipped ON CONFLICT insert.
    key = next(iter(table.primary_key.columns))
    return conn.execute(stmt.returning(key)).first() is not None


def to_micros(usd: float) -> int:
    """Dollars to integer micro-dollars (rounded)."""
    return round(usd * 1_000_000)


def from_micros(micros: int | None) -> float | None:
    """Integer micro-dollars to dollars."""
    return None if micros is None else micros / 1_000_000
