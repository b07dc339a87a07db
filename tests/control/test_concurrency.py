"""Rate limits and budgets hold across threads and processes, on SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tailguard.clock import FakeClock, SystemClock
from tailguard.control import RedisRateLimiter, RunBudget, SqlRateLimiter, Usage
from tailguard.control.store import ControlStore
from tailguard.errors import BudgetExceededError
from tailguard.ledger import Ledger

from ._toolkit import RATE_LIMIT, Effects, make_plane, spawn_worker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _hammer_processes(
    db_url: str, effects: Path, when: datetime, env: dict[str, str] | None = None
) -> int:
    procs = [
        spawn_worker("hammer", db_url, str(effects), repr(when.timestamp()), "8", env=env)
        for _ in range(2)
    ]
    total = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        total += int(out.strip())
    return total


@pytest.mark.slow
def test_rate_limit_holds_across_8_threads_and_2_processes(db_url: str, tmp_path: Path) -> None:
    """48 concurrent calls from two processes of 8 threads: exactly the limit passes per window."""
    effects = tmp_path / "effects.log"
    Ledger.open(db_url).close()  # create the schema once, before the race
    assert _hammer_processes(db_url, effects, T0) == RATE_LIMIT
    with Ledger.open(db_url) as ledger:
        limiter = SqlRateLimiter(ControlStore(ledger.engine))
        mid = T0 + timedelta(seconds=30)
        assert not limiter.acquire("shared-user", "limited", limit=RATE_LIMIT, now=mid).allowed
    assert _hammer_processes(db_url, effects, T0 + timedelta(seconds=61)) == RATE_LIMIT


@pytest.mark.slow
@pytest.mark.redis
def test_redis_rate_limit_holds_across_threads_and_processes(
    tmp_path: Path, redis_url: str, unique_prefix: str
) -> None:
    """The Redis limiter gives the same guarantee as the database one."""
    db_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    env = {"REDIS_URL": redis_url, "REDIS_PREFIX": unique_prefix}
    limiter = RedisRateLimiter(redis_url, prefix=unique_prefix)
    try:
        Ledger.open(db_url).close()
        assert _hammer_processes(db_url, tmp_path / "e.log", T0, env) == RATE_LIMIT
        assert (
            _hammer_processes(db_url, tmp_path / "e.log", T0 + timedelta(seconds=61), env)
            == RATE_LIMIT
        )
    finally:
        limiter.clear()


@pytest.mark.redis
def test_redis_limiter_slides_and_reports_retry_after(redis_url: str, unique_prefix: str) -> None:
    """Redis: the window slides, users are separate, and a refusal says when to retry."""
    limiter = RedisRateLimiter(redis_url, prefix=unique_prefix, window_s=60)
    try:
        for _ in range(3):
            assert limiter.acquire("u", "t", limit=3, now=T0).allowed
        refused = limiter.acquire("u", "t", limit=3, now=T0 + timedelta(seconds=10))
        assert not refused.allowed
        assert refused.retry_after_s == pytest.approx(50)
        assert limiter.acquire("v", "t", limit=3, now=T0).allowed
        assert limiter.acquire("u", "t", limit=3, now=T0 + timedelta(seconds=60.5)).allowed
    finally:
        limiter.clear()


def test_sql_limiter_from_many_threads_counts_exactly(db_url: str) -> None:
    """Sixteen threads on the database limiter: exactly the limit is granted."""
    with Ledger.open(db_url) as ledger:
        limiter = SqlRateLimiter(ControlStore(ledger.engine))
        granted: list[bool] = []
        barrier = threading.Barrier(16)

        def work() -> None:
            barrier.wait()
            for _ in range(3):
                granted.append(limiter.acquire("u", "t", limit=5, now=T0).allowed)

        threads = [threading.Thread(target=work) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert granted.count(True) == 5


def test_concurrent_reservations_from_threads_never_overshoot(db_url: str, tmp_path: Path) -> None:
    """Eight threads reserving 30 tokens against a 1,000-token cap get exactly 33 grants."""
    clock = FakeClock()
    with Ledger.open(db_url, clock=clock) as ledger:
        plane = make_plane(ledger, Effects(tmp_path / "e.log"), clock=clock)
        run = plane.start_run("recruiter", "u1", None, budget=RunBudget(max_tokens=1000))
        granted: list[int] = []
        barrier = threading.Barrier(8)

        def work() -> None:
            barrier.wait()
            while True:
                try:
                    plane.reserve(run, Usage(input_tokens=30))
                except BudgetExceededError:
                    return
                granted.append(1)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(granted) == 1000 // 30


@pytest.mark.slow
def test_concurrent_reservations_from_processes_never_overshoot(
    db_url: str, tmp_path: Path
) -> None:
    """Two processes of four threads each share one run's cap: 33 grants of 30 tokens in total."""
    clock = SystemClock()
    with Ledger.open(db_url, clock=clock) as ledger:
        plane = make_plane(ledger, Effects(tmp_path / "e.log"), clock=clock)
        run = plane.start_run("recruiter", "u1", None, budget=RunBudget(max_tokens=1000))
    procs = [spawn_worker("reserve", db_url, run.run_id, "4") for _ in range(2)]
    total = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        total += int(out.strip())
    assert total == 1000 // 30
