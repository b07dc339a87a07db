"""Alembic's environment for tailguard: run on the connection :func:`tailguard.migrations.upgrade`
hands over (there is no ``alembic.ini`` and no URL here: nothing connects on its own)."""

from __future__ import annotations

from alembic import context

from tailguard.migrations import VERSION_TABLE

_connection = context.config.attributes.get("connection")
if _connection is None:  # pragma: no cover - only reachable by running the alembic CLI by hand
    raise RuntimeError("run tailguard's migrations with `tailguard db upgrade --db URL`")
context.configure(
    connection=_connection,
    target_metadata=None,
    version_table=VERSION_TABLE,
    transactional_ddl=_connection.dialect.name == "postgresql",
)
with context.begin_transaction():
    context.run_migrations()
