"""The real service app with the voice webhook, on SQLite or PostgreSQL, and recorded envelopes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from _service_fixtures import ledger_url as ledger_url
from _service_fixtures import whole_service
from tailguard.service.voice import VoiceAssistant, VoiceConfig, VoiceService, voice_service_of

FIXTURES = Path(__file__).with_name("fixtures")
SECRET = "vapi-shared-secret-for-tests"


def envelope(name: str) -> dict[str, Any]:
    """A recorded delivery from ``fixtures/``."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@dataclass
class Voice:
    """The test's handle on the running app."""

    client: TestClient
    app: Any

    def post(self, body: Any, *, secret: str | None = SECRET, **headers: str) -> Any:
        """POST a delivery (a dict as JSON, bytes as they are)."""
        if secret is not None:
            headers["X-Vapi-Secret"] = secret
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/json"
            return self.client.post("/v1/voice/tool-calls", content=body, headers=headers)
        return self.client.post("/v1/voice/tool-calls", json=body, headers=headers)

    @property
    def service(self) -> VoiceService:
        """The webhook's service object (its chat stack and tables)."""
        return voice_service_of(self.app)


@pytest.fixture
def voice(ledger_url: str, tmp_path: Path) -> Iterator[Voice]:
    """The whole service app (optional routers included) with a voice configuration."""
    config = VoiceConfig(
        secret=SECRET,
        assistants={
            "asst-driver-001": VoiceAssistant(role="driver"),
            "Recruiter Line": VoiceAssistant(role="recruiter", user_id="rec-001"),
        },
    )
    with whole_service(ledger_url, tmp_path, extras={"voice_config": config}) as (app, client):
        yield Voice(client=client, app=app)
