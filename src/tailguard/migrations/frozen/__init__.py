"""Table definitions frozen with the revision that introduced them (never edited later).

A revision's ``create(_table, _index)`` functions call back for each table and index. The
revision builds them once per process into a :class:`sqlalchemy.MetaData` (Alembic re-reads
the revision file on every upgrade; this cache does not) and creates the missing ones with
``create_all`` in the migration's transaction: the same DDL as ``op.create_table`` and
``op.create_index``, without building Alembic's operation objects for every table of every
new database (the test suite creates thousands).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

Creator = Callable[..., None]


@functools.cache
def metadata_0001() -> sa.MetaData:
    """Revision 0001's tables and indexes."""
    from tailguard.migrations.frozen import r0001_core, r0001_roles

    return _collect(r0001_core.create, r0001_roles.create)


@functools.cache
def metadata_0002() -> sa.MetaData:
    """Revision 0002's tables (autonomous operations)."""
    from tailguard.migrations.frozen import r0002_ops

    return _collect(r0002_ops.create)


@functools.cache
def metadata_0003() -> sa.MetaData:
    """Revision 0003's table (the week snapshots of live deployments)."""
    from tailguard.migrations.frozen import r0003_weeks

    return _collect(r0003_weeks.create)


@functools.cache
def metadata_0004() -> sa.MetaData:
    """Revision 0004's table (the dev swarm's change proposals)."""
    from tailguard.migrations.frozen import r0004_swarm

    return _collect(r0004_swarm.create)


def _collect(*creates: Callable[[Creator, Creator], None]) -> sa.MetaData:
    meta = sa.MetaData()

    def table(name: str, *items: Any, **kw: Any) -> None:
        sa.Table(name, meta, *items, **kw)

    def index(name: str, table_name: str, columns: list[str], **kw: Any) -> None:
        table_ = meta.tables[table_name]
        sa.Index(name, *(table_.c[c] for c in columns), **kw)

    for create in creates:
        create(table, index)
    return meta
