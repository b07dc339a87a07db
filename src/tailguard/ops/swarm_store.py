"""The dev swarm's table: one row per change proposal, on the ledger's engine.

A proposal is filed once per (repository, finding): the unique key makes scouting the same
finding again a no-op. Its workflow moves by compare-and-set on ``step`` (like incidents), and
a step's result is written by the step's own tool with :meth:`ProposalStore.put` only when the
key is still absent, so a restarted process finds the result and never runs the step again.
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
#: The step of a proposal whose workflow ended.
DONE = 99
_Time = sa.Float(precision=53)

proposals = sa.Table(
    "tailguard_ops_proposals",
    metadata,
    sa.Column("proposal_id", sa.String(64), primary_key=True),
    sa.Column("repo", sa.String(512), nullable=False),
    sa.Column("finding_key", sa.String(64), nullable=False),
    # filed -> built | build_failed -> tested -> awaiting_approval | tests_failed
    #   -> applied | rejected | expired | apply_failed
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("finding", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("created_at", _Time, nullable=False),
    sa.Column("updated_at", _Time, nullable=False),
    sa.UniqueConstraint("repo", "finding_key", name="uq_tailguard_ops_proposals_finding"),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ProposalRow:
    """A change proposal as stored."""

    proposal_id: str
    repo: str
    finding_key: str
    status: str
    step: int
    finding: dict[str, Any]
    state: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "proposal_id": self.proposal_id,
            "repo": self.repo,
            "status": self.status,
            "step": self.step,
            "finding": self.finding,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            **self.state,
        }


class ProposalStore(MigratedStore):
    """Change proposals on one engine (the table comes from the migrations)."""

    what = "proposal"

    def file(
        self,
        proposal_id: str,
        repo: str,
        finding_key: str,
        finding: dict[str, Any],
        state: dict[str, Any],
        *,
        now: datetime,
    ) -> bool:
        """File a proposal at step 0 (``filed``); False when the finding was filed before."""
        try:
            with self._begin() as conn:
                conn.execute(
                    proposals.insert().values(
                        proposal_id=proposal_id,
                        repo=repo,
                        finding_key=finding_key,
                        status="filed",
                        step=0,
                        finding=json.dumps(finding, sort_keys=True),
                        state=json.dumps(state, sort_keys=True),
                        created_at=now.timestamp(),
                        updated_at=now.timestamp(),
                    )
                )
        except ConflictError:
            return False
        return True

    def get(self, proposal_id: str) -> ProposalRow:
        """One proposal.

        Raises:
            NotFoundError: no such proposal.
        """
        with self._begin() as conn:
            r = conn.execute(
                sa.select(proposals).where(proposals.c.proposal_id == proposal_id)
            ).first()
        if r is None:
            raise NotFoundError(f"unknown proposal {proposal_id!r}")
        return _row(r)

    def has_finding(self, repo: str, finding_key: str) -> bool:
        """Whether the finding was filed for ``repo`` already."""
        with self._begin() as conn:
            hit = conn.execute(
                sa.select(proposals.c.proposal_id).where(
                    proposals.c.repo == repo, proposals.c.finding_key == finding_key
                )
            ).first()
        return hit is not None

    def list(self, *, status: str | None = None) -> list[ProposalRow]:
        """Every proposal (or those at ``status``), oldest first."""
        stmt = sa.select(proposals).order_by(proposals.c.created_at, proposals.c.proposal_id)
        if status is not None:
            stmt = stmt.where(proposals.c.status == status)
        with self._begin() as conn:
            return [_row(r) for r in conn.execute(stmt).all()]

    def advance(
        self, proposal_id: str, *, from_step: int, status: str, state: dict[str, Any], now: datetime
    ) -> bool:
        """Move to the next step (compare-and-set on ``from_step``); False when another
        process moved it first."""
        with self._begin() as conn:
            result = conn.execute(
                proposals.update()
                .where(proposals.c.proposal_id == proposal_id, proposals.c.step == from_step)
                .values(
                    step=from_step + 1,
                    status=status,
                    state=json.dumps(state, sort_keys=True),
                    updated_at=now.timestamp(),
                )
            )
        return bool(result.rowcount == 1)

    def finish(
        self, proposal_id: str, *, from_step: int, status: str, state: dict[str, Any], now: datetime
    ) -> bool:
        """End the workflow at ``status`` (compare-and-set; the step becomes :data:`DONE`)."""
        with self._begin() as conn:
            result = conn.execute(
                proposals.update()
                .where(proposals.c.proposal_id == proposal_id, proposals.c.step == from_step)
                .values(
                    step=DONE,
                    status=status,
                    state=json.dumps(state, sort_keys=True),
                    updated_at=now.timestamp(),
                )
            )
        return bool(result.rowcount == 1)

    def put(self, proposal_id: str, key: str, value: Any, *, now: datetime) -> Any:
        """Store a step's result under ``key`` unless one is there; returns the stored one.

        A compare-and-set on the whole state: of two writers, exactly one result is kept.
        """
        for _ in range(5):
            with self._begin() as conn:
                r = conn.execute(
                    sa.select(proposals.c.state).where(proposals.c.proposal_id == proposal_id)
                ).first()
                if r is None:
                    raise NotFoundError(f"unknown proposal {proposal_id!r}")
                state = json.loads(r.state)
                if key in state:
                    return state[key]
                new = json.dumps({**state, key: value}, sort_keys=True)
                done = conn.execute(
                    proposals.update()
                    .where(proposals.c.proposal_id == proposal_id, proposals.c.state == r.state)
                    .values(state=new, updated_at=now.timestamp())
                ).rowcount
            if done == 1:
                return value
        raise ConflictError(f"proposal {proposal_id}: {key} could not be stored (contention)")


def _row(r: sa.Row[Any]) -> ProposalRow:
    return ProposalRow(
        proposal_id=r.proposal_id,
        repo=r.repo,
        finding_key=r.finding_key,
        status=r.status,
        step=int(r.step),
        finding=json.loads(r.finding),
        state=json.loads(r.state),
        created_at=datetime.fromtimestamp(r.created_at, UTC),
        updated_at=datetime.fromtimestamp(r.updated_at, UTC),
    )
