"""Policy versions: every fitted learning policy, which one is in force, and what people did.

Each nightly update writes a new version (its model, the data it used, what changed against the
previous version) into ``tailguard_policy_versions`` and a ``policy`` record into the ledger
*before* any decision uses it. The state row says which version is active and whether an
operator pinned it (updates are written but not activated) or froze learning (no updates at
all). Rollbacks (automatic, by the guardrail, or by hand) are ledger records too, so the
ledger alone tells which policy chose every decision and why it changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tailguard.errors import ConflictError, LedgerError, NotFoundError
from tailguard.learning.policy import ThompsonModel
from tailguard.ledger import Ledger
from tailguard.migrations import ensure_schema

metadata = sa.MetaData()

versions = sa.Table(
    "tailguard_policy_versions",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("version_id", sa.String(64), nullable=False, unique=True),
    sa.Column("previous", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float(precision=53), nullable=False),
    sa.Column("decisions_used", sa.Integer, nullable=False),
    sa.Column("data_digest", sa.String(64), nullable=False),
    sa.Column("changes", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # candidate, active, retired, rolled_back
    sa.Column("reason", sa.Text, nullable=True),
)

state = sa.Table(
    "tailguard_policy_state",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("active", sa.String(64), nullable=True),
    sa.Column("pinned", sa.Boolean, nullable=False, default=False),
    sa.Column("frozen", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", sa.Float(precision=53), nullable=False),
)

_NAME = "area_agents"


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyVersion:
    """One stored version (without its model)."""

    version_id: str
    previous: str | None
    created_at: datetime
    decisions_used: int
    data_digest: str
    changes: list[dict[str, Any]]
    status: str
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "version_id": self.version_id,
            "previous": self.previous,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "decisions_used": self.decisions_used,
            "data_digest": self.data_digest,
            "changes": self.changes,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyState:
    """Which version is in force, and the operator's switches."""

    active: str | None
    pinned: bool
    frozen: bool


