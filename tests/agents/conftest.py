"""Fixtures shared by the agents' tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(ledger URL, pulse URL) on each backend pair, cleaned up afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}", str(tmp_path / "pulse.db")
        return
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("unique_prefix")
    yield str(request.getfixturevalue("pg_url")), f"{url}?prefix={prefix}"
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()
