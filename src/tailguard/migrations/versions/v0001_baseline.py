"""The schema of the release before migrations (every table on the ledger's database).

Revision ID: 0001
Revises:
Create Date: 2026-12-07

Generated once by Alembic's autogenerate from that release's table definitions, then frozen:
later changes are new revisions, never edits here. On a database that release created (tables,
no version table) it creates only the missing tables (with their indexes) and adds the control
plane's run columns an even older release lacked; existing rows are not touched. The ledger
table's append-only triggers are created with the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tailguard.migrations.frozen import metadata_0001

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE_GUARDS = (
    "CREATE TRIGGER IF NOT EXISTS tailguard_ledger_no_update BEFORE UPDATE ON "
    "tailguard_ledger BEGIN SELECT RAISE(ABORT, 'tailguard_ledger is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS tailguard_ledger_no_delete BEFORE DELETE ON "
    "tailguard_ledger BEGIN SELECT RAISE(ABORT, 'tailguard_ledger is append-only'); END",
)
_POSTGRES_GUARDS = (
    "CREATE OR REPLACE FUNCTION tailguard_ledger_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'tailguard_ledger is append-only'; END $$",
    "CREATE OR REPLACE TRIGGER tailguard_ledger_no_change BEFORE UPDATE OR DELETE ON "
    "tailguard_ledger FOR EACH ROW EXECUTE FUNCTION tailguard_ledger_append_only()",
    "CREATE OR REPLACE TRIGGER tailguard_ledger_no_truncate BEFORE TRUNCATE ON "
    "tailguard_ledger FOR EACH STATEMENT EXECUTE FUNCTION tailguard_ledger_append_only()",
)
#: Columns of the control plane's runs table that databases older than this release lack.
_RUN_COLUMNS = (("area_id", sa.String(255)), ("hour", sa.Float(precision=53)))


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    meta = metadata_0001()
    # The tables this release defined that the database lacks, with their indexes; a table
    # that exists is left as it is (its rows and its indexes are the earlier release's).
    missing = [t for t in meta.sorted_tables if t.name not in existing]
    meta.create_all(bind, tables=missing, checkfirst=False)
    if "tailguard_ledger" not in existing:
        guards = _SQLITE_GUARDS if bind.dialect.name == "sqlite" else _POSTGRES_GUARDS
        for statement in guards:
            op.execute(statement)
    if "tailguard_control_runs" in existing:
        have = {c["name"] for c in sa.inspect(bind).get_columns("tailguard_control_runs")}
        for column, kind in _RUN_COLUMNS:
            if column not in have:
                op.add_column("tailguard_control_runs", sa.Column(column, kind, nullable=True))
        indexes = {i["name"] for i in sa.inspect(bind).get_indexes("tailguard_control_runs")}
        if "ix_tailguard_control_runs_area_hour" not in indexes:
            op.create_index(
                "ix_tailguard_control_runs_area_hour", "tailguard_control_runs", ["area_id", "hour"]
            )


def downgrade() -> None:
    raise NotImplementedError("the first schema has nothing to go back to")
