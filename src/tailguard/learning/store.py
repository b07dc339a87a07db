"""The self-learn store: every intervention decision with its context, propensity and outcome.

One row per decision an area agent takes: the context at decision time (the KPI values of the
area and the features of the targeted unit), the action (catalogue entry, tool, target,
arguments), the probability with which the policy chose it (logged from day one so off-policy
evaluation is possible later), the policy version, what became of it (executed, waiting at a
gate, rejected, timed out, failed) and, once its horizon has passed, the measured outcome: the
change in the targeted KPI for the targeted unit.

The table lives on the ledger's database (SQLite or PostgreSQL) next to the control plane's
tables, so one ``--db`` URL names everything a service or the weekly cycle needs. Unlike the
ledger, rows here are working state and are updated in place as a decision progresses; the
evidence of what ran is the ledger's ``step`` and ``gate`` records, linked by ``step_id``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import polars as pl
import sqlalchemy as sa

from tailguard.errors import InvalidInputError, LedgerError, NotFoundError
from tailguard.ledger import access
from tailguard.migrations import ensure_schema

metadata = sa.MetaData()
_Time = sa.Float(precision=53)

#: Every status a decision can have.
STATUSES: Final = (
    "decided",
    "executed",
    "held",
    "pending_approval",
    "rejected",
    "timeout",
    "failed",
    "skipped",
)

interventions = sa.Table(
    "tailguard_selflearn_interventions",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("decision_id", sa.String(64), nullable=False, unique=True),
    sa.Column("area_id", sa.String(64), nullable=False, index=True),
    sa.Column("entry_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("tool_name", sa.String(128), nullable=False),
    sa.Column("trigger", sa.String(128), nullable=False),
    sa.Column("target_type", sa.String(16), nullable=False),
    sa.Column("target_id", sa.String(128), nullable=False),
    sa.Column("args", sa.Text, nullable=False),
    sa.Column("context", sa.Text, nullable=False),
    sa.Column("propensity", sa.Float(precision=53), nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("decided_at", _Time, nullable=False, index=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("step_id", sa.String(64), nullable=True),
    sa.Column("gate_id", sa.String(64), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("cost_usd", sa.Float(precision=53), nullable=False, default=0.0),
    sa.Column("executed_at", _Time, nullable=True),
    sa.Column("horizon_at", _Time, nullable=True),
    sa.Column("outcome_kpi", sa.String(64), nullable=True),
    sa.Column("baseline_value", sa.Float(precision=53), nullable=True),
    sa.Column("outcome_value", sa.Float(precision=53), nullable=True),
    sa.Column("outcome_delta", sa.Float(precision=53), nullable=True),
    sa.Column("measured_at", _Time, nullable=True),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """One intervention decision as the agent takes it (before it runs).

    Attributes:
        decision_id: unique id (also the correlation between store, ledger step and report).
        area_id: the planning area.
        entry_id: the catalogue entry that produced it.
        kind: the intervention kind (e.g. ``surge_shift_offer``).
        tool_name: the governed tool that carries it out.
        trigger: the rule (tail) that triggered it.
        target_type: ``tech``, ``zip``, ``sku``, ``customers`` or ``area``.
        target_id: the targeted unit.
        args: the tool arguments.
        context: KPI values and unit features at decision time (JSON-ready).
        propensity: the probability with which the policy chose this action, in (0, 1].
        policy_version: the version of the policy (catalogue) that chose it.
        decided_at: decision time (UTC).
        outcome_kpi: the unit-level KPI the outcome is measured on (None: not measured).
        baseline_value: that KPI's value for the unit at decision time.
        horizon_at: when the outcome is measured.
    """

    decision_id: str
    area_id: str
    entry_id: str
    kind: str
    tool_name: str
    trigger: str
    target_type: str
    target_id: str
    args: Mapping[str, Any]
    context: Mapping[str, Any] = field(default_factory=dict)
    propensity: float
    policy_version: str
    decided_at: datetime
    outcome_kpi: str | None = None
    baseline_value: float | None = None
    horizon_at: datetime | None = None

    def __post_init__(self) -> None:
        if not (0.0 < self.propensity <= 1.0) or math.isnan(self.propensity):
            raise InvalidInputError(f"propensity must be in (0, 1], got {self.propensity!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusUpdate:
    """What became of a decision once the control plane handled it."""

    decision_id: str
    status: str
    reason: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    gate_id: str | None = None
    cost_usd: float | None = None
    executed_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise InvalidInputError(f"unknown decision status {self.status!r}")


@dataclass(frozen=True, kw_only=True, slots=True)
class OutcomeDue:
    """An executed decision whose horizon has passed and whose outcome is not measured yet."""

    decision_id: str
    area_id: str
    entry_id: str
    target_type: str
    target_id: str
    outcome_kpi: str
    baseline_value: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class DecisionState:
    """Where a decision stands: what a restarted agent needs to pick it up (no context)."""

    decision_id: str
    area_id: str
    entry_id: str
    kind: str
    tool_name: str
    target_type: str
    target_id: str
    args: Mapping[str, Any]
    decided_at: datetime
    status: str
    run_id: str | None
    step_id: str | None
    gate_id: str | None


def _ts(when: datetime | None) -> float | None:
    if when is None:
        return None
    if when.tzinfo is None:
        raise InvalidInputError("timestamps must be timezone-aware (UTC)")
    return when.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, allow_nan=False)


class SelfLearnStore:
    """Decisions, their propensities and measured outcomes, on the ledger's database.

    Args:
        engine: a SQLAlchemy engine (usually ``Ledger.engine``); the table is created if absent.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        try:
            ensure_schema(engine)  # tables come from the migrations
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"cannot create the self-learn table: {exc}") from exc

    # ----------------------------------------------------------------- writes

    def record_decisions(self, decisions: Sequence[Decision]) -> None:
        """Insert decisions (status ``decided``) in one transaction.

        Raises:
            LedgerError: a decision id already exists, or the database fails.
        """
        if not decisions:
            return
        rows = [
            {
                "decision_id": d.decision_id,
                "area_id": d.area_id,
                "entry_id": d.entry_id,
                "kind": d.kind,
                "tool_name": d.tool_name,
                "trigger": d.trigger,
                "target_type": d.target_type,
                "target_id": d.target_id,
                "args": _json(dict(d.args)),
                "context": _json(dict(d.context)),
                "propensity": float(d.propensity),
                "policy_version": d.policy_version,
                "decided_at": _ts(d.decided_at),
                "status": "decided",
                "cost_usd": 0.0,
                "outcome_kpi": d.outcome_kpi,
                "baseline_value": d.baseline_value,
                "horizon_at": _ts(d.horizon_at),
            }
            for d in decisions
        ]
        self._write(lambda conn: conn.execute(sa.insert(interventions), rows), "record decisions")

    def update_status(self, updates: Iterable[StatusUpdate]) -> None:
        """Apply status changes (only the fields given are changed) in one transaction."""
        items = list(updates)
        if not items:
            return

        def run(conn: sa.Connection) -> None:
            ids = list(dict.fromkeys(u.decision_id for u in items))
            known: set[str] = set()
            for lo in range(0, len(ids), 500):
                known.update(
                    conn.execute(
                        sa.select(interventions.c.decision_id).where(
                            interventions.c.decision_id.in_(ids[lo : lo + 500])
                        )
                    ).scalars()
                )
            # One executemany per set of changed columns; when a decision is updated twice in
            # one call, in order, one statement per update.
            unique = len(ids) == len(items)
            shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for index, u in enumerate(items):
                if u.decision_id not in known:
                    raise NotFoundError(f"unknown decision {u.decision_id!r}")
                values: dict[str, Any] = {"status": u.status}
                for name in ("reason", "run_id", "step_id", "gate_id", "cost_usd"):
                    value = getattr(u, name)
                    if value is not None:
                        values[name] = value
                if u.executed_at is not None:
                    values["executed_at"] = _ts(u.executed_at)
                key = tuple(values) if unique else (*values, f"#{index}")
                row = {f"v_{c}": v for c, v in values.items()}
                shapes.setdefault(key, []).append({"did": u.decision_id, **row})
            for key, rows in shapes.items():
                columns = [c for c in key if not c.startswith("#")]
                conn.execute(
                    sa.update(interventions)
                    .where(interventions.c.decision_id == sa.bindparam("did"))
                    .values({c: sa.bindparam(f"v_{c}") for c in columns}),
                    rows,
                )

        self._write(run, "update decision statuses")

    def due_for_outcome(self, now: datetime) -> list[OutcomeDue]:
        """Decisions with a measurable KPI whose horizon is at or before ``now`` (executed, held,
        rejected or timed out)."""
        c = interventions.c
        query = (
            sa.select(
                c.decision_id,
                c.area_id,
                c.entry_id,
                c.target_type,
                c.target_id,
                c.outcome_kpi,
                c.baseline_value,
            )
            .where(
                # Held, refused and timed-out decisions are measured too: their outcome is the
                # no-action outcome the learning policy compares acting against.
                c.status.in_(("executed", "held", "rejected", "timeout")),
                c.outcome_kpi.is_not(None),
                c.measured_at.is_(None),
                c.horizon_at <= _ts(now),
            )
            .order_by(c.seq)
        )
        with self._read() as conn:
            return [OutcomeDue(**row._mapping) for row in conn.execute(query)]

    def record_outcomes(
        self, outcomes: Iterable[tuple[str, float | None]], *, measured_at: datetime
    ) -> int:
        """Store measured KPI values; the delta is value minus the decision's baseline.

        A None value (the unit had no data at the horizon) is stored as measured with a null
        outcome, so it is not measured again. Returns how many rows were updated.
        """
        items = list(outcomes)
        if not items:
            return 0
        when = _ts(measured_at)

        def run(conn: sa.Connection) -> int:
            n = 0
            c = interventions.c
            for decision_id, value in items:
                clean = None if value is None or not math.isfinite(value) else float(value)
                delta = (
                    sa.null()
                    if clean is None
                    else sa.case(
                        (c.baseline_value.is_(None), sa.null()),
                        else_=sa.literal(clean) - c.baseline_value,
                    )
                )
                res = conn.execute(
                    sa.update(interventions)
                    .where(c.decision_id == decision_id)
                    .values(outcome_value=clean, outcome_delta=delta, measured_at=when)
                )
                n += res.rowcount
            return n

        return int(self._write(run, "record outcomes"))

    # ------------------------------------------------------------------ reads

    def list_interventions(
        self,
        *,
        area_id: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        after: int | None = None,
    ) -> list[dict[str, Any]]:
        """Decisions oldest first, as JSON-ready dicts (with ``seq`` for cursor pagination).

        Args:
            area_id, status, kind: filters.
            since: only decisions taken at or after this time.
            limit: at most this many rows (1..10 000).
            after: only rows with ``seq`` greater than this (the previous page's last ``seq``).
        """
        if not 1 <= limit <= 10_000:
            raise InvalidInputError("limit must be between 1 and 10000")
        c = interventions.c
        query = sa.select(interventions).order_by(c.seq).limit(limit)
        if area_id is not None:
            query = query.where(c.area_id == area_id)
        if status is not None:
            query = query.where(c.status == status)
        if kind is not None:
            query = query.where(c.kind == kind)
        if since is not None:
            query = query.where(c.decided_at >= _ts(since))
        if after is not None:
            query = query.where(c.seq > after)
        with self._read() as conn:
            return [_row_dict(dict(row._mapping)) for row in conn.execute(query)]

    def decision_states(
        self, *, statuses: Sequence[str] | None = None, since: datetime | None = None
    ) -> list[DecisionState]:
        """Decisions oldest first, without their context (filters: ``statuses``, ``since``).

        ``statuses``: only decisions with one of these; ``since``: only those taken at or
        after it; both None: all. What a restarted agent reads to adopt the runs waiting at
        gates and to rebuild its cooldowns and weekly budgets
        (:meth:`tailguard.agents.tick.AreaAgents.recover`).
        """
        c = interventions.c
        query = sa.select(
            c.decision_id,
            c.area_id,
            c.entry_id,
            c.kind,
            c.tool_name,
            c.target_type,
            c.target_id,
            c.args,
            c.decided_at,
            c.status,
            c.run_id,
            c.step_id,
            c.gate_id,
        ).order_by(c.seq)
        if statuses is not None:
            query = query.where(c.status.in_(list(statuses)))
        if since is not None:
            query = query.where(c.decided_at >= _ts(since))
        with self._read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["args"] = json.loads(row["args"]) if row["args"] else {}
            row["decided_at"] = _dt(row["decided_at"])
        return [DecisionState(**row) for row in rows]

    def for_gates(self, gate_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """gate id -> the decision that opened it (trigger, context, target, entry, cost), for
        an approver's inbox; gates no area agent opened are absent."""
        ids = sorted(set(gate_ids))
        out: dict[str, dict[str, Any]] = {}
        c = interventions.c
        for lo in range(0, len(ids), 500):
            query = sa.select(
                c.gate_id,
                c.decision_id,
                c.area_id,
                c.entry_id,
                c.kind,
                c.trigger,
                c.target_type,
                c.target_id,
                c.context,
                c.cost_usd,
                c.outcome_kpi,
                c.baseline_value,
            ).where(c.gate_id.in_(ids[lo : lo + 500]))
            with self._read() as conn:
                for row in conn.execute(query):
                    item = dict(row._mapping)
                    item["context"] = json.loads(item["context"]) if item["context"] else {}
                    out[item.pop("gate_id")] = item
        return out

    def spend_since(
        self, since: datetime, *, statuses: Sequence[str] = ("executed", "pending_approval")
    ) -> dict[tuple[str, str], float]:
        """(area, catalogue entry) -> dollars of the decisions taken since ``since`` that ran
        or wait at a gate (what a weekly budget has committed)."""
        c = interventions.c
        query = (
            sa.select(c.area_id, c.entry_id, sa.func.sum(c.cost_usd))
            .where(c.decided_at >= _ts(since), c.status.in_(list(statuses)))
            .group_by(c.area_id, c.entry_id)
        )
        with self._read() as conn:
            return {(a, e): float(v or 0.0) for a, e, v in conn.execute(query)}

    def last_decided_at(self) -> datetime | None:
        """When the latest decision was taken (None: no decision yet)."""
        query = sa.select(sa.func.max(interventions.c.decided_at))
        with self._read() as conn:
            return _dt(conn.execute(query).scalar())

    def get(self, decision_id: str) -> dict[str, Any]:
        """One decision.

        Raises:
            NotFoundError: no such decision.
        """
        query = sa.select(interventions).where(interventions.c.decision_id == decision_id)
        with self._read() as conn:
            row = conn.execute(query).one_or_none()
        if row is None:
            raise NotFoundError(f"unknown decision {decision_id!r}")
        return _row_dict(dict(row._mapping))

    def count(self, **filters: Any) -> int:
        """How many decisions (optionally with ``status=`` / ``area_id=``)."""
        query = sa.select(sa.func.count()).select_from(interventions)
        for name, value in filters.items():
            query = query.where(interventions.c[name] == value)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def frame(self) -> pl.DataFrame:
        """Every decision as a Polars frame (times as UTC datetimes, JSON columns as text)."""
        with self._read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sa.select(interventions))]
        schema: dict[str, Any] = {
            col.name: (
                pl.Float64
                if isinstance(col.type, sa.Float)
                else pl.Int64
                if isinstance(col.type, sa.Integer | sa.BigInteger)
                else pl.String
            )
            for col in interventions.columns
        }
        df = pl.DataFrame(rows, schema=schema, orient="row")
        times = ["decided_at", "executed_at", "horizon_at", "measured_at"]
        return df.with_columns(
            (pl.col(t) * 1e6).cast(pl.Int64).cast(pl.Datetime("us", "UTC")).alias(t) for t in times
        )

    # --------------------------------------------------------------- plumbing

    def _write(self, fn: Any, what: str) -> Any:
        return access.write(self.engine, fn, what)

    def _read(self) -> AbstractContextManager[sa.Connection]:
        return access.read(self.engine, "self-learn store")


def _row_dict(m: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(m)
    for name in ("args", "context"):
        out[name] = json.loads(out[name]) if out[name] else {}
    for name in ("decided_at", "executed_at", "horizon_at", "measured_at"):
        value = _dt(out[name])
        out[name] = None if value is None else value.isoformat().replace("+00:00", "Z")
    return out
