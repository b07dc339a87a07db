"""The `tailguard simulate` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tailguard", "simulate", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_same_arguments_give_identical_bytes(tmp_path: Path, suffix: str) -> None:
    """Running twice with the same arguments writes byte-identical files."""
    a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    for out in (a, b):
        proc = run(
            "--areas", "2", "--days", "1", "--seed", "7", "--out", str(out), "--format", "json"
        )
        assert proc.returncode == 0, proc.stderr
    assert a.read_bytes() == b.read_bytes()
    summary = json.loads(proc.stdout)
    assert summary["jobs_completed"] > 0
    assert set(summary["events_by_type"]) >= {"job.booked", "job.completed", "tech.status"}


def test_table_summary_is_readable(tmp_path: Path) -> None:
    """Without --format json a summary table is printed (no progress bar off a terminal)."""
    proc = run("--areas", "1", "--days", "1", "--out", str(tmp_path / "x.parquet"))
    assert proc.returncode == 0, proc.stderr
    assert "first-time fix %" in proc.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--areas", "2", "--days", "1", "--out", "x.csv"],
        ["--areas", "0", "--days", "1", "--out", "x.parquet"],
        ["--areas", "2", "--days", "0", "--out", "x.parquet"],
        ["--areas", "2", "--days", "1", "--out", "x.parquet", "--start", "yesterday"],
        ["--areas", "two", "--days", "1", "--out", "x.parquet"],
    ],
)
def test_bad_arguments_exit_two_with_one_line(tmp_path: Path, args: list[str]) -> None:
    """Bad suffixes, numbers or timestamps exit 2 with a one-line reason."""
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("tailguard: error:")
    assert proc.stderr.strip().count("\n") == 0
