"""The dev swarm's change proposals.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Creates ``tailguard_ops_proposals`` when the database lacks it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tailguard.migrations.frozen import metadata_0004

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    meta = metadata_0004()
    missing = [t for t in meta.sorted_tables if t.name not in existing]
    meta.create_all(bind, tables=missing, checkfirst=False)


def downgrade() -> None:
    op.drop_table("tailguard_ops_proposals")
