"""SQLite specifics: WAL, a generous busy timeout, and ``BEGIN IMMEDIATE`` for writers.

pysqlite's own transaction handling starts a transaction only before the first INSERT, so the
chain head would be read outside it; we switch that off and emit BEGIN ourselves (the recipe of
the SQLAlchemy SQLite dialect docs). Every transaction on the engine is ``BEGIN IMMEDIATE``
(it takes the write lock up front, so read-then-append cannot interleave between processes)
unless opened with the execution option ``tailguard_read_only=True``, which gives a deferred
``BEGIN`` that never blocks writers under WAL.

Durability: by default every commit is synced to disk (SQLite's ``synchronous=FULL``). A URL
may ask for ``?synchronous=normal``: in WAL mode a commit is then durable against a crash of
the process but the last commits may be lost on a power cut (the database stays consistent and
the hash chain intact). Benchmarks and throw-away simulations use it; a ledger of record should
not.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from tailguard.errors import InvalidInputError

_BUSY_TIMEOUT_MS = 30_000
_SYNCHRONOUS = ("full", "normal", "off", "extra")


class SQLiteBackend:
    """The default backend: one SQLite file in WAL mode."""

    name = "sqlite"

    def create_engine(self, url: sa.URL) -> sa.Engine:
        """An engine whose connections use WAL and explicit BEGIN [IMMEDIATE]."""
        in_memory = url.database in (None, "", ":memory:")
        synchronous = str(url.query.get("synchronous", "full")).lower()
        if synchronous not in _SYNCHRONOUS:
            raise InvalidInputError(
                f"synchronous={synchronous!r} in the SQLite URL: one of {', '.join(_SYNCHRONOUS)}"
            )
        url = url.difference_update_query(["synchronous"])
        kwargs: dict[str, Any] = {"connect_args": {"timeout": _BUSY_TIMEOUT_MS / 1000}}
        if in_memory:
            # One shared connection, or every checkout would see a different empty database.
            kwargs.update(poolclass=StaticPool)
            kwargs["connect_args"]["check_same_thread"] = False
        engine = sa.create_engine(url, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            read_only = conn.get_execution_options().get("tailguard_read_only", False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine

    def lock_schema(self, conn: sa.Connection) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the database's write lock."""

    def guard_statements(self) -> list[str]:
        """Triggers that abort any UPDATE or DELETE of a ledger record."""
        return [
            "CREATE TRIGGER IF NOT EXISTS tailguard_ledger_no_update BEFORE UPDATE ON "
            "tailguard_ledger BEGIN SELECT RAISE(ABORT, 'tailguard_ledger is append-only'); END",
            "CREATE TRIGGER IF NOT EXISTS tailguard_ledger_no_delete BEFORE DELETE ON "
            "tailguard_ledger BEGIN SELECT RAISE(ABORT, 'tailguard_ledger is append-only'); END",
        ]

    def read_options(self) -> dict[str, Any]:
        """A deferred BEGIN: readers never take the write lock."""
        return {"tailguard_read_only": True}
