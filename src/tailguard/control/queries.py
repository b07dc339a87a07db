"""The control plane's read API: what other packages may ask about runs and gates.

Agents, the service, the demo and recovery read the control plane's state here, never its
tables (:mod:`.store`) directly, so the tables can change without their readers noticing. Each
function takes the engine the control plane lives on (the ledger's: ``ledger.engine`` or
``ControlPlane.store.engine``) and reads in a short transaction that never takes SQLite's write
lock. Gate rows (``args_json`` holds the full arguments; times are epoch seconds) are the shape
the approval inbox pages on; everything else comes back as typed records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tailguard.control.gates import awaiting_select, pending_of_row
from tailguard.control.records import run_of_row
from tailguard.control.results import PendingCall, Run
from tailguard.control.store import IN_CHUNK, gates, runs
from tailguard.errors import BackendUnavailableError, LedgerError


@dataclass(frozen=True, kw_only=True, slots=True)
class RunState:
    """A run's handle with its current status (running, waiting_approval or finished)."""

    run: Run
    status: str


@dataclass(frozen=True, kw_only=True, slots=True)
class GateDecisionState:
    """Where a gate stands: its decision (``pending`` until someone decides) and by whom."""

    gate_id: str
    decision: str
    decided_by: str | None


def _read(engine: sa.Engine, stmt: sa.Executable) -> Sequence[sa.Row[Any]]:
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(tailguard_read_only=True)
            with conn.begin():
                return conn.execute(stmt).all()
    except sa.exc.OperationalError as exc:
        raise BackendUnavailableError(f"the ledger database is unavailable: {exc.orig}") from exc
    except sa.exc.DBAPIError as exc:
        raise LedgerError(f"the control store could not be read: {exc.orig}") from exc


def _chunked(engine: sa.Engine, ids: Iterable[str], build: Any) -> list[sa.Row[Any]]:
    """``build(chunk)`` over the ids in chunks the databases accept in one ``IN``."""
    keys = list(dict.fromkeys(ids))
    rows: list[sa.Row[Any]] = []
    for lo in range(0, len(keys), IN_CHUNK):
        rows += _read(engine, build(keys[lo : lo + IN_CHUNK]))
    return rows


# ----------------------------------------------------------------------------- gates


def pending_gates(
    engine: sa.Engine,
    *,
    now: datetime,
    limit: int,
    after: tuple[float, str] | None = None,
    tool_name: str | None = None,
    run_id: str | None = None,
    risk_level: str | None = None,
) -> list[sa.Row[Any]]:
    """Gates waiting for a decision and not yet timed out, oldest first (gate rows).

    Args:
        after: page after this ``(presented_at, gate_id)``.
    """
    g = gates
    cond: list[sa.ColumnElement[bool]] = [
        g.c.decision == "pending",
        sa.or_(g.c.expires_at.is_(None), g.c.expires_at > now.timestamp()),
    ]
    if tool_name is not None:
        cond.append(g.c.tool_name == tool_name)
    if run_id is not None:
        cond.append(g.c.run_id == run_id)
    if risk_level is not None:
        cond.append(g.c.risk_level == risk_level)
    if after is not None:
        at, gate_id = after
        cond.append(
            sa.or_(g.c.presented_at > at, sa.and_(g.c.presented_at == at, g.c.gate_id > gate_id))
        )
    stmt = sa.select(g).where(*cond).order_by(g.c.presented_at, g.c.gate_id).limit(limit)
    return list(_read(engine, stmt))


def awaiting_gates(
    engine: sa.Engine,
    *,
    limit: int,
    after: tuple[float, str] | None = None,
    tool_name: str | None = None,
    run_id: str | None = None,
    risk_level: str | None = None,
) -> list[sa.Row[Any]]:
    """Gates approved whose call never ran nor was cancelled, oldest decision first.

    Args:
        after: page after this ``(decided_at, gate_id)``.
    """
    g = gates
    stmt = awaiting_select(run_id=run_id)
    if tool_name is not None:
        stmt = stmt.where(g.c.tool_name == tool_name)
    if risk_level is not None:
        stmt = stmt.where(g.c.risk_level == risk_level)
    if after is not None:
        at, gate_id = after
        stmt = stmt.where(
            sa.or_(g.c.decided_at > at, sa.and_(g.c.decided_at == at, g.c.gate_id > gate_id))
        )
    return list(_read(engine, stmt.limit(limit)))


