"""PostgreSQL specifics: psycopg 3, an advisory lock for schema creation, append-only triggers.

Appends need nothing special here: ``SELECT ... FOR UPDATE`` on the chain-head row (written
once, in ``store.py``) serialises them; SQLite compiles the same statement without the clause.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


class PostgresBackend:
    """PostgreSQL through psycopg 3; tables go in the first schema of the search_path."""

    name = "postgresql"

    def create_engine(self, url: sa.URL) -> sa.Engine:
        """A pooled psycopg 3 engine that checks connections before use."""
        return sa.create_engine(url, pool_pre_ping=True)

    def lock_schema(self, conn: sa.Connection) -> None:
        """Take a transaction-scoped advisory lock keyed by the current schema."""
        conn.execute(
            sa.text(
                "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.tailguard_ledger'))"
            )
        )

    def guard_statements(self) -> list[str]:
        """A trigger function and triggers refusing UPDATE, DELETE and TRUNCATE."""
        return [
            "CREATE OR REPLACE FUNCTION tailguard_ledger_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'tailguard_ledger is append-only'; END $$",
            "CREATE OR REPLACE TRIGGER tailguard_ledger_no_change BEFORE UPDATE OR DELETE ON "
            "tailguard_ledger FOR EACH ROW EXECUTE FUNCTION tailguard_ledger_append_only()",
            "CREATE OR REPLACE TRIGGER tailguard_ledger_no_truncate BEFORE TRUNCATE ON "
            "tailguard_ledger FOR EACH STATEMENT EXECUTE FUNCTION tailguard_ledger_append_only()",
        ]

    def read_options(self) -> dict[str, Any]:
        """Nothing: MVCC readers never block writers."""
        return {}
