"""Ledger fixtures: every test runs on a SQLite file and on the machine's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tailguard.ledger import Ledger


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh ledger URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """An open, empty ledger on each backend."""
    with Ledger.open(ledger_url) as opened:
        yield opened


def tamper(ledger: Ledger, statement: str, params: dict[str, object] | None = None) -> None:
    """Run SQL against the ledger table as an attacker with database access would.

    The append-only triggers are removed first (an attacker who owns the database can).
    """
    with ledger.engine.begin() as conn:
        if ledger.backend.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS tailguard_ledger_no_update")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS tailguard_ledger_no_delete")
        else:
            conn.exec_driver_sql("ALTER TABLE tailguard_ledger DISABLE TRIGGER USER")
        conn.execute(sa.text(statement), params or {})
