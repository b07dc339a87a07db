"""Sliding-window rate limits per (user, tool), shared by every thread and process.

Two implementations behind one small protocol: :class:`SqlRateLimiter` keeps the hits in the
ledger's database (the default, so a single SQLite file is enough), :class:`RedisRateLimiter`
keeps them in a Redis sorted set updated by one Lua script (atomic on the server). Both take the
current time from the caller's :class:`~tailguard.clock.Clock`, so tests run on a fake clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa

from tailguard.control.store import ControlStore, rate_hits
from tailguard.errors import BackendUnavailableError, InvalidInputError

DEFAULT_WINDOW_S = 60.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RateDecision:
    """The answer of a rate limiter.

    Attributes:
        allowed: the call may proceed (and was counted).
        used: calls counted in the window, including this one when allowed.
        limit: the limit that applied.
        retry_after_s: when refused, seconds until the oldest counted call leaves the window.
    """

    allowed: bool
    used: int
    limit: int
    retry_after_s: float = 0.0


@runtime_checkable
class RateLimiter(Protocol):
    """Counts calls per (user, tool) in a sliding window and refuses those over the limit."""

    def acquire(self, user_id: str, tool_name: str, *, limit: int, now: datetime) -> RateDecision:
        """Count one call if fewer than ``limit`` were made in the window ending at ``now``."""
        ...


def _key(user_id: str, tool_name: str) -> str:
    return f"{tool_name}\x1f{user_id}"


class SqlRateLimiter:
    """Rate limits kept in the ledger database (SQLite or PostgreSQL).

    Args:
        store: the control store on the ledger's engine.
        window_s: the sliding window length in seconds (60 = calls per minute).
    """

    def __init__(self, store: ControlStore, *, window_s: float = DEFAULT_WINDOW_S) -> None:
        if window_s <= 0:
            raise InvalidInputError("the rate-limit window must be positive")
        self._store = store
        self._window = window_s

    def acquire(self, user_id: str, tool_name: str, *, limit: int, now: datetime) -> RateDecision:
        """Count one call if fewer than ``limit`` were made in the window ending at ``now``."""
        with self._store.write() as conn:
            return self.acquire_in(conn, user_id, tool_name, limit=limit, now=now)

    def acquire_in(
        self, conn: sa.Connection, user_id: str, tool_name: str, *, limit: int, now: datetime
    ) -> RateDecision:
        """:meth:`acquire` inside the caller's write transaction (a batch of calls)."""
        key = _key(user_id, tool_name)
        at = now.timestamp()
        floor = at - self._window
        self._store.lock(conn, f"rate:{key}")
        conn.execute(sa.delete(rate_hits).where(rate_hits.c.key == key, rate_hits.c.at <= floor))
        used, oldest = conn.execute(
            sa.select(sa.func.count(), sa.func.min(rate_hits.c.at)).where(rate_hits.c.key == key)
        ).one()
        if used < limit:
            conn.execute(sa.insert(rate_hits).values(key=key, at=at))
            return RateDecision(allowed=True, used=used + 1, limit=limit)
        retry = max(0.0, float(oldest) + self._window - at) if oldest is not None else 0.0
        return RateDecision(allowed=False, used=used, limit=limit, retry_after_s=retry)


# KEYS[1] = the sorted set; ARGV = now, window, limit, member. Members scored by time; the
# script runs atomically in Redis, so concurrent callers cannot both take the last slot.
_LUA = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local used = redis.call('ZCARD', key)
if used < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(window * 1000) + 1000)
  return {1, used + 1, '0'}
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local retry = 0
if oldest[2] then retry = tonumber(oldest[2]) + window - now end
return {0, used, tostring(retry)}
"""


class RedisRateLimiter:
    """Rate limits kept in Redis sorted sets, one per (user, tool).

    Args:
        client: a ``redis.Redis`` client (or a URL such as ``redis://127.0.0.1:6379/0``).
        prefix: key prefix, so several deployments or tests share one Redis safely.
        window_s: the sliding window length in seconds.
    """

    def __init__(
        self, client: Any, *, prefix: str = "tailguard", window_s: float = DEFAULT_WINDOW_S
    ) -> None:
        import redis

        if window_s <= 0:
            raise InvalidInputError("the rate-limit window must be positive")
        self._client = redis.Redis.from_url(client) if isinstance(client, str) else client
        self._prefix = prefix
        self._window = window_s
        self._script = self._client.register_script(_LUA)

    def acquire(self, user_id: str, tool_name: str, *, limit: int, now: datetime) -> RateDecision:
        """Count one call if fewer than ``limit`` were made in the window ending at ``now``."""
        import redis

        key = f"{self._prefix}:rl:{tool_name}:{user_id}"
        try:
            allowed, used, retry = self._script(
                keys=[key],
                args=[repr(now.timestamp()), repr(self._window), limit, uuid.uuid4().hex],
            )
        except redis.RedisError as exc:
            raise BackendUnavailableError(f"Redis rate limiter failed: {exc}") from exc
        return RateDecision(
            allowed=bool(int(allowed)),
            used=int(used),
            limit=limit,
            retry_after_s=max(0.0, float(retry)),
        )

    def clear(self) -> None:
        """Delete every key under this limiter's prefix (tests and resets)."""
        for key in self._client.scan_iter(match=f"{self._prefix}:rl:*"):
            self._client.delete(key)
