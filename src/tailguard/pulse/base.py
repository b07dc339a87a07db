"""The pulse table: the latest KPI row per area plus hourly history, behind one interface.

``PulseStore.open(url)`` picks the backend from the URL: ``sqlite:///path.db`` or a bare path
(the default, embedded) or ``redis://host:port/db?prefix=NAME`` (a hash per area for the latest
row, a sorted set per area scored by time for the history). Rows travel as Polars frames:
``area_id``, ``as_of`` (UTC) and one Float64 column per KPI, null where there was no data.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import polars as pl

from tailguard.errors import InvalidInputError
from tailguard.metrics.kpis import KPI_IDS

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(when: datetime) -> int:
    """Microseconds since the epoch of an aware (or UTC-naive) datetime."""
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(microseconds=1)


def kpi_columns(scorecard: pl.DataFrame) -> list[str]:
    """The KPI columns of a scorecard frame (everything but ``area_id``/``as_of``)."""
    if "area_id" not in scorecard.columns:
        raise InvalidInputError("a scorecard frame needs an area_id column")
    return [c for c in scorecard.columns if c not in ("area_id", "as_of")]


def encode_rows(scorecard: pl.DataFrame) -> list[tuple[str, str]]:
    """(area_id, JSON of the KPI values) per row, vectorised."""
    cols = kpi_columns(scorecard)
    if not cols:
        return [(a, "{}") for a in scorecard["area_id"].to_list()]
    encoded = scorecard.select(
        "area_id", pl.struct(pl.col(cols).cast(pl.Float64)).struct.json_encode().alias("j")
    )
    return list(encoded.iter_rows())


def frame_from_json(area_ids: list[str], as_of_us: list[int], payloads: list[str]) -> pl.DataFrame:
    """Rebuild ``area_id, as_of, <kpis>`` from stored JSON payloads."""
    keys: dict[str, None] = dict.fromkeys(KPI_IDS)
    decoded: list[dict[str, Any]] = [json.loads(p) for p in payloads]
    seen = {k for d in decoded for k in d}
    columns = [k for k in keys if k in seen] + sorted(seen - set(keys)) if decoded else list(keys)
    data: dict[str, Any] = {
        "area_id": pl.Series(area_ids, dtype=pl.String),
        "as_of": pl.Series(as_of_us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
    }
    for col in columns:
        data[col] = pl.Series([d.get(col) for d in decoded], dtype=pl.Float64)
    return pl.DataFrame(data).sort("area_id", "as_of")


class PulseStore(ABC):
    """Latest KPI row per area plus hourly history. Open one with :meth:`open`."""

    @staticmethod
    def open(url: str) -> PulseStore:
        """The store at ``url`` (``sqlite:///x.db``, a bare path, or ``redis://...``)."""
        if url.startswith(("redis://", "rediss://", "unix://")):
            from tailguard.pulse.redis_store import RedisPulseStore

            return RedisPulseStore(url)
        if "://" in url and not url.startswith("sqlite"):
            raise InvalidInputError(
                f"unsupported pulse store URL {url!r} (use sqlite:/// or redis://)"
            )
        from tailguard.pulse.sqlite_store import SqlitePulseStore

        return SqlitePulseStore(url)

    @abstractmethod
    def write(self, as_of: datetime, scorecard: pl.DataFrame) -> int:
        """Store a scorecard computed at ``as_of``; returns rows written.

        History keeps one row per (area, as_of) (writing the same tick again replaces it, as
        a recomputation with late events should); the latest row of an area only moves
        forward in time.
        """

    @abstractmethod
    def latest(self) -> pl.DataFrame:
        """The latest row of every area: ``area_id, as_of, <kpis>``."""

    @abstractmethod
    def history(
        self,
        area_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Stored rows with ``since <= as_of <= until``, for one area or all, sorted."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> PulseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
