"""Run budgets: reserve before a model or tool call, reconcile after, never overshoot.

A run has optional caps on tokens, cost and wall time, and a cost alert threshold; a user has
an optional cap on runs per UTC day. The counters live in the ledger database, and every
reservation checks ``used + reserved + wanted <= cap`` under a lock on the run's row, so any
number of threads and processes reserving at once can never together pass a cap. Reconciling
replaces the estimate with the actual usage (which may be higher: that is money already spent,
and the next reservation sees it).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tailguard.control.store import ControlStore, daily_runs, reservations, runs, to_micros
from tailguard.control.tools import Usage
from tailguard.errors import BudgetExceededError, ConflictError, InvalidInputError, NotFoundError

FINISHED_STATUSES = frozenset({"completed", "failed", "aborted"})


@dataclass(frozen=True, kw_only=True, slots=True)
class RunBudget:
    """The caps of one run (None = no cap).

    The product document's defaults for conversational roles are 10,000 tokens, 30 seconds and
    a $0.50 cost alert; pass them explicitly per role.

    Attributes:
        max_tokens: input plus output tokens over the whole run.
        max_cost_usd: money over the whole run.
        max_seconds: wall time from the run's start (on the control plane's clock).
        alert_cost_usd: an ``alert`` record is written once when the run's cost reaches this.
    """

    max_tokens: int | None = None
    max_cost_usd: float | None = None
    max_seconds: float | None = None
    alert_cost_usd: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_tokens", "max_cost_usd", "max_seconds", "alert_cost_usd"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise InvalidInputError(f"budget {name} must be a finite number >= 0 or None")


@dataclass(frozen=True, kw_only=True, slots=True)
class Reservation:
    """Tokens and money set aside for one call of a run; settle or release it."""

    reservation_id: str
    run_id: str
    tokens: int
    cost_usd: float


@dataclass(frozen=True, kw_only=True, slots=True)
class RunTotals:
    """What a run has used so far."""

    input_tokens: int
    output_tokens: int
    cost_usd: float
    alert_due: bool = False

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


class Budgets:
    """Budget counters of runs and users in the control store."""

    def __init__(self, store: ControlStore) -> None:
        self._store = store

    def count_daily_run(self, user_id: str, *, now: datetime, cap: int | None) -> None:
        """Count a new run for ``user_id`` today, refusing it past ``cap`` runs per UTC day.

        Raises:
            BudgetExceededError: the user already started ``cap`` runs today.
        """
        if cap is None:
            return
        with self._store.write() as conn:
            self.count_daily_run_in(conn, user_id, now=now, cap=cap)

    def count_daily_run_in(
        self, conn: sa.Connection, user_id: str, *, now: datetime, cap: int | None
    ) -> None:
        """:meth:`count_daily_run` inside the caller's write transaction."""
        if cap is None:
            return
        day = now.astimezone(UTC).date().isoformat()
        self._store.lock(conn, f"daily:{user_id}")
        used = conn.execute(
            sa.select(daily_runs.c.runs).where(
                daily_runs.c.user_id == user_id, daily_runs.c.day == day
            )
        ).scalar()
        if used is not None and used >= cap:
            raise BudgetExceededError(
                f"user {user_id!r} already started {used} runs today (cap {cap})",
                details={"user_id": user_id, "day": day, "cap": cap},
            )
        if used is None:
            conn.execute(sa.insert(daily_runs).values(user_id=user_id, day=day, runs=1))
        else:
            conn.execute(
                sa.update(daily_runs)
                .where(daily_runs.c.user_id == user_id, daily_runs.c.day == day)
                .values(runs=used + 1)
            )

    def reserve(self, run_id: str, *, tokens: int, cost_usd: float, now: datetime) -> Reservation:
        """Set aside ``tokens`` and ``cost_usd`` for a call of the run.

        Raises:
            NotFoundError: no such run.
            ConflictError: the run is finished.
            BudgetExceededError: the wall time is up, or the reservation would pass a cap.
        """
        with self._store.write() as conn:
            return self.reserve_in(conn, run_id, tokens=tokens, cost_usd=cost_usd, now=now)

    def reserve_in(
        self,
        conn: sa.Connection,
        run_id: str,
        *,
        tokens: int,
        cost_usd: float,
        now: datetime,
        wall_time: bool = True,
    ) -> Reservation:
        """:meth:`reserve` inside the caller's write transaction (``wall_time=False``: time
        spent waiting at a gate does not count)."""
        usage = Usage(output_tokens=tokens, cost_usd=cost_usd)  # validates the numbers
        cost = to_micros(usage.cost_usd)
        self._store.lock(conn, f"run:{run_id}")
        row = _run_row(conn, run_id)
        _check_open(row, now, wall_time=wall_time)
        used_tokens = row.input_tokens + row.output_tokens + row.reserved_tokens
        if row.max_tokens is not None and used_tokens + tokens > row.max_tokens:
            raise BudgetExceededError(
                f"run {run_id}: token cap {row.max_tokens} reached "
                f"({used_tokens} used or reserved, {tokens} wanted)",
                details={"run_id": run_id, "cap": "tokens"},
            )
        used_cost = row.cost_micros + row.reserved_cost_micros
        if row.max_cost_micros is not None and used_cost + cost > row.max_cost_micros:
            raise BudgetExceededError(
                f"run {run_id}: cost cap ${row.max_cost_micros / 1e6:.6g} reached "
                f"(${used_cost / 1e6:.6g} used or reserved, ${cost / 1e6:.6g} wanted)",
                details={"run_id": run_id, "cap": "cost"},
            )
        reservation = Reservation(
            reservation_id=uuid.uuid4().hex, run_id=run_id, tokens=tokens, cost_usd=cost_usd
        )
        conn.execute(
            sa.insert(reservations).values(
                reservation_id=reservation.reservation_id,
                run_id=run_id,
                tokens=tokens,
                cost_micros=cost,
                state="open",
            )
        )
        conn.execute(
            sa.update(runs)
            .where(runs.c.run_id == run_id)
            .values(
                reserved_tokens=runs.c.reserved_tokens + tokens,
                reserved_cost_micros=runs.c.reserved_cost_micros + cost,
            )
        )
        return reservation

    def settle(self, reservation: Reservation, actual: Usage | None) -> RunTotals:
        """Replace a reservation by the actual usage (None = release it unused).

        Returns:
            The run's totals; ``alert_due`` is true exactly once, when the cost first reaches
            the run's alert threshold.

        Raises:
            ConflictError: the reservation was already settled or released.
        """
        with self._store.write() as conn:
            return self.settle_in(conn, reservation, actual)

    def settle_in(
        self, conn: sa.Connection, reservation: Reservation, actual: Usage | None
    ) -> RunTotals:
        """:meth:`settle` inside the caller's write transaction."""
        run_id = reservation.run_id
        self._store.lock(conn, f"run:{run_id}")
        res = conn.execute(
            sa.select(reservations).where(
                reservations.c.reservation_id == reservation.reservation_id
            )
        ).one_or_none()
        if res is None or res.state != "open":
            raise ConflictError(f"reservation {reservation.reservation_id} is not open")
        conn.execute(
            sa.update(reservations)
            .where(reservations.c.reservation_id == reservation.reservation_id)
            .values(state="settled" if actual is not None else "released")
        )
        return self._apply(
            conn,
            run_id,
            actual,
            unreserve_tokens=int(res.tokens),
            unreserve_micros=int(res.cost_micros),
        )

    def record_usage(self, run_id: str, actual: Usage) -> RunTotals:
        """Add usage that was never reserved (it happened; it counts against the caps)."""
        with self._store.write() as conn:
            return self.record_usage_in(conn, run_id, actual)

    def record_usage_in(self, conn: sa.Connection, run_id: str, actual: Usage) -> RunTotals:
        """:meth:`record_usage` inside the caller's write transaction."""
        self._store.lock(conn, f"run:{run_id}")
        _run_row(conn, run_id)
        return self._apply(conn, run_id, actual, unreserve_tokens=0, unreserve_micros=0)

    def _apply(
        self,
        conn: sa.Connection,
        run_id: str,
        actual: Usage | None,
        *,
        unreserve_tokens: int,
        unreserve_micros: int,
    ) -> RunTotals:
        values: dict[str, Any] = {
            "reserved_tokens": runs.c.reserved_tokens - unreserve_tokens,
            "reserved_cost_micros": runs.c.reserved_cost_micros - unreserve_micros,
        }
        if actual is not None:
            values["input_tokens"] = runs.c.input_tokens + actual.input_tokens
            values["output_tokens"] = runs.c.output_tokens + actual.output_tokens
            values["cost_micros"] = runs.c.cost_micros + to_micros(actual.cost_usd)
        conn.execute(sa.update(runs).where(runs.c.run_id == run_id).values(**values))
        row = _run_row(conn, run_id)
        alert_due = (
            row.alert_cost_micros is not None
            and row.cost_micros >= row.alert_cost_micros
            and not row.alerted
        )
        if alert_due:
            conn.execute(sa.update(runs).where(runs.c.run_id == run_id).values(alerted=True))
        return _totals(row, alert_due=alert_due)

    def check_open(self, run_id: str, *, now: datetime, wall_time: bool = True) -> None:
        """Refuse a new step when the run is finished, out of wall time or over a cap.

        Raises:
            NotFoundError, ConflictError, BudgetExceededError: as for :meth:`reserve`.
        """
        with self._store.read() as conn:
            row = _run_row(conn, run_id)
        check_open_row(row, now, wall_time=wall_time)

    def totals(self, run_id: str) -> RunTotals:
        """The run's usage so far."""
        with self._store.read() as conn:
            return _totals(_run_row(conn, run_id))


