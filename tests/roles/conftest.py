"""Fixtures of the role-agent tests: stores on SQLite and PostgreSQL, and a chat stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tailguard.clock import FakeClock
from tailguard.roles.recruiting.store import RecruitingStore
from tailguard.roles.session import ChatStack, open_chat


@pytest.fixture
def clock() -> FakeClock:
    """A fixed clock so the dataset and the runs are reproducible."""
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[RecruitingStore]:
    """The seeded reference dataset in a fresh SQLite file."""
    opened = RecruitingStore.open(f"sqlite:///{tmp_path / 'rc.db'}", clock=clock)
    yield opened
    opened.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[RecruitingStore]:
    """The seeded dataset on each backend."""
    url = (
        f"sqlite:///{tmp_path / 'rc.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    opened = RecruitingStore.open(url, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def chat(tmp_path: Path, clock: FakeClock) -> Iterator[ChatStack]:
    """The whole chat stack on one SQLite file with the scripted provider."""
    stack = open_chat(f"sqlite:///{tmp_path / 'chat.db'}", clock=clock)
    yield stack
    stack.close()
