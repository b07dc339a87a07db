"""The recruiting store: the reference dataset in SQLite or PostgreSQL, picked from a URL."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tailguard.clock import Clock, SystemClock
from tailguard.errors import (
    BackendUnavailableError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)
from tailguard.migrations import ensure_schema
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.seed import generate

DEFAULT_SEED = 7


def engine_for(url: str) -> sa.Engine:
    """A SQLAlchemy engine for ``sqlite:///...``, ``postgresql://...`` or a bare file path."""
    if "://" not in url:
        url = f"sqlite:///{Path(url)}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        # The loop, the CLI and the service may share one file: wait for locks, don't fail.
        return sa.create_engine(url, connect_args={"timeout": 30})
    return sa.create_engine(url, pool_pre_ping=True)


@dataclass(frozen=True, kw_only=True, slots=True)
class User:
    """Who is talking to a role agent, and which record (driver, recruiter, account) they are."""

    user_id: str
    role: str
    subject_id: str | None
    display_name: str


class RecruitingStore:
    """The reference dataset behind the recruiting tools.

    Args:
        engine: where the tables live.
        clock: the time source for new rows.
    """

    def __init__(self, engine: sa.Engine, *, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()

    @classmethod
    def open(
        cls, url: str, *, clock: Clock | None = None, seed: int | None = DEFAULT_SEED
    ) -> RecruitingStore:
        """Open (and create) the store at ``url``; seed it on first use unless ``seed=None``."""
        store = cls(engine_for(url), clock=clock)
        try:
            ensure_schema(store.engine)  # tables come from the migrations
        except sa.exc.OperationalError as exc:
            raise BackendUnavailableError(f"recruiting store at {url}: {exc.orig}") from None
        if seed is not None:
            store.ensure_seeded(seed=seed)
        return store

    def ensure_seeded(self, *, seed: int = DEFAULT_SEED) -> bool:
        """Write the synthetic dataset if the store is empty; True when it wrote it."""
        with self.engine.begin() as conn:
            if conn.execute(sa.select(sa.func.count()).select_from(t.users)).scalar_one():
                return False
            data = generate(seed=seed, now=self.clock.now())
            for table in t.metadata.sorted_tables:
                rows = data.rows.get(table.name)
                if rows:
                    conn.execute(table.insert(), rows)
        return True

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A transaction; a uniqueness violation becomes :class:`ConflictError`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.IntegrityError as exc:
            raise ConflictError(f"conflicting write: {exc.orig}") from None

    def rows(self, statement: sa.Select[Any]) -> list[dict[str, Any]]:
        """All rows of a query as plain dicts."""
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(statement)]

    def row(self, statement: sa.Select[Any], *, what: str) -> dict[str, Any]:
        """The one row of a query; none is a :class:`NotFoundError` naming ``what``."""
        found = self.rows(statement.limit(1))
        if not found:
            raise NotFoundError(f"{what} not found")
        return found[0]

    def user(self, user_id: str, *, role: str | None = None) -> User:
        """The user ``user_id``; when ``role`` is given the user must hold that role."""
        found = self.rows(sa.select(t.users).where(t.users.c.user_id == user_id))
        if not found:
            raise NotFoundError(f"user {user_id!r} not found")
        user = User(**found[0])
        if role is not None and user.role != role:
            raise PermissionDeniedError(
                f"user {user_id!r} is a {user.role}, not a {role}; they cannot use the {role} agent"
            )
        return user

    def counts(self) -> Mapping[str, int]:
        """Row counts per table (for health checks and tests)."""
        with self.engine.connect() as conn:
            return {
                table.name: int(
                    conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                )
                for table in t.metadata.sorted_tables
            }
