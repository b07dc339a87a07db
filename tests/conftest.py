"""Shared fixtures: the real servers on this machine, fresh and isolated for each test.

A test that needs a server which cannot be reached fails with a message naming the server and
how to start it (DEVELOPERS.md); it never skips.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from _timetravel import start_clock_travel, stop_clock_travel

PG_URL = os.environ.get(
    "TAILGUARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TAILGUARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("TAILGUARD_TEST_NATS_URL", "nats://127.0.0.1:4222")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-ahead-days",
        type=int,
        default=int(os.environ.get("TAILGUARD_TEST_CLOCK_AHEAD_DAYS", "0") or 0),
        help="run the whole session with the real clock moved this many days ahead "
        "(time-machine); a test that fails only because of the date is a bug",
    )


def pytest_configure(config: pytest.Config) -> None:
    start_clock_travel(int(config.getoption("--clock-ahead-days")))


_SERVER_FIXTURES = {"pg_url": "postgres", "redis_url": "redis", "nats_url": "nats"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test by what it needs, so ``make test-fast`` can leave those out: the
    servers its fixtures reach (also through parametrised backends) and the browser."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, marker in _SERVER_FIXTURES.items():
            if fixture in names or re.search(rf"[\[-]{marker}[\]-]", item.nodeid):
                item.add_marker(getattr(pytest.mark, marker))
        if "/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_clock_travel()


def pytest_report_header(config: pytest.Config) -> str | None:
    days = int(config.getoption("--clock-ahead-days"))
    return f"clock moved {days} days ahead (time-machine)" if days else None


def _require(host: str, port: int, what: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        pytest.fail(
            f"{what} is not reachable on {host}:{port} ({exc}); start it as DEVELOPERS.md says",
            pytrace=False,
        )


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    _require("127.0.0.1", 5432, "PostgreSQL")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def redis_url() -> str:
    """The Redis URL (tests isolate themselves with the ``unique_prefix`` fixture)."""
    _require("127.0.0.1", 6379, "Redis")
    return REDIS_URL


@pytest.fixture
def nats_url() -> str:
    """The NATS JetStream URL (tests isolate themselves with ``unique_prefix``)."""
    _require("127.0.0.1", 4222, "NATS JetStream")
    return NATS_URL


@pytest.fixture
def unique_prefix() -> str:
    """A short unique name for keys, streams and subjects owned by one test."""
    return f"tgtest-{uuid.uuid4().hex[:10]}"
