"""The embedded pulse store: one SQLite file (WAL), written with SQLAlchemy Core."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert

from tailguard.errors import BackendUnavailableError
from tailguard.pulse.base import PulseStore, encode_rows, frame_from_json, to_us

_meta = sa.MetaData()
latest_table = sa.Table(
    "pulse_latest",
    _meta,
    sa.Column("area_id", sa.String, primary_key=True),
    sa.Column("as_of_us", sa.BigInteger, nullable=False),
    sa.Column("kpis", sa.Text, nullable=False),
)
history_table = sa.Table(
    "pulse_history",
    _meta,
    sa.Column("area_id", sa.String, primary_key=True),
    sa.Column("as_of_us", sa.BigInteger, primary_key=True),
    sa.Column("kpis", sa.Text, nullable=False),
)


def _sqlite_url(url: str) -> str:
    return url if url.startswith("sqlite") else f"sqlite:///{url}"


class SqlitePulseStore(PulseStore):
    """Pulse table in a SQLite file.

    Args:
        url: ``sqlite:///path.db`` or a bare path.
    """

    def __init__(self, url: str) -> None:
        self.url = _sqlite_url(url)
        self._engine = sa.create_engine(self.url)

        @sa.event.listens_for(self._engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        try:
            _meta.create_all(self._engine)
        except sa.exc.OperationalError as exc:
            raise BackendUnavailableError(
                f"cannot open the pulse store {self.url}: {exc.orig}"
            ) from None

    def write(self, as_of: datetime, scorecard: pl.DataFrame) -> int:
        """Store a scorecard computed at ``as_of`` (see :meth:`PulseStore.write`)."""
        rows = encode_rows(scorecard)
        if not rows:
            return 0
        ts = to_us(as_of)
        params = [{"area_id": a, "as_of_us": ts, "kpis": j} for a, j in rows]
        hist = insert(history_table)
        hist = hist.on_conflict_do_update(
            index_elements=["area_id", "as_of_us"], set_={"kpis": hist.excluded.kpis}
        )
        latest = insert(latest_table)
        latest = latest.on_conflict_do_update(
            index_elements=["area_id"],
            set_={"as_of_us": latest.excluded.as_of_us, "kpis": latest.excluded.kpis},
            where=latest.excluded.as_of_us >= latest_table.c.as_of_us,
        )
        with self._engine.begin() as conn:
            conn.execute(hist, params)
            conn.execute(latest, params)
        return len(params)

    def latest(self) -> pl.DataFrame:
        """The latest row of every area."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(latest_table).order_by(latest_table.c.area_id)).all()
        return frame_from_json([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    def history(
        self,
        area_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Stored rows in a time range, for one area or all."""
        query = sa.select(history_table)
        if area_id is not None:
            query = query.where(history_table.c.area_id == area_id)
        if since is not None:
            query = query.where(history_table.c.as_of_us >= to_us(since))
        if until is not None:
            query = query.where(history_table.c.as_of_us <= to_us(until))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return frame_from_json([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])

    def close(self) -> None:
        """Dispose of the connection pool."""
        self._engine.dispose()
