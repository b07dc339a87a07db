"""The CLI contract shared by every command: help, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tailguard", *args], capture_output=True, text=True, check=False
    )


def test_help_lists_commands_and_exits_zero() -> None:
    """`tailguard --help` prints usage and exits 0."""
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "Usage" in proc.stdout


def test_unknown_option_exits_two_with_one_line() -> None:
    """Bad usage exits 2 with exactly one line on stderr."""
    proc = run_cli("version", "--no-such-option")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("tailguard: error:")


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "0"],
        ["keys", "list"],
        ["keys", "revoke", "k_x"],
        ["week", "--as-of", "2026-01-12T00:00:00Z", "--out", "OUT"],
    ],
)
def test_a_db_that_does_not_exist_is_refused_by_commands_that_read_one(
    args: list[str], tmp_path: Path
) -> None:
    """A mistyped --db is refused with exit 2 and one line; nothing is created there."""
    missing = tmp_path / "typo.db"
    argv = [a.replace("OUT", str(tmp_path / "w")) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "tailguard", *argv, "--db", f"sqlite:///{missing}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"tailguard: error: --db sqlite:///{missing}: no ledger at")
    assert "tailguard keys create" in line
    assert not missing.exists()


def test_keys_create_makes_a_new_ledger(tmp_path: Path) -> None:
    """The first key bootstraps a deployment: keys create is the command that creates one."""
    db = tmp_path / "new.db"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tailguard",
            "keys",
            "create",
            "--name",
            "root",
            "--role",
            "admin",
            "--db",
            f"sqlite:///{db}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert db.is_file()
