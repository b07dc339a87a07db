"""The base of the stores whose tables come from the migrations (ops, campaigns, proposals,
policy versions): the schema brought to HEAD when opened, and one transaction helper whose
database errors read the same everywhere."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import sqlalchemy as sa

from tailguard.errors import ConflictError, LedgerError
from tailguard.migrations import ensure_schema

__all__ = ["MigratedStore"]


class MigratedStore:
    """Tables on one engine, created or upgraded by the migrations when the store opens.

    Subclasses name what they hold in :attr:`what` (``"ops"``, ``"campaign"``, ...), which
    the errors repeat.
    """

    #: What the store holds, in its errors ("the ops store failed: ...").
    what: ClassVar[str] = "data"

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        try:
            ensure_schema(engine)
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"cannot create the {self.what} tables: {exc}") from exc

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        """One write transaction: a constraint broken is a :class:`ConflictError`, any other
        database error a :class:`LedgerError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.IntegrityError as exc:
            raise ConflictError(f"{self.what} store conflict: {exc.orig}") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"the {self.what} store failed: {exc}") from exc
