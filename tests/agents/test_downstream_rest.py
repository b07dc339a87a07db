"""The REST downstream path over real HTTP on loopback: executed once or failed, never twice."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from tailguard.agents.downstream import InterventionJob, RestDownstream
from tailguard.agents.testing import RecordingDownstreamServer


def _job(i: int) -> InterventionJob:
    return InterventionJob(
        job_id=f"step-{i:04d}",
        kind="surge_shift_offer",
        agent="corey",
        area_id="PA-0001",
        target={"tech_id": f"T-{i}"},
        params={"bonus_usd": 120},
        requested_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
    )


def test_healthy_agent_executes_each_job_once_with_its_idempotency_key() -> None:
    """Every job reaches a healthy agent once, keyed by its step id, and comes back executed."""
    with (
        RecordingDownstreamServer(cost_usd=12.5) as server,
        RestDownstream(server.url) as client,
    ):
        results = [client.send(_job(i)) for i in range(5)]
    assert [r.status for r in results] == ["executed"] * 5
    assert [r.cost_usd for r in results] == [12.5] * 5
    assert sorted(server.executed) == [f"step-{i:04d}" for i in range(5)]
    assert [r.idempotency_key for r in server.received] == [f"step-{i:04d}" for i in range(5)]
    assert server.received[0].body is not None
    assert server.received[0].body["target"] == {"tech_id": "T-0"}


def test_flaky_agent_never_executes_a_job_twice() -> None:
    """An agent failing half its calls (some after acting) ends every job executed exactly once."""
    with (
        RecordingDownstreamServer(mode="flaky") as server,
        RestDownstream(server.url, backoff_initial_s=0.001, backoff_max_s=0.01) as client,
    ):
        results = [client.send(_job(i)) for i in range(20)]
        executed = server.executed
        received = server.received
    assert [r.status for r in results] == ["executed"] * 20
    assert sorted(executed) == sorted(f"step-{i:04d}" for i in range(20))
    per_key = Counter(r.idempotency_key for r in received)
    assert max(per_key.values()) == 2  # retries happened
    assert sum(r.attempts for r in results) == len(received)


def test_hanging_agent_ends_as_failed_with_a_timeout_reason() -> None:
    """A job to an agent that never answers in time is recorded failed, never lost."""
    with (
        RecordingDownstreamServer(mode="hang", hang_s=0.6) as server,
        RestDownstream(
            server.url, timeout_s=0.1, max_attempts=2, backoff_initial_s=0.001
        ) as client,
    ):
        result = client.send(_job(1))
    assert result.status == "failed"
    assert "timeout" in result.detail
    assert result.attempts == 2
    assert {r.idempotency_key for r in server.received} == {"step-0001"}


def test_refusal_is_reported_not_retried() -> None:
    """An agent that refuses a job is heard once and its refusal is passed on."""
    with RecordingDownstreamServer(mode="refuse") as server, RestDownstream(server.url) as client:
        result = client.send(_job(3))
    assert result.status == "refused"
    assert len(server.received) == 1


def test_circuit_opens_after_repeated_failures_and_stops_calling() -> None:
    """After the breaker's limit of failed jobs, further jobs fail fast without a request."""
    with (
        RecordingDownstreamServer(mode="hang", hang_s=0.3) as server,
        RestDownstream(
            server.url,
            timeout_s=0.05,
            max_attempts=1,
            breaker_fail_max=2,
            breaker_reset_s=60,
        ) as client,
    ):
        results = [client.send(_job(i)) for i in range(4)]
        # A timed-out request may reach the server's handler thread after the client gave up
        # (a loaded machine): let the two that were sent arrive, then count.
        deadline = time.monotonic() + 2.0
        while len(server.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        calls = len(server.received)
    assert [r.status for r in results] == ["failed"] * 4
    assert "circuit open" in results[3].detail
    assert calls == 2


def test_unreachable_agent_fails_with_transport_reason() -> None:
    """A downstream nobody listens on ends as failed with a transport error after retries."""
    server = RecordingDownstreamServer()
    url = server.url
    server.stop()  # the port is now closed
    with RestDownstream(url, max_attempts=2, backoff_initial_s=0.001) as client:
        result = client.send(_job(9))
    assert result.status == "failed"
    assert "transport error" in result.detail


@pytest.mark.parametrize("bad_max", [0, -1])
def test_nonsense_retry_settings_are_refused(bad_max: int) -> None:
    """A client with fewer than one attempt cannot be built."""
    with pytest.raises(ValueError, match="max_attempts"):
        RestDownstream("http://127.0.0.1:9", max_attempts=bad_max)
