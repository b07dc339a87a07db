"""Revision 0003's table: the week snapshots a live ``tailguard agents run`` keeps for the
weekly cycle (one Parquet body per frame of each week), as that release defined it."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

Creator = Callable[..., None]


def create(_table: Creator, _index: Creator) -> None:
    """Create the table through ``_table`` (no secondary index: read by its key)."""
    _table(
        "tailguard_week_snapshots",
        sa.Column("week_end", sa.String(10), primary_key=True),
        sa.Column("frame", sa.String(16), primary_key=True),
        sa.Column("as_of", sa.Float(precision=53), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("written_at", sa.Float(precision=53), nullable=False),
    )
