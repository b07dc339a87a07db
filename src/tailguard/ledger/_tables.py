"""The ledger's tables, declared once for every backend (SQLAlchemy Core)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

records = sa.Table(
    "tailguard_ledger",
    metadata,
    # seq is assigned by the appender under the chain-head lock, never by the database, so the
    # chain has no holes that a rolled-back sequence value would leave.
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(255), nullable=False),
    sa.Column("run_id", sa.String(255), nullable=True),
    # Microseconds since the Unix epoch, UTC: sorts and compares the same on every backend.
    sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),
    # Every record links to a different predecessor, so two records sharing a prev_hash would be
    # a fork: the database refuses it.
    sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Index("ix_tailguard_ledger_entity", "kind", "record_id", "seq"),
    sa.Index("ix_tailguard_ledger_run", "run_id", "seq"),
    sa.Index("ix_tailguard_ledger_time", "recorded_at_us"),
)

head = sa.Table(
    "tailguard_ledger_head",
    metadata,
    # One row (id = 1): the last seq and hash. Appenders lock it (FOR UPDATE on PostgreSQL,
    # BEGIN IMMEDIATE on SQLite) so concurrent writers extend one chain.
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)
