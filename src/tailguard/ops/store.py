"""The operations package's own tables, on the ledger's database engine.

Two tables, both working state that every process shares (the evidence is in the ledger):

* ``tailguard_ops_incidents``: one row per incident of the self-healing workflow: its fault,
  the step it has reached and the JSON state each finished step left. A step advances by
  compare-and-set on ``step`` (``UPDATE ... WHERE step = n``), so two processes resuming the
  same incident never both finish a step, and a restarted process picks up exactly where the
  database says the workflow stands.
* ``tailguard_ops_switches``: the deployment's operational switches the remedies turn (a paused
  intervention kind, a circuit breaker held open, a raised budget, a worker's state), as JSON
  values by name.

Queries are written once (SQLAlchemy Core) for SQLite and PostgreSQL; payloads are JSON text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tailguard.errors import ConflictError, NotFoundError
from tailguard.migrations.stores import MigratedStore

metadata = sa.MetaData()
_Time = sa.Float(precision=53)

incidents = sa.Table(
    "tailguard_ops_incidents",
    metadata,
    sa.Column("incident_id", sa.String(64), primary_key=True),
    sa.Column("fault", sa.String(64), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("opened_at", _Time, nullable=False),
    sa.Column("updated_at", _Time, nullable=False),
)

switches = sa.Table(
    "tailguard_ops_switches",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", _Time, nullable=False),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentRow:
    """An incident as stored: where its workflow stands and what its steps left."""

    incident_id: str
    fault: str
    status: str
    step: int
    state: dict[str, Any]
    opened_at: datetime
    updated_at: datetime


def _row(r: Any) -> IncidentRow:
    return IncidentRow(
        incident_id=r.incident_id,
        fault=r.fault,
        status=r.status,
        step=int(r.step),
        state=json.loads(r.state),
        opened_at=datetime.fromtimestamp(r.opened_at, UTC),
        updated_at=datetime.fromtimestamp(r.updated_at, UTC),
    )


class OpsStore(MigratedStore):
    """Incidents and switches on one engine (tables created on first use)."""

    what = "ops"

    # ------------------------------------------------------------- incidents

    def open_incident(
        self, incident_id: str, fault: str, state: dict[str, Any], *, now: datetime
    ) -> IncidentRow:
        """Store a new incident at step 0 (``detected``).

        Raises:
            ConflictError: the id exists.
        """
        with self._begin() as conn:
            conn.execute(
                incidents.insert().values(
                    incident_id=incident_id,
                    fault=fault,
                    status="detected",
                    step=0,
                    state=json.dumps(state, sort_keys=True),
                    opened_at=now.timestamp(),
                    updated_at=now.timestamp(),
                )
            )
        return self.incident(incident_id)

    def incident(self, incident_id: str) -> IncidentRow:
        """One incident.

        Raises:
            NotFoundError: no such incident.
        """
        with self._begin() as conn:
            row = conn.execute(
                sa.select(incidents).where(incidents.c.incident_id == incident_id)
            ).first()
        if row is None:
            raise NotFoundError(f"unknown incident {incident_id!r}")
        return _row(row)

    def incidents(self, *, open_only: bool = False) -> list[IncidentRow]:
        """Every incident (or those not closed), oldest first."""
        stmt = sa.select(incidents).order_by(incidents.c.opened_at, incidents.c.incident_id)
        if open_only:
            stmt = stmt.where(incidents.c.status != "closed")
        with self._begin() as conn:
            return [_row(r) for r in conn.execute(stmt).all()]

    def advance(
        self,
        incident_id: str,
        *,
        from_step: int,
        status: str,
        state: dict[str, Any],
        now: datetime,
    ) -> bool:
        """Move an incident from ``from_step`` to the next step; False when another got there."""
        with self._begin() as conn:
            done = conn.execute(
                incidents.update()
                .where(incidents.c.incident_id == incident_id, incidents.c.step == from_step)
                .values(
                    step=from_step + 1,
                    status=status,
                    state=json.dumps(state, sort_keys=True),
                    updated_at=now.timestamp(),
                )
            )
        return bool(done.rowcount == 1)

    # -------------------------------------------------------------- switches

    def switch(self, name: str, default: Any = None) -> Any:
        """A switch's value (``default`` when never set)."""
        with self._begin() as conn:
            text = conn.execute(
                sa.select(switches.c.value).where(switches.c.name == name)
            ).scalar_one_or_none()
        return default if text is None else json.loads(text)

    def switches(self, prefix: str = "") -> dict[str, Any]:
        """Every switch whose name starts with ``prefix``."""
        with self._begin() as conn:
            rows = conn.execute(
                sa.select(switches.c.name, switches.c.value).where(
                    switches.c.name.startswith(prefix, autoescape=True)
                )
            ).all()
        return {r.name: json.loads(r.value) for r in rows}

    def set_switch(self, name: str, value: Any, *, now: datetime) -> Any:
        """Set a switch; returns its previous value (None when unset)."""
        text = json.dumps(value, sort_keys=True)
        with self._begin() as conn:
            old = conn.execute(
                sa.select(switches.c.value).where(switches.c.name == name).with_for_update()
            ).scalar_one_or_none()
            if old is None:
                conn.execute(
                    switches.insert().values(name=name, value=text, updated_at=now.timestamp())
                )
            else:
                conn.execute(
                    switches.update()
                    .where(switches.c.name == name)
                    .values(value=text, updated_at=now.timestamp())
                )
        return None if old is None else json.loads(old)

    def claim(self, name: str, value: Any, *, now: datetime) -> bool:
        """Create a switch that must not exist yet: True for the one caller that created it,
        False for every other (the primary key decides, on SQLite and PostgreSQL alike)."""
        try:
            with self._begin() as conn:
                conn.execute(
                    switches.insert().values(
                        name=name,
                        value=json.dumps(value, sort_keys=True),
                        updated_at=now.timestamp(),
                    )
                )
        except ConflictError:
            return False
        return True

    def drop_switch(self, name: str) -> None:
        """Remove a switch (nothing when it is not there)."""
        with self._begin() as conn:
            conn.execute(switches.delete().where(switches.c.name == name))
