"""Replays recorded provider responses to the real SDK clients through an httpx2 transport."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2

FIXTURES = Path(__file__).parent / "fixtures"


class Replay:
    """An ``httpx2.MockTransport`` handler that answers with fixture files in order.

    Every request body is kept in :attr:`requests` so tests can check what the SDK sent.
    """

    def __init__(self, *names: str) -> None:
        self._queue = [json.loads((FIXTURES / name).read_text()) for name in names]
        self.requests: list[dict[str, Any]] = []
        self.urls: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(json.loads(request.content or b"{}"))
        self.urls.append(str(request.url))
        if not self._queue:
            return httpx2.Response(599, json={"error": {"message": "no recorded response left"}})
        recorded = self._queue.pop(0)
        return httpx2.Response(
            recorded["status"], json=recorded["body"], headers=recorded.get("headers") or {}
        )

    @property
    def remaining(self) -> int:
        """How many recorded responses were not used."""
        return len(self._queue)

    def client(self) -> httpx2.Client:
        """An SDK-ready HTTP client on this replay."""
        return httpx2.Client(transport=httpx2.MockTransport(self))
