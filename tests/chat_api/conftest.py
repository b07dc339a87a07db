"""The real service app with the chat endpoint, API keys for each kind of caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from _service_fixtures import ledger_url as ledger_url
from _service_fixtures import whole_service
from tailguard.roles.session import ChatStack
from tailguard.service.chat import chat_stack_of

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


@pytest.fixture
def api(ledger_url: str, tmp_path: Path) -> Iterator[ChatApi]:
    """The whole service app (optional routers included)."""
    with whole_service(ledger_url, tmp_path) as (app, client):
        keys = {name: app.state.tailguard.keys.create(name, role)[1] for name, role in KEYS.items()}
        yield ChatApi(client=client, app=app, keys=keys)
