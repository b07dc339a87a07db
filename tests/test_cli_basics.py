"""The CLI contract shared by every command: help, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys


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
