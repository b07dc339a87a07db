"""Fixtures of the control-plane tests: one database URL per backend, a plane on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tailguard.clock import FakeClock
from tailguard.control import ApproverList, ControlPlane
from tailguard.ledger import Ledger

from ._toolkit import Effects, make_plane


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ledger URL, once on a SQLite file and once on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock shared by the ledger and the plane."""
    return FakeClock()


@pytest.fixture
def effects(tmp_path: Path) -> Effects:
    """The side-effect log the test tools write to."""
    return Effects(tmp_path / "effects.log")


@pytest.fixture
def ledger(db_url: str, clock: FakeClock) -> Iterator[Ledger]:
    """A ledger on the backend under test."""
    with Ledger.open(db_url, clock=clock) as opened:
        yield opened


@pytest.fixture
def plane(ledger: Ledger, effects: Effects, clock: FakeClock) -> ControlPlane:
    """A control plane with the test tools and one approver, ``boss``."""
    return make_plane(
        ledger,
        effects,
        clock=clock,
        approvers=ApproverList(approver_ids=frozenset({"boss", "deputy"})),
    )
