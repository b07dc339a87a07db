"""Fixtures: the operations deployment on SQLite (and PostgreSQL where marked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailguard.clock import SystemClock

from .network import Network, build


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ops.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def pulse_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pulse.db'}"


@pytest.fixture
def network(db_url: str, pulse_url: str) -> Network:
    # The real clock's "now" (moved a year ahead with --clock-ahead-days): a tailguard
    # subprocess started by a test reads the same clock.
    return build(db_url, pulse_url, SystemClock().now())
