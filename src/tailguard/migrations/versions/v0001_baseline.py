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

from typing import Any

import sqlalchemy as sa
from alembic import op

from tailguard.migrations.frozen import r0001_core, r0001_roles

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_EXISTING: set[str] = set()

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


def _table(name: str, *items: Any, **kw: Any) -> None:
    if name not in _EXISTING:
        op.create_table(name, *items, **kw)


def _index(name: str, table: str, columns: list[str], **kw: Any) -> None:
    if table not in _EXISTING:
        op.create_index(name, table, columns, **kw)


def upgrade() -> None:
    bind = op.get_bind()
    _EXISTING.clear()
    _EXISTING.update(sa.inspect(bind).get_table_names())
    _tables()
    if "tailguard_ledger" not in _EXISTING:
        guards = _SQLITE_GUARDS if bind.dialect.name == "sqlite" else _POSTGRES_GUARDS
        for statement in guards:
            op.execute(statement)
    if "tailguard_control_runs" in _EXISTING:
        have = {c["name"] for c in sa.inspect(bind).get_columns("tailguard_control_runs")}
        for column, kind in _RUN_COLUMNS:
            if column not in have:
                op.add_column("tailguard_control_runs", sa.Column(column, kind, nullable=True))
        indexes = {i["name"] for i in sa.inspect(bind).get_indexes("tailguard_control_runs")}
        if "ix_tailguard_control_runs_area_hour" not in indexes:
            op.create_index(
                "ix_tailguard_control_runs_area_hour", "tailguard_control_runs", ["area_id", "hour"]
            )


def _tables() -> None:
    r0001_core.create(_table, _index)
    r0001_roles.create(_table, _index)


def downgrade() -> None:
    raise NotImplementedError("the first schema has nothing to go back to")
