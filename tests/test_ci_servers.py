"""`.ci/servers` (run by `make test` and CI): leaves running servers alone, starts a missing one
from the local binaries, and says in one line what to install when it cannot."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "servers"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, check=False, env=env, timeout=60
    )


def _bare_path(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only the shell tools the script needs (and ``tools``)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in (
        "bash",
        "dirname",
        "sleep",
        "seq",
        "sed",
        "ls",
        "sort",
        "tail",
        "mkdir",
        "grep",
        *tools,
    ):
        found = shutil.which(tool)
        assert found is not None, f"{tool} is not installed"
        (folder / tool).symlink_to(found)
    return str(folder)


def test_running_servers_are_left_alone() -> None:
    """With PostgreSQL, Redis and NATS up, the script exits 0 at once and prints nothing."""
    proc = _run(dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == ""


def test_what_cannot_be_started_is_named_in_one_line(tmp_path: Path) -> None:
    """Without Docker or the server binaries, one line names the servers and the packages."""
    env = {
        "PATH": _bare_path(tmp_path),
        "HOME": str(tmp_path),
        "TAILGUARD_PG_PORT": str(_free_port()),
        "TAILGUARD_REDIS_PORT": str(_free_port()),
    }
    proc = _run(env)
    assert proc.returncode == 1
    [line] = proc.stderr.splitlines()
    assert line.startswith("tailguard tests need PostgreSQL, Redis on 127.0.0.1")
    assert "apt-get install postgresql redis-server" in line
    assert "nats" not in line.lower()


def test_a_missing_redis_is_started_from_the_local_binary(tmp_path: Path) -> None:
    """A Redis that does not answer is started with redis-server, then answers."""
    port = _free_port()
    env = {
        "PATH": _bare_path(tmp_path, "redis-server"),
        "HOME": str(tmp_path),
        "TAILGUARD_REDIS_PORT": str(port),
    }
    proc = _run(env)
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        assert proc.returncode == 0, proc.stderr
        assert "starting Redis" in proc.stderr
        assert client.ping() is True
    finally:
        # The shutdown closes the connection it came on.
        with contextlib.suppress(redis.ConnectionError):
            client.shutdown(nosave=True)
        client.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                break
        time.sleep(0.1)