def check_open_row(row: Any, now: datetime, *, wall_time: bool = True) -> None:
    """:meth:`Budgets.check_open` on a run row the caller read."""
    _check_open(row, now, wall_time=wall_time)
    if row.max_tokens is not None and row.input_tokens + row.output_tokens > row.max_tokens:
        raise BudgetExceededError(f"run {row.run_id}: token cap {row.max_tokens} passed")
    if row.max_cost_micros is not None and row.cost_micros > row.max_cost_micros:
        raise BudgetExceededError(f"run {row.run_id}: cost cap passed")


def totals_of_row(row: Any) -> RunTotals:
    """The usage totals of a run row the caller read."""
    return _totals(row)


def _run_row(conn: sa.Connection, run_id: str) -> Any:
    row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"unknown run {run_id!r}")
    return row


def _check_open(row: Any, now: datetime, *, wall_time: bool = True) -> None:
    if row.status in FINISHED_STATUSES:
        raise ConflictError(f"run {row.run_id} is {row.status}; it takes no more steps")
    if wall_time and row.max_seconds is not None:
        elapsed = now.timestamp() - row.started_at
        if elapsed > row.max_seconds:
            raise BudgetExceededError(
                f"run {row.run_id}: wall-time cap {row.max_seconds:g}s passed ({elapsed:.1f}s)",
                details={"run_id": row.run_id, "cap": "time"},
            )


def _totals(row: Any, *, alert_due: bool = False) -> RunTotals:
    return RunTotals(
        input_tokens=int(row.input_tokens),
        output_tokens=int(row.output_tokens),
        cost_usd=int(row.cost_micros) / 1_000_000,
        alert_due=alert_due,
    )
