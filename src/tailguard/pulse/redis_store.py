"""The pulse store on Redis: a hash per area (latest), a sorted set per area (history).

Keys, under ``prefix`` (URL query ``?prefix=``, default ``tailguard:pulse``):
``{prefix}:areas`` (set of area ids), ``{prefix}:latest:{area}`` (hash: ``as_of_us`` and one
field per KPI, empty string for null), ``{prefix}:hist:{area}`` (sorted set, score = as_of in
microseconds, member = JSON ``{"as_of_us", "kpis"}``). Writes go in one pipeline; the latest
hash is replaced by a small Lua script only if the new row is not older.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import polars as pl
import redis

from tailguard.errors import BackendUnavailableError
from tailguard.pulse.base import PulseStore, encode_rows, frame_from_json, to_us

_REPLACE_IF_NEWER = """
local cur = redis.call('HGET', KEYS[1], 'as_of_us')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""


class RedisPulseStore(PulseStore):
    """Pulse table in Redis.

    Args:
        url: ``redis://host:port/db?prefix=NAME``.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.prefix = query.pop("prefix", ["tailguard:pulse"])[0]
        rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
        self._client: redis.Redis = redis.Redis.from_url(
            urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment))
        )
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise BackendUnavailableError(
                f"cannot reach Redis for the pulse store: {exc}"
            ) from None
        self._replace = self._client.register_script(_REPLACE_IF_NEWER)

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def write(self, as_of: datetime, scorecard: pl.DataFrame) -> int:
        """Store a scorecard computed at ``as_of`` (see :meth:`PulseStore.write`)."""
        rows = encode_rows(scorecard)
        if not rows:
            return 0
        ts = to_us(as_of)
        pipe = self._client.pipeline(transaction=True)
        pipe.sadd(self._k("areas"), *[a for a, _ in rows])
        for area, payload in rows:
            kpis: dict[str, Any] = json.loads(payload)
            member = json.dumps({"as_of_us": ts, "kpis": kpis}, separators=(",", ":"))
            hist = self._k("hist", area)
            pipe.zremrangebyscore(hist, ts, ts)
            pipe.zadd(hist, {member: ts})
            fields: list[Any] = ["as_of_us", ts]
            for key, value in kpis.items():
                fields += [key, "" if value is None else repr(float(value))]
            self._replace(keys=[self._k("latest", area)], args=[ts, *fields], client=pipe)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            raise BackendUnavailableError(f"Redis pulse write failed: {exc}") from None
        return len(rows)

    def _areas(self) -> list[str]:
        return sorted(a.decode() for a in self._client.smembers(self._k("areas")))  # type: ignore[union-attr]

    def latest(self) -> pl.DataFrame:
        """The latest row of every area."""
        areas = self._areas()
        pipe = self._client.pipeline(transaction=False)
        for area in areas:
            pipe.hgetall(self._k("latest", area))
        ids: list[str] = []
        stamps: list[int] = []
        payloads: list[str] = []
        for area, raw in zip(areas, pipe.execute(), strict=True):
            if not raw:
                continue
            fields = {k.decode(): v.decode() for k, v in raw.items()}
            stamps.append(int(fields.pop("as_of_us")))
            ids.append(area)
            payloads.append(json.dumps({k: (float(v) if v else None) for k, v in fields.items()}))
        return frame_from_json(ids, stamps, payloads)

    def history(
        self,
        area_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pl.DataFrame:
        """Stored rows in a time range, for one area or all."""
        areas = [area_id] if area_id is not None else self._areas()
        lo: float | str = to_us(since) if since is not None else "-inf"
        hi: float | str = to_us(until) if until is not None else "+inf"
        pipe = self._client.pipeline(transaction=False)
        for area in areas:
            pipe.zrangebyscore(self._k("hist", area), lo, hi)
        ids: list[str] = []
        stamps: list[int] = []
        payloads: list[str] = []
        for area, members in zip(areas, pipe.execute(), strict=True):
            for member in members:
                row = json.loads(member)
                ids.append(area)
                stamps.append(int(row["as_of_us"]))
                payloads.append(json.dumps(row["kpis"]))
        return frame_from_json(ids, stamps, payloads)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
