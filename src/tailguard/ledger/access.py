"""Reading and writing a store that lives on the ledger's database, with one error story.

Working-state tables beside the ledger (the self-learn store, the crowd exchange) share this:
a write is one transaction whose database errors become :class:`LedgerError` naming what failed;
a read on SQLite is a deferred transaction, so a reader (a dashboard, the weekly cycle) never
takes the write lock the agents' writer needs (the option means nothing elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa

from tailguard.errors import LedgerError

T = TypeVar("T")


def write(engine: sa.Engine, fn: Callable[[sa.Connection], T], what: str) -> T:
    """Run ``fn`` in one transaction; ``what`` names the action in errors ("cannot <what>")."""
    try:
        with engine.begin() as conn:
            return fn(conn)
    except sa.exc.IntegrityError as exc:
        raise LedgerError(f"cannot {what}: {exc.orig}") from exc
    except sa.exc.SQLAlchemyError as exc:
        raise LedgerError(f"cannot {what}: {exc}") from exc


@contextmanager
def read(engine: sa.Engine, store: str) -> Iterator[sa.Connection]:
    """A read-only connection (deferred on SQLite); ``store`` names it in errors."""
    try:
        conn = engine.connect()
    except sa.exc.SQLAlchemyError as exc:
        raise LedgerError(f"cannot read the {store}: {exc}") from exc
    with conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(tailguard_read_only=True)
        yield conn