def count_pending_gates(engine: sa.Engine, *, now: datetime) -> int:
    """How many gates wait for a decision (not yet timed out)."""
    g = gates
    stmt = (
        sa.select(sa.func.count())
        .select_from(g)
        .where(
            g.c.decision == "pending",
            sa.or_(g.c.expires_at.is_(None), g.c.expires_at > now.timestamp()),
        )
    )
    return int(_read(engine, stmt)[0][0])


def gate_decisions(
    engine: sa.Engine, gate_ids: Iterable[str], *, decided_only: bool = False
) -> dict[str, GateDecisionState]:
    """gate id -> its decision, for the gates that exist (only decided ones: ``decided_only``)."""
    c = gates.c

    def build(chunk: list[str]) -> sa.Select[Any]:
        stmt = sa.select(c.gate_id, c.decision, c.decided_by).where(c.gate_id.in_(chunk))
        return stmt.where(c.decision != "pending") if decided_only else stmt

    return {
        r.gate_id: GateDecisionState(
            gate_id=r.gate_id, decision=r.decision, decided_by=r.decided_by
        )
        for r in _chunked(engine, gate_ids, build)
    }


def gates_of_runs(engine: sa.Engine, run_ids: Iterable[str]) -> list[PendingCall]:
    """Every gate of these runs, whatever its decision, in the order they were presented."""
    c = gates.c
    rows = _chunked(
        engine,
        run_ids,
        lambda chunk: sa.select(gates).where(c.run_id.in_(chunk)),
    )
    # A stable sort: gates presented together keep the order they were stored in.
    return sorted((pending_of_row(row) for row in rows), key=lambda g: g.presented_at)


def all_gates(engine: sa.Engine) -> list[PendingCall]:
    """Every gate ever presented, oldest first (reports over a whole deployment)."""
    stmt = sa.select(gates).order_by(gates.c.presented_at, gates.c.gate_id)
    return [pending_of_row(row) for row in _read(engine, stmt)]


# ------------------------------------------------------------------------------ runs


def runs_by_id(engine: sa.Engine, run_ids: Iterable[str]) -> dict[str, RunState]:
    """run id -> its handle and status, for the runs that exist."""
    rows = _chunked(engine, run_ids, lambda chunk: sa.select(runs).where(runs.c.run_id.in_(chunk)))
    return {r.run_id: RunState(run=run_of_row(r), status=r.status) for r in rows}


def runs_of(
    engine: sa.Engine,
    *,
    role: str | None = None,
    initiator_id: str | None = None,
    area_id: str | None = None,
    since: datetime | None = None,
    hour: datetime | None = None,
    limit: int | None = None,
) -> list[RunState]:
    """Runs of a role, an initiator and an area, started since a time or opened for one hour,
    oldest first (every filter optional)."""
    c = runs.c
    cond: list[sa.ColumnElement[bool]] = []
    if role is not None:
        cond.append(c.role == role)
    if initiator_id is not None:
        cond.append(c.initiator_id == initiator_id)
    if area_id is not None:
        cond.append(c.area_id == area_id)
    if since is not None:
        cond.append(c.started_at >= since.timestamp())
    if hour is not None:
        cond.append(c.hour == hour.timestamp())
    stmt = sa.select(runs).where(*cond).order_by(c.started_at, c.run_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [RunState(run=run_of_row(r), status=r.status) for r in _read(engine, stmt)]


__all__ = [
    "GateDecisionState",
    "RunState",
    "all_gates",
    "awaiting_gates",
    "count_pending_gates",
    "gate_decisions",
    "gates_of_runs",
    "pending_gates",
    "runs_by_id",
    "runs_of",
]
