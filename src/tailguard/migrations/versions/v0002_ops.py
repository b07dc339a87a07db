"""The tables of autonomous operations: incidents and switches of self-healing, recruiter
campaigns and their sends.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

Creates the tables a database lacks (a database an earlier development build of the ops
package created with ``create_all`` keeps its tables and rows).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tailguard.migrations.frozen import metadata_0002

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    meta = metadata_0002()
    missing = [t for t in meta.sorted_tables if t.name not in existing]
    meta.create_all(bind, tables=missing, checkfirst=False)


def downgrade() -> None:
    for name in (
        "tailguard_ops_campaign_sends",
        "tailguard_ops_campaigns",
        "tailguard_ops_switches",
        "tailguard_ops_incidents",
    ):
        op.drop_table(name)
