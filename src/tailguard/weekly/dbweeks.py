"""Week snapshots kept in the ledger's database, for live deployments (no files beside it).

A live ``tailguard agents run`` writes, at each week's end, the frames of
:func:`~tailguard.weekly.snapshot.build_week` into the table ``tailguard_week_snapshots`` of
the ledger's database (SQLite or PostgreSQL): one row per (week, frame), the frame's Parquet
bytes as the body, plus a ``meta`` row (the JSON of ``meta.json``). ``tailguard week --db URL``
and :func:`~tailguard.weekly.run_week` read them back when there is no ``weeks/`` directory
beside the ledger, so the weekly cycle runs on the database alone.

A week is written in one transaction and never rewritten (the first snapshot of a week wins),
so a runner restarted over the hour of a week's end does not change what the cycle read.
"""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime
from typing import Final

import polars as pl
import sqlalchemy as sa

from tailguard.clock import format_ts
from tailguard.errors import InvalidInputError
from tailguard.migrations import ensure_schema
from tailguard.weekly.snapshot import WEEK_FILES, WeekData

metadata = sa.MetaData()

week_snapshots = sa.Table(
    "tailguard_week_snapshots",
    metadata,
    sa.Column("week_end", sa.String(10), primary_key=True),
    sa.Column("frame", sa.String(16), primary_key=True),
    sa.Column("as_of", sa.Float(precision=53), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("written_at", sa.Float(precision=53), nullable=False),
)

_META: Final = "meta"


def week_key(as_of: datetime) -> str:
    """The key of the week ending at ``as_of`` (its UTC date, as the snapshot directories)."""
    return as_of.astimezone(UTC).date().isoformat()


class StoredWeek(WeekData):
    """One week read back from the database (frames decoded the first time asked for)."""

    def __init__(self, key: str, meta: dict[str, object], bodies: dict[str, bytes]) -> None:
        # No directory (WeekData's ``path``): the frames come from the rows.
        self.key = key
        self.meta = meta
        self._bodies = bodies
        self._frames: dict[str, pl.DataFrame] = {}

    def frame(self, name: str) -> pl.DataFrame:
        """``areas``, ``techs``, ``zips``, ``skus`` or ``jobs``."""
        if name not in WEEK_FILES:
            raise InvalidInputError(f"unknown week frame {name!r}")
        if name not in self._frames:
            self._frames[name] = pl.read_parquet(io.BytesIO(self._bodies[name]))
        return self._frames[name]


class WeekStore:
    """The week snapshots on a ledger database (``engine``: the ledger's engine).

    Reading a database no runner has written to finds nothing (the table is created by the
    migrations when a store opens the database for writing).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def _has_table(self) -> bool:
        with self.engine.connect() as conn:
            return sa.inspect(conn).has_table(week_snapshots.name)

    def write(self, frames: dict[str, pl.DataFrame], as_of: datetime, window_days: int) -> bool:
        """Keep the frames of :func:`~tailguard.weekly.snapshot.build_week` for ``as_of``.

        Returns False (and writes nothing) when that week is already kept.
        """
        ensure_schema(self.engine)
        key = week_key(as_of)
        meta = {
            "as_of": format_ts(as_of),
            "window_days": window_days,
            "gp_basis": frames["_basis"]["gp_basis"][0],
        }
        now = time.time()
        rows = [
            {
                "week_end": key,
                "frame": name,
                "as_of": as_of.timestamp(),
                "body": _parquet(frames[name]),
                "written_at": now,
            }
            for name in WEEK_FILES
        ]
        rows.append(
            {
                "week_end": key,
                "frame": _META,
                "as_of": as_of.timestamp(),
                "body": json.dumps(meta).encode(),
                "written_at": now,
            }
        )
        t = week_snapshots.c
        with self.engine.begin() as conn:
            taken = conn.execute(sa.select(t.week_end).where(t.week_end == key).limit(1)).first()
            if taken is not None:
                return False
            conn.execute(week_snapshots.insert(), rows)
        return True

    def has(self, as_of: datetime) -> bool:
        """True when the week ending at ``as_of`` is kept."""
        if not self._has_table():
            return False
        t = week_snapshots.c
        query = sa.select(t.week_end).where(t.week_end == week_key(as_of)).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def find(self, as_of: datetime) -> StoredWeek | None:
        """The week ending at ``as_of``, if kept."""
        if not self._has_table():
            return None
        key = week_key(as_of)
        t = week_snapshots.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.frame, t.body).where(t.week_end == key)).all()
        bodies = {str(r.frame): bytes(r.body) for r in rows}
        if _META not in bodies:
            return None
        meta = json.loads(bodies.pop(_META))
        return StoredWeek(key, meta, bodies)

    def weeks(self) -> list[str]:
        """The keys (end dates) of the weeks kept, oldest first."""
        if not self._has_table():
            return []
        t = week_snapshots.c
        query = sa.select(t.week_end).where(t.frame == _META).order_by(t.week_end)
        with self.engine.connect() as conn:
            return [str(r.week_end) for r in conn.execute(query)]


def _parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()
