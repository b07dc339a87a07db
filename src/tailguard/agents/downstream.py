"""Downstream agents: who carries out an intervention job.

Two implementations of one small Protocol: the simulator's actuators (the embedded default,
wired in by the engine) and :class:`RestDownstream`, which speaks the REST contract of
``docs/downstream-rest.md`` over HTTP with an idempotency key per step, timeouts, retries with
exponential backoff (tenacity) and a circuit breaker (pybreaker). Every job ends as exactly one
:class:`DownstreamResult`: ``executed``, ``refused`` (the agent said no) or ``failed`` (with the
reason); nothing is lost, and because the idempotency key is the ledger step id, a retry after
a timeout can never make the agent act twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import httpx
import pybreaker
import tenacity
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tailguard.clock import format_ts

ResultStatus = Literal["executed", "refused", "failed"]


@dataclass(frozen=True, kw_only=True, slots=True)
class InterventionJob:
    """One micro-intervention for one downstream agent.

    Attributes:
        job_id: the idempotency key; the ledger step id of the governed call.
        kind: catalogue kind, e.g. ``surge_shift_offer``.
        agent: downstream agent name, e.g. ``corey`` or ``roster_routing``.
        area_id: the planning area.
        target: who or what it acts on, e.g. ``{"tech_id": "T-0042-0007"}``.
        params: the intervention's parameters, e.g. ``{"bonus_usd": 120}``.
        requested_at: when the area agent asked for it.
    """

    job_id: str
    kind: str
    agent: str
    area_id: str
    target: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    requested_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The request body of the REST contract."""
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "agent": self.agent,
            "area_id": self.area_id,
            "target": dict(self.target),
            "params": dict(self.params),
            "requested_at": format_ts(self.requested_at),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class DownstreamResult:
    """How a job ended."""

    status: ResultStatus
    detail: str
    cost_usd: float = 0.0
    attempts: int = 1
    external_ref: str | None = None


@runtime_checkable
class DownstreamAgent(Protocol):
    """Anything that carries out intervention jobs."""

    def send(self, job: InterventionJob) -> DownstreamResult:
        """Carry out ``job`` (or refuse it) and say how it ended; never raises for job errors."""
        ...


class _Answer(BaseModel):
    """The response body of the REST contract (validated: a downstream is an outside system)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["executed", "refused"]
    detail: str = ""
    cost_usd: float = Field(default=0.0, ge=0)
    ref: str | None = None


class _Retryable(Exception):
    """A failure worth another attempt with the same idempotency key."""


class RestDownstream:
    """A downstream agent reached over HTTP.

    Args:
        base_url: the agent's base URL; jobs are POSTed to ``{base_url}/v1/interventions``.
        timeout_s: per-attempt timeout (connect, read, write, pool).
        max_attempts: attempts per job, the first included.
        backoff_initial_s: first backoff; doubles each attempt, with jitter, up to ``backoff_max_s``.
        breaker_fail_max: consecutive failed jobs that open the circuit.
        breaker_reset_s: how long the circuit stays open before a trial call.
        headers: extra headers (e.g. an auth token).
        transport: an httpx transport, for tests or custom TLS.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 2.0,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 1.0,
        breaker_fail_max: int = 5,
        breaker_reset_s: float = 30.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            headers={"User-Agent": "tailguard", **(headers or {})},
            transport=transport,
        )
        self._max_attempts = max_attempts
        self._wait = tenacity.wait_exponential_jitter(
            multiplier=backoff_initial_s, max=backoff_max_s, jitter=backoff_initial_s
        )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=breaker_fail_max,
            reset_timeout=breaker_reset_s,
            name=f"downstream:{self.base_url}",
            throw_new_error_on_trip=False,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> RestDownstream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, job: InterventionJob) -> DownstreamResult:
        """POST the job, retrying transient failures with the same idempotency key."""
        attempts = 0

        def attempt() -> DownstreamResult:
            nonlocal attempts
            attempts += 1
            return self._post_once(job, attempts)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            result: DownstreamResult = self.breaker.call(lambda: retrying(attempt))
        except pybreaker.CircuitBreakerError:
            return DownstreamResult(
                status="failed",
                detail=f"circuit open for {self.base_url}; not sent",
                attempts=attempts,
            )
        except _Retryable as exc:
            return DownstreamResult(
                status="failed",
                detail=f"gave up after {attempts} attempts: {exc}",
                attempts=attempts,
            )
        return result

    def _post_once(self, job: InterventionJob, attempt: int) -> DownstreamResult:
        try:
            response = self._client.post(
                "/v1/interventions",
                json=job.to_json(),
                headers={"Idempotency-Key": job.job_id, "X-Attempt": str(attempt)},
            )
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"transport error: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise _Retryable(f"HTTP {response.status_code}")
        if response.status_code in (200, 201, 409):
            # 409 means "already done under this idempotency key"; its body is the original answer.
            try:
                answer = _Answer.model_validate(response.json())
            except (ValidationError, json.JSONDecodeError, ValueError) as exc:
                return DownstreamResult(
                    status="failed",
                    detail=f"malformed answer (HTTP {response.status_code}): {_short(exc)}",
                    attempts=attempt,
                )
            return DownstreamResult(
                status=answer.status,
                detail=answer.detail,
                cost_usd=answer.cost_usd,
                attempts=attempt,
                external_ref=answer.ref,
            )
        # Other 4xx: the request itself is wrong; retrying cannot help.
        return DownstreamResult(
            status="failed",
            detail=f"HTTP {response.status_code}: {_short(response.text)}",
            attempts=attempt,
        )


def _short(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
