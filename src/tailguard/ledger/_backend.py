"""What a ledger backend is, and which one a URL names."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from tailguard.errors import InvalidInputError


class Backend(Protocol):
    """The few things that differ between databases; every query lives in ``store.py``."""

    name: str

    def create_engine(self, url: sa.URL) -> sa.Engine:
        """An engine with the backend's connection settings (pragmas, driver)."""
        ...

    def lock_schema(self, conn: sa.Connection) -> None:
        """Serialise concurrent schema creation by several processes (inside a transaction)."""
        ...

    def guard_statements(self) -> list[str]:
        """DDL that makes the records table refuse UPDATE and DELETE (run once, at creation)."""
        ...

    def read_options(self) -> dict[str, Any]:
        """Execution options for a read-only transaction that must not block appenders."""
        ...


def parse_url(url: str) -> tuple[sa.URL, Backend]:
    """Resolve a ledger URL or bare path to a SQLAlchemy URL and its backend.

    ``sqlite:///path.db`` or a bare path means SQLite; ``postgresql://``, ``postgres://`` and
    ``postgresql+psycopg://`` mean PostgreSQL through psycopg 3.

    Raises:
        InvalidInputError: for an empty URL or an unsupported scheme.
    """
    text = (url or "").strip()
    if not text:
        raise InvalidInputError("ledger URL is empty")
    if "://" not in text:
        path = Path(text).expanduser()
        return sa.URL.create("sqlite", database=str(path)), _sqlite_backend()
    scheme = text.split("://", 1)[0].lower()
    try:
        parsed = sa.make_url(text)
    except sa.exc.ArgumentError as exc:
        raise InvalidInputError(f"ledger URL {text!r} cannot be parsed: {exc}") from None
    if scheme in ("sqlite", "sqlite+pysqlite"):
        return parsed.set(drivername="sqlite"), _sqlite_backend()
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg"), _postgres_backend()
    raise InvalidInputError(
        f"ledger URL scheme {scheme!r} is not supported (use sqlite:///path.db or postgresql://...)"
    )


def _sqlite_backend() -> Backend:
    from tailguard.ledger._sqlite import SQLiteBackend

    return SQLiteBackend()


def _postgres_backend() -> Backend:
    from tailguard.ledger._postgres import PostgresBackend

    return PostgresBackend()
