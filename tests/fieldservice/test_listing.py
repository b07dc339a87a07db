"""``tailguard mcp --list``: the listing without a database or the SDK, equal to what the
server lists; no file in the working directory; the client snippet with absolute paths."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tailguard.clock import FakeClock
from tailguard.mcp.domains import open_ops_mcp
from tailguard.mcp.listing import tool_listing
from tailguard.mcp.server import GovernedMcpServer, open_mcp

from .network import Network


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    where = tmp_path / "elsewhere"
    where.mkdir()
    return where


def _cli(cwd: Path, *args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    env.pop("TAILGUARD_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "tailguard", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _dump(server: GovernedMcpServer) -> list[dict[str, object]]:
    return [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in server.tools()]


def test_operations_listing_equals_the_served_one(
    db_url: str, pulse_url: str, network: Network
) -> None:
    for role in (None, "ops_manager", "ops_analyst"):
        stack = open_ops_mcp(db_url, pulse_url=pulse_url, role=role, clock=FakeClock(network.now))
        try:
            assert tool_listing(domain="operations", role=role) == _dump(GovernedMcpServer(stack))
        finally:
            stack.close()


@pytest.mark.parametrize("role", [None, "recruiter"])
def test_recruiting_listing_equals_the_served_one(tmp_path: Path, role: str | None) -> None:
    stack = open_mcp(f"sqlite:///{tmp_path / 'chat.db'}", role=role, clock=FakeClock())
    try:
        assert tool_listing(domain="recruiting", role=role) == _dump(GovernedMcpServer(stack))
    finally:
        stack.close()


@pytest.mark.parametrize("domain", ["operations", "recruiting"])
def test_list_from_any_directory_writes_nothing(
    tmp_path: Path, elsewhere: Path, domain: str
) -> None:
    done = _cli(
        elsewhere, "mcp", "--list", "--domain", domain, "--format", "json", data=tmp_path / "data"
    )
    assert done.returncode == 0, done.stderr
    names = [t["name"] for t in json.loads(done.stdout)["tools"]]
    assert names == [t["name"] for t in tool_listing(domain=domain)]
    assert list(elsewhere.iterdir()) == []
    assert not (tmp_path / "data").exists()  # the listing opens no store at all


def test_a_bad_domain_or_role_is_one_line(tmp_path: Path, elsewhere: Path) -> None:
    for args, reason in (
        (["--domain", "trucks"], "unknown domain"),
        (["--domain", "operations", "--role", "driver"], "unknown operations role"),
        (["--domain", "operations", "--acting-user", "rec-001"], "--acting-user"),
    ):
        done = _cli(elsewhere, "mcp", "--list", *args, data=tmp_path / "data")
        assert done.returncode == 2
        assert reason in done.stderr
        assert done.stderr.count("\n") == 1
        assert done.stdout == ""


def test_print_config_gives_absolute_paths(tmp_path: Path, elsewhere: Path) -> None:
    done = _cli(
        elsewhere,
        "mcp", "--domain", "operations", "--db", "ops.db", "--pulse", "sqlite:///pulse.db",
        "--print-config",
        data=tmp_path / "data",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    server = json.loads(done.stdout)["mcpServers"]["tailguard"]
    assert Path(server["command"]).is_absolute()
    args = server["args"]
    assert args[args.index("--db") + 1] == str(elsewhere.resolve() / "ops.db")
    assert args[args.index("--pulse") + 1] == f"sqlite:///{elsewhere.resolve() / 'pulse.db'}"
    # Without --db the default is the user's data directory, never the working directory.
    default = _cli(elsewhere, "mcp", "--print-config", data=tmp_path / "data")
    db = json.loads(default.stdout)["mcpServers"]["tailguard"]["args"]
    assert db[db.index("--db") + 1] == str((tmp_path / "data").resolve() / "tailguard" / "chat.db")
    assert list(elsewhere.iterdir()) == []
