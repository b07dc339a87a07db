"""Durable approval gates: the pending call, the one accepted decision, the one resumption.

A gated call is stored as JSON (tool, validated arguments, run and step ids, requester) so any
process can decide and resume it after a restart. The database enforces the two invariants
that matter: a decision is a compare-and-set from ``pending`` (two racing approvers: exactly one
wins) and a resumption first inserts a claim row keyed by the gate (two racing resumers: exactly
one runs the handler).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa

from tailguard.control.results import PendingCall
from tailguard.control.store import (
    IN_CHUNK,
    ControlStore,
    claims,
    gates,
    insert_ignore,
    rows_by_key,
)
from tailguard.control.tools import canonical_json
from tailguard.errors import ConflictError, NotFoundError
from tailguard.identity import same_principal

#: Claim states with a stored result: the call ran (``done``) or an operator cancelled it.
FINAL_CLAIM_STATES = ("done", "cancelled")


@runtime_checkable
class Approvers(Protocol):
    """Who may decide a gate. With none configured, every gated call is denied."""

    def can_decide(self, approver_id: str, *, tool_name: str, risk_level: str) -> bool:
        """True when ``approver_id`` may approve or reject a call of ``tool_name``."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class ApproverList:
    """A fixed set of people who may decide gates (optionally only up to a risk level).

    Attributes:
        approver_ids: who may decide.
        tools: restrict them to these tools; None means every tool.
    """

    approver_ids: frozenset[str]
    tools: frozenset[str] | None = None

    def can_decide(self, approver_id: str, *, tool_name: str, risk_level: str) -> bool:
        """True when ``approver_id`` is listed (and the tool is in scope)."""
        del risk_level
        if self.tools is not None and tool_name not in self.tools:
            return False
        return any(same_principal(approver_id, listed) for listed in self.approver_ids)


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def pending_of_row(row: Any) -> PendingCall:
    """The pending call stored in a gate row."""
    return PendingCall(
        gate_id=row.gate_id,
        run_id=row.run_id,
        step_id=row.step_id,
        tool_name=row.tool_name,
        args=json.loads(row.args_json),
        risk_level=row.risk_level,
        reason=row.reason,
        requester_id=row.requester_id,
        initiator_id=row.initiator_id,
        presented_at=datetime.fromtimestamp(row.presented_at, UTC),
        expires_at=_ts(row.expires_at),
        decision=row.decision,
        decided_by=row.decided_by,
        decided_at=_ts(row.decided_at),
        idempotency_key=row.idempotency_key,
    )


def awaiting_select(
    *, decided_before: datetime | None = None, run_id: str | None = None
) -> sa.Select[Any]:
    """Gate rows approved and never claimed (neither run nor cancelled), oldest decision first."""
    cond: list[sa.ColumnElement[bool]] = [
        gates.c.decision == "approved",
        claims.c.gate_id.is_(None),
    ]
    if decided_before is not None:
        cond.append(gates.c.decided_at < decided_before.timestamp())
    if run_id is not None:
        cond.append(gates.c.run_id == run_id)
    return (
        sa.select(gates)
        .select_from(gates.outerjoin(claims, claims.c.gate_id == gates.c.gate_id))
        .where(*cond)
        .order_by(gates.c.decided_at, gates.c.gate_id)
    )


