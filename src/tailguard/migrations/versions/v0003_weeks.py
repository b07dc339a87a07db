"""The week snapshots a live ``tailguard agents run`` keeps for ``tailguard week --db``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

Creates the table a database lacks.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tailguard.migrations.frozen import metadata_0003

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    meta = metadata_0003()
    missing = [t for t in meta.sorted_tables if t.name not in existing]
    meta.create_all(bind, tables=missing, checkfirst=False)


def downgrade() -> None:
    op.drop_table("tailguard_week_snapshots")
