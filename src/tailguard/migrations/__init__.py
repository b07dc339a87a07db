"""Schema migrations: every table on the ledger's database is created and changed by Alembic.

The scripts ship inside the package (``tailguard/migrations/versions``), so an installed wheel
migrates with no network and no ``alembic.ini``: ``tailguard db upgrade --db URL`` runs them,
and every store runs them when it opens a database (:func:`ensure_schema`). The version lives
in the table :data:`VERSION_TABLE` (not Alembic's default name, so a database shared with
another Alembic project keeps both).

The fast path matters: the stores open databases often (the service per request, the test
suite thousands of times). :func:`ensure_schema` reads the version once per engine and returns
when it is :data:`HEAD`; Alembic itself is imported only when there is something to upgrade.

The first revision (``0001``) is the schema of the release before migrations: on a database
that release created (tables, no version table) it creates only the tables that are missing
(a ledger opened by ``tailguard ledger`` has no crowd tables, say), adds the columns an older
control plane lacked, and records the version; rows are never touched.
"""

from __future__ import annotations

import threading
import time
import weakref
from pathlib import Path

import sqlalchemy as sa

from tailguard.errors import LedgerError

#: The revision the code expects (a test checks it is Alembic's head).
HEAD = "0004"
#: The table holding the schema's revision.
VERSION_TABLE = "tailguard_schema_version"
#: Where the scripts live (Alembic's ``script_location``).
SCRIPT_LOCATION = Path(__file__).resolve().parent

_AT_HEAD: weakref.WeakKeyDictionary[sa.Engine, bool] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def current_revision(engine: sa.Engine) -> str | None:
    """The revision recorded in the database (None: no version table, a migration-free DB)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        row = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return None if row is None else str(row[0])


def upgrade(engine: sa.Engine, *, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` on ``engine``, in one transaction (PostgreSQL:
    under an advisory lock, so concurrent processes migrate once; SQLite: the ledger engine's
    ``BEGIN IMMEDIATE`` holds the write lock)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                sa.text(
                    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.tailguard_schema'))"
                )
            )
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _command_error() -> type[Exception]:
    """Alembic's error for an unknown revision, imported only once one is possible."""
    from alembic.util import CommandError

    return CommandError


def ensure_schema(engine: sa.Engine) -> None:
    """Bring ``engine``'s database to :data:`HEAD` unless it is known to be there already.

    One version read per engine; an upgrade only when the version is behind. Several processes
    opening one fresh database at once: the loser of a CREATE race retries and finds the
    winner's schema.

    Raises:
        LedgerError: the database carries a revision this code does not know (a newer release).
        sqlalchemy.exc.DBAPIError: the database refused or could not be reached (after retries).
    """
    if _AT_HEAD.get(engine):
        return
    with _LOCK:
        if _AT_HEAD.get(engine):
            return
        for attempt in range(5):
            try:
                if current_revision(engine) != HEAD:
                    upgrade(engine)
                break
            except _command_error() as exc:
                raise LedgerError(
                    f"cannot migrate the database schema to {HEAD}: {exc} (a database written by "
                    "a newer tailguard?)"
                ) from exc
            except sa.exc.DBAPIError:
                if attempt == 4:
                    raise  # the caller words it (unreachable database, refused DDL)
                time.sleep(0.05 * (attempt + 1))
        _AT_HEAD[engine] = True


__all__ = [
    "HEAD",
    "SCRIPT_LOCATION",
    "VERSION_TABLE",
    "current_revision",
    "ensure_schema",
    "upgrade",
]
