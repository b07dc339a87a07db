"""What the service's test packages share (tests/service, browser, chat_api, voice).

A package's conftest imports the fixtures it uses (``from _service_fixtures import
ledger_url as ledger_url``); pytest registers a fixture under the name it is imported as.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tailguard.clock import FakeClock
from tailguard.service import ServiceSettings, create_app
from tailguard.service.chat import close

#: The time the whole-service apps of :func:`whole_service` stand still at.
SERVICE_NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The service's database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@contextmanager
def whole_service(
    ledger_url: str, tmp_path: Path, *, extras: dict[str, Any] | None = None
) -> Iterator[tuple[FastAPI, TestClient]]:
    """The whole service app (optional routers included) on a fake clock, and its client.

    ``extras`` go into ``ServiceState.extras`` before the app serves. What the chat endpoint
    opened is closed before the app stops.
    """
    settings = ServiceSettings(
        ledger_url=ledger_url,
        pulse_url=str(tmp_path / "pulse.db"),
        clock=FakeClock(SERVICE_NOW),
    )
    app = create_app(settings)
    app.state.tailguard.extras.update(extras or {})
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client
        close(app)
