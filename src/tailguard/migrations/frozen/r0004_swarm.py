"""Revision 0004's table: the dev swarm's change proposals, as that release defined it."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

Creator = Callable[..., None]
_Time = sa.Float(precision=53)


def create(_table: Creator, _index: Creator) -> None:
    """Create the proposals table through ``_table``."""
    _table(
        "tailguard_ops_proposals",
        sa.Column("proposal_id", sa.String(64), primary_key=True),
        sa.Column("repo", sa.String(512), nullable=False),
        sa.Column("finding_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("finding", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("updated_at", _Time, nullable=False),
        sa.UniqueConstraint("repo", "finding_key", name="uq_tailguard_ops_proposals_finding"),
    )