class PolicyStore:
    """Policy versions on the ledger's database, each change also a ``policy`` ledger record.

    Args:
        ledger: the ledger (its engine holds the tables; its records hold the evidence).
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.engine = ledger.engine
        try:
            ensure_schema(self.engine)  # tables come from the migrations
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"cannot create the policy tables: {exc}") from exc

    # ---------------------------------------------------------------- reads

    def state(self) -> PolicyState:
        """The current state (nothing active, nothing pinned or frozen when new)."""
        with self._conn() as conn:
            row = conn.execute(sa.select(state).where(state.c.name == _NAME)).first()
        if row is None:
            return PolicyState(active=None, pinned=False, frozen=False)
        return PolicyState(active=row.active, pinned=bool(row.pinned), frozen=bool(row.frozen))

    def model(self, version_id: str) -> ThompsonModel:
        """The fitted model of a version.

        Raises:
            NotFoundError: no such version.
        """
        with self._conn() as conn:
            text = conn.execute(
                sa.select(versions.c.model).where(versions.c.version_id == version_id)
            ).scalar_one_or_none()
        if text is None:
            raise NotFoundError(f"unknown policy version {version_id!r}")
        return ThompsonModel.from_json(json.loads(text))

    def active_model(self) -> ThompsonModel | None:
        """The model in force (None before the first update)."""
        active = self.state().active
        return None if active is None else self.model(active)

    def history(self, limit: int = 100) -> list[PolicyVersion]:
        """Versions, newest first."""
        with self._conn() as conn:
            rows = conn.execute(
                sa.select(versions).order_by(versions.c.seq.desc()).limit(limit)
            ).all()
        return [
            PolicyVersion(
                version_id=r.version_id,
                previous=r.previous,
                created_at=datetime.fromtimestamp(r.created_at, UTC),
                decisions_used=int(r.decisions_used),
                data_digest=r.data_digest,
                changes=json.loads(r.changes),
                status=r.status,
                reason=r.reason,
            )
            for r in rows
        ]

    def count(self) -> int:
        """How many versions exist."""
        with self._conn() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(versions)).scalar_one())

    # --------------------------------------------------------------- writes

    def add(
        self,
        model: ThompsonModel,
        *,
        previous: str | None,
        now: datetime,
        decisions_used: int,
        data_digest: str,
        changes: list[dict[str, Any]],
    ) -> bool:
        """Store a new version and its ledger record; activate it unless pinned or frozen.

        Returns whether it became the active version.
        """
        st = self.state()
        activate = not st.pinned and not st.frozen
        status = "active" if activate else "candidate"
        self.ledger.append(
            "policy",
            {
                "policy_id": model.version,
                "action": "created",
                "previous": previous,
                "decisions_used": decisions_used,
                "data_digest": data_digest,
                "changes": changes,
                "activated": activate,
                "at": now.isoformat().replace("+00:00", "Z"),
            },
        )
        with self._begin() as conn:
            conn.execute(
                versions.insert().values(
                    version_id=model.version,
                    previous=previous,
                    created_at=now.timestamp(),
                    decisions_used=decisions_used,
                    data_digest=data_digest,
                    changes=json.dumps(changes, sort_keys=True),
                    model=json.dumps(model.to_json(), sort_keys=True),
                    status=status,
                )
            )
            if activate:
                if st.active is not None:
                    conn.execute(
                        versions.update()
                        .where(versions.c.version_id == st.active)
                        .values(status="retired")
                    )
                self._set(conn, now, active=model.version)
        return activate

    def rollback(self, now: datetime, *, by: str, reason: str, to: str | None = None) -> str:
        """Make the previous version (or ``to``) active again; the current one is rolled back.

        Returns the version now active.

        Raises:
            ConflictError: nothing to roll back to.
        """
        st = self.state()
        if st.active is None:
            raise ConflictError("no policy version is active")
        target = to
        if target is None:
            with self._conn() as conn:
                target = conn.execute(
                    sa.select(versions.c.previous).where(versions.c.version_id == st.active)
                ).scalar_one_or_none()
        if target is None:
            raise ConflictError(f"{st.active} has no previous version to roll back to")
        self.model(target)  # exists
        self.ledger.append(
            "policy",
            {
                "policy_id": st.active,
                "action": "rolled_back",
                "to": target,
                "by": by,
                "reason": reason,
                "at": now.isoformat().replace("+00:00", "Z"),
            },
        )
        with self._begin() as conn:
            conn.execute(
                versions.update()
                .where(versions.c.version_id == st.active)
                .values(status="rolled_back", reason=reason)
            )
            conn.execute(
                versions.update().where(versions.c.version_id == target).values(status="active")
            )
            self._set(conn, now, active=target)
        return target

    def set_switch(
        self, now: datetime, *, by: str, pinned: bool | None = None, frozen: bool | None = None
    ) -> PolicyState:
        """Pin / unpin the active version, or freeze / unfreeze learning (ledger records)."""
        values: dict[str, Any] = {}
        if pinned is not None:
            values["pinned"] = pinned
        if frozen is not None:
            values["frozen"] = frozen
        if values:
            self.ledger.append(
                "policy",
                {
                    "policy_id": self.state().active or "none",
                    "action": "switch",
                    "by": by,
                    **values,
                    "at": now.isoformat().replace("+00:00", "Z"),
                },
            )
            with self._begin() as conn:
                self._set(conn, now, **values)
        return self.state()

    # ------------------------------------------------------------- plumbing

    def _set(self, conn: sa.Connection, now: datetime, **values: Any) -> None:
        exists = conn.execute(sa.select(state.c.name).where(state.c.name == _NAME)).first()
        if exists is None:
            conn.execute(
                state.insert().values(
                    name=_NAME,
                    active=values.get("active"),
                    pinned=bool(values.get("pinned", False)),
                    frozen=bool(values.get("frozen", False)),
                    updated_at=now.timestamp(),
                )
            )
        else:
            conn.execute(
                state.update()
                .where(state.c.name == _NAME)
                .values(**values, updated_at=now.timestamp())
            )

    @contextmanager
    def _conn(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"cannot read the policy versions: {exc}") from exc

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.IntegrityError as exc:
            raise ConflictError(f"policy version conflict: {exc.orig}") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(f"cannot write the policy versions: {exc}") from exc


def changes_between(
    old: ThompsonModel | None, new: ThompsonModel, limit: int = 8
) -> list[dict[str, Any]]:
    """The arms whose pooled mean reward moved most between two versions (for the record)."""
    rows: list[dict[str, Any]] = []
    before: Mapping[tuple[str, str], Any] = old.pooled if old is not None else {}
    for key, stats in new.pooled.items():
        prev = before.get(key)
        rows.append(
            {
                "group": key[0],
                "arm": key[1],
                "n": round(stats.n, 2),
                "mean": round(stats.mean, 4),
                "moved": round(stats.mean - (prev.mean if prev is not None else 0.0), 4),
            }
        )
    rows.sort(key=lambda r: (-abs(r["moved"]), r["group"], r["arm"]))
    return rows[:limit]
