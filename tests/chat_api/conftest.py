"""The real service app with the chat endpoint, API keys for each kind of caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tailguard.clock import FakeClock
from tailguard.roles.session import ChatStack
from tailguard.service import ServiceSettings, create_app
from tailguard.service.chat import chat_stack_of, close

KEYS = {"olga": "operator", "carol": "approver", "victor": "viewer"}


@dataclass
class ChatApi:
    """The test's handle on the running app."""

    client: TestClient
    app: Any
    keys: dict[str, str]

    def post(self, path: str, body: Any, *, as_: str = "olga") -> Any:
        """POST JSON as one of :data:`KEYS` (``as_=""``: without a key)."""
        headers = {"Authorization": f"Bearer {self.keys[as_]}"} if as_ else {}
        return self.client.post(path, json=body, headers=headers)

    @property
    def stack(self) -> ChatStack:
        """The chat stack the endpoint runs on."""
        return chat_stack_of(self.app)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The service's database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'svc.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def api(ledger_url: str, tmp_path: Path) -> Iterator[ChatApi]:
    """The whole service app (optional routers included)."""
    settings = ServiceSettings(
        ledger_url=ledger_url,
        pulse_url=str(tmp_path / "pulse.db"),
        clock=FakeClock(datetime(2026, 12, 1, 15, 0, tzinfo=UTC)),
    )
    app = create_app(settings)
    keys = {name: app.state.tailguard.keys.create(name, role)[1] for name, role in KEYS.items()}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield ChatApi(client=client, app=app, keys=keys)
        close(app)
