"""``tailguard keys`` and ``tailguard serve``: real processes, a real uvicorn on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tailguard", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_keys_create_list_revoke(ledger_url: str) -> None:
    """A key is printed once; list never shows it; revoke marks it; bad input exits 2."""
    made = run_cli(
        "keys",
        "create",
        "--name",
        "alice",
        "--role",
        "approver",
        "--db",
        ledger_url,
        "--format",
        "json",
    )
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert key["key"].startswith(f"tg_{key['key_id']}_")
    assert (key["name"], key["role"], key["active"]) == ("alice", "approver", True)

    listed = run_cli("keys", "list", "--db", ledger_url, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)["keys"]
    assert row["key_id"] == key["key_id"]
    assert key["key"] not in listed.stdout
    assert "key" not in row

    revoked = run_cli("keys", "revoke", key["key_id"], "--db", ledger_url, "--format", "json")
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(revoked.stdout)["active"] is False

    for bad in (
        ("keys", "create", "--name", "x", "--role", "boss", "--db", ledger_url),
        ("keys", "create", "--name", "bad name!", "--role", "viewer", "--db", ledger_url),
        ("keys", "revoke", "nope", "--db", ledger_url),
    ):
        proc = run_cli(*bad)
        assert proc.returncode == 2, bad
        assert proc.stderr.startswith("tailguard: error:")
        assert proc.stderr.strip().count("\n") == 0


def test_keys_and_serve_have_help() -> None:
    """Every new command documents itself."""
    for args in (("keys", "--help"), ("keys", "create", "--help"), ("serve", "--help")):
        proc = run_cli(*args)
        assert proc.returncode == 0
        assert "Usage" in proc.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[str]]]:
    """``tailguard serve`` in a subprocess on loopback, with an admin key."""
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    made = run_cli(
        "keys", "create", "--name", "root", "--role", "admin", "--db", db, "--format", "json"
    )
    raw = json.loads(made.stdout)["key"]
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tailguard", "serve", "--db", db, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TAILGUARD_SECRET_KEY": "test-secret"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("tailguard serve did not start")
        yield base, raw, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.slow
def test_serve_answers_on_loopback_and_logs_json(
    served: tuple[str, str, subprocess.Popen[str]],
) -> None:
    """The real server refuses anonymous /v1 calls, serves keyed ones, and logs JSON lines."""
    base, raw, proc = served
    assert httpx.get(f"{base}/readyz").json()["status"] == "ok"
    assert httpx.get(f"{base}/v1/runs").status_code == 401
    started = httpx.post(
        f"{base}/v1/runs", json={"role": "ops"}, headers={"X-API-Key": raw}, timeout=10
    )
    assert started.status_code == 201
    run_id = started.json()["run_id"]
    got = httpx.get(
        f"{base}/v1/runs/{run_id}", headers={"X-API-Key": raw, "X-Request-ID": "loop-1"}
    )
    assert got.status_code == 200
    assert got.headers["x-request-id"] == "loop-1"
    assert "tailguard_http_requests_total" in httpx.get(f"{base}/metrics").text
    proc.terminate()
    proc.wait(timeout=30)
    assert proc.stderr is not None
    lines = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "tailguard.service.access"]
    mine = [line for line in access if line.get("request_id") == "loop-1"]
    assert len(mine) == 1
    assert mine[0]["run_id"] == run_id
    assert mine[0]["route"] == "/v1/runs/{run_id}"
    assert mine[0]["status"] == 200