class GateStore:
    """Approval gates and resumption claims in the control store."""

    def __init__(self, store: ControlStore) -> None:
        self._store = store

    def create(self, call: PendingCall) -> None:
        """Store a new pending call."""
        with self._store.write() as conn:
            conn.execute(
                sa.insert(gates).values(
                    gate_id=call.gate_id,
                    run_id=call.run_id,
                    step_id=call.step_id,
                    tool_name=call.tool_name,
                    args_json=canonical_json(call.args),
                    risk_level=call.risk_level,
                    reason=call.reason,
                    requester_id=call.requester_id,
                    initiator_id=call.initiator_id,
                    presented_at=call.presented_at.timestamp(),
                    expires_at=call.expires_at.timestamp() if call.expires_at else None,
                    decision="pending",
                    edited=False,
                    idempotency_key=call.idempotency_key,
                )
            )

    def get(self, gate_id: str) -> PendingCall:
        """The gate's stored call and current decision.

        Raises:
            NotFoundError: no such gate.
        """
        with self._store.read() as conn:
            row = conn.execute(sa.select(gates).where(gates.c.gate_id == gate_id)).one_or_none()
        if row is None:
            raise NotFoundError(f"unknown approval gate {gate_id!r}")
        return pending_of_row(row)

    def decide(
        self,
        gate_id: str,
        *,
        decision: str,
        decided_by: str,
        now: datetime,
        args: dict[str, Any] | None = None,
        reason: str | None = None,
        require_unexpired: bool = True,
    ) -> bool:
        """Move a gate from pending to ``decision``; False when it was not pending (or expired).

        This is a single conditional UPDATE, so of two racing deciders exactly one gets True.
        """
        with self._store.write() as conn:
            return self.decide_in(
                conn,
                gate_id,
                decision=decision,
                decided_by=decided_by,
                now=now,
                args=args,
                reason=reason,
                require_unexpired=require_unexpired,
            )

    def decide_in(self, conn: sa.Connection, gate_id: str, **kwargs: Any) -> bool:
        """:meth:`decide` inside the caller's write transaction (same arguments)."""
        at = kwargs["now"].timestamp()
        cond = [gates.c.gate_id == gate_id, gates.c.decision == "pending"]
        if kwargs.get("require_unexpired", True):
            cond.append(sa.or_(gates.c.expires_at.is_(None), gates.c.expires_at > at))
        values: dict[str, Any] = {
            "decision": kwargs["decision"],
            "decided_by": kwargs["decided_by"],
            "decided_at": at,
            "decision_reason": kwargs.get("reason"),
        }
        args = kwargs.get("args")
        if args is not None:
            values["args_json"] = canonical_json(args)
            values["edited"] = True
        return bool(conn.execute(sa.update(gates).where(*cond).values(**values)).rowcount)

    def decide_all_in(
        self,
        conn: sa.Connection,
        decided: Sequence[tuple[str, str, str, str | None, dict[str, Any] | None]],
        *,
        now: datetime,
    ) -> None:
        """Decide gates already read pending and unexpired under the caller's row locks.

        ``decided`` holds ``(gate_id, decision, decided_by, reason, edited args or None)``.
        The gates without edited arguments are one ``executemany``.

        Raises:
            ConflictError: a gate was no longer pending (the caller's transaction must then
                roll back: its checks were made on rows it did not hold).
        """
        at = now.timestamp()
        plain = [
            {"gid": g, "b_decision": d, "b_by": by, "b_reason": why}
            for g, d, by, why, args in decided
            if args is None
        ]
        won = 0
        if plain:
            stmt = (
                sa.update(gates)
                .where(gates.c.gate_id == sa.bindparam("gid"), gates.c.decision == "pending")
                .values(
                    decision=sa.bindparam("b_decision"),
                    decided_by=sa.bindparam("b_by"),
                    decided_at=at,
                    decision_reason=sa.bindparam("b_reason"),
                )
            )
            won += conn.execute(stmt, plain).rowcount
        for g, d, by, why, args in decided:
            if args is not None:
                won += self.decide_in(
                    conn, g, decision=d, decided_by=by, now=now, args=args, reason=why
                )
        if won != len(decided):
            raise ConflictError(f"{len(decided) - won} of the gates were no longer pending")

    def rows_in(
        self, conn: sa.Connection, gate_ids: Iterable[str], *, lock: bool = False
    ) -> dict[str, Any]:
        """gate id -> its row, for the gates that exist, inside the caller's transaction
        (locked in gate-id order with ``lock``: see :func:`~tailguard.control.store.rows_by_key`).
        """
        return rows_by_key(conn, gates.c.gate_id, gate_ids, lock=lock)

    def get_many_in(self, conn: sa.Connection, gate_ids: Iterable[str]) -> dict[str, PendingCall]:
        """:meth:`get` of several gates inside the caller's transaction (row-locked)."""
        return {
            gate_id: pending_of_row(row)
            for gate_id, row in self.rows_in(conn, gate_ids, lock=True).items()
        }

    def pending_runs_in(self, conn: sa.Connection, run_ids: Iterable[str]) -> set[str]:
        """Those of ``run_ids`` with a gate still pending, inside the caller's transaction."""
        ids = list(dict.fromkeys(run_ids))
        waiting: set[str] = set()
        for lo in range(0, len(ids), IN_CHUNK):
            waiting.update(
                conn.execute(
                    sa.select(gates.c.run_id).where(
                        gates.c.run_id.in_(ids[lo : lo + IN_CHUNK]),
                        gates.c.decision == "pending",
                    )
                ).scalars()
            )
        return waiting

    def due(self, now: datetime) -> list[str]:
        """Ids of pending gates whose timeout has passed at ``now``."""
        with self._store.read() as conn:
            return list(
                conn.execute(
                    sa.select(gates.c.gate_id).where(
                        gates.c.decision == "pending",
                        gates.c.expires_at.is_not(None),
                        gates.c.expires_at <= now.timestamp(),
                    )
                ).scalars()
            )

    def pending_for_run(self, run_id: str) -> list[PendingCall]:
        """The run's gates still waiting for a decision."""
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(gates).where(gates.c.run_id == run_id, gates.c.decision == "pending")
            ).all()
        return [pending_of_row(row) for row in rows]

    def find(self, *, decisions: Iterable[str] | None = None) -> list[PendingCall]:
        """Gates (optionally only those with the given decisions), oldest first."""
        stmt = sa.select(gates).order_by(gates.c.presented_at)
        if decisions is not None:
            stmt = stmt.where(gates.c.decision.in_(list(decisions)))
        with self._store.read() as conn:
            return [pending_of_row(row) for row in conn.execute(stmt).all()]

    def awaiting_execution(
        self, *, decided_before: datetime | None = None, run_id: str | None = None
    ) -> list[PendingCall]:
        """Approved gates nobody has claimed: calls approved but never run (oldest first).

        A process that dies between committing an approval and claiming the gate leaves its
        call here; :meth:`ControlPlane.resume_awaiting` runs it once, or an operator cancels it.

        Args:
            decided_before: only gates approved before this time (a sweep leaves gates just
                approved to the process resuming them now).
            run_id: only the gates of this run.
        """
        stmt = awaiting_select(decided_before=decided_before, run_id=run_id)
        with self._store.read() as conn:
            return [pending_of_row(row) for row in conn.execute(stmt).all()]

    def claim(self, gate_id: str, *, now: datetime) -> bool:
        """Claim the right to run an approved call; True for exactly one caller ever."""
        with self._store.write() as conn:
            return insert_ignore(
                conn,
                claims,
                {"gate_id": gate_id, "claimed_at": now.timestamp(), "state": "running"},
            )

    def finish_claim(self, gate_id: str, result: dict[str, Any]) -> None:
        """Store the result of a claimed call so later resumers can replay it."""
        with self._store.write() as conn:
            conn.execute(
                sa.update(claims)
                .where(claims.c.gate_id == gate_id)
                .values(state="done", result_json=json.dumps(result, default=str))
            )

    def claim_result(self, gate_id: str) -> dict[str, Any] | None:
        """The stored result of a finished claim (None while it is still running)."""
        with self._store.read() as conn:
            row = conn.execute(sa.select(claims).where(claims.c.gate_id == gate_id)).one_or_none()
        if row is None or row.state not in FINAL_CLAIM_STATES or row.result_json is None:
            return None
        result: dict[str, Any] = json.loads(row.result_json)
        return result


class AnyApprover:
    """Approvers made of several sources: anyone one of them admits may decide."""

    def __init__(self, sources: Sequence[Approvers]) -> None:
        self.sources = tuple(sources)

    def can_decide(self, approver_id: str, *, tool_name: str, risk_level: str) -> bool:
        """True when any source admits ``approver_id``."""
        return any(
            s.can_decide(approver_id, tool_name=tool_name, risk_level=risk_level)
            for s in self.sources
        )
