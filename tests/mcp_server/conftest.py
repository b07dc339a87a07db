"""Fixtures of the MCP server tests: a seeded store on disk and helpers to read the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tailguard.mcp import McpStack, open_mcp


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite file for one test (seeded by the ``stack`` fixture before any server starts)."""
    return f"sqlite:///{tmp_path / 'mcp.db'}"


@pytest.fixture
def stack(db_url: str) -> Iterator[McpStack]:
    """The test's own view of the server's database: approves gates, reads the ledger."""
    opened = open_mcp(db_url)
    yield opened
    opened.close()
