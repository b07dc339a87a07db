"""The compendium tests' databases (a SQLite file and a fresh PostgreSQL schema) and records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tailguard.clock import FakeClock
from tailguard.control import ControlPlane
from tailguard.ledger import Ledger

from ._world import make_plane


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ledger URL on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at the session's now (so the suite also runs with the clock moved ahead)."""
    return FakeClock()


@pytest.fixture
def ledger(db_url: str, clock: FakeClock) -> Iterator[Ledger]:
    """An open ledger on ``db_url``."""
    with Ledger.open(db_url, clock=clock) as opened:
        yield opened


@pytest.fixture
def plane(ledger: Ledger, clock: FakeClock) -> ControlPlane:
    """A control plane with the test tools and the goal-text scorer."""
    return make_plane(ledger, clock)
