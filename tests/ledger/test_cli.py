"""`tailguard ledger verify | export | kpis` as INTERFACES.md section 3 specifies."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tailguard.cli import main
from tailguard.clock import FakeClock
from tailguard.ledger import Ledger

from .conftest import tamper
from .test_kpis import T0, build


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def built_url(ledger_url: str) -> str:
    """A ledger URL holding the hand-built KPI ledger."""
    clock = FakeClock(T0)
    with Ledger.open(ledger_url, clock=clock) as ledger:
        build(ledger, clock)
    return ledger_url


def test_verify_exits_zero_with_records_and_head_hash(
    built_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clean ledger verifies: exit 0 and a summary naming the count and head hash."""
    with Ledger.open(built_url) as ledger:
        head_seq, head_hash = ledger.head()
    code, out, _ = run_main(capsys, "ledger", "verify", "--db", built_url)
    assert code == 0
    assert f"{head_seq} records" in out
    assert head_hash in out
    code, out, _ = run_main(capsys, "ledger", "verify", "--db", built_url, "--format", "json")
    assert (code, json.loads(out)["ok"], json.loads(out)["records"]) == (0, True, head_seq)


def test_verify_exits_one_naming_the_altered_record(
    built_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tampering makes verify exit 1 with one stderr line naming the first bad seq."""
    with Ledger.open(built_url) as ledger:
        tamper(ledger, "UPDATE tailguard_ledger SET record_id = 'x', fields = '{}' WHERE seq = 7")
    code, out, err = run_main(capsys, "ledger", "verify", "--db", built_url, "--format", "json")
    assert code == 1
    assert json.loads(out)["first_bad_seq"] == 7
    assert err.startswith("tailguard: error: chain broken at seq 7 (hash_mismatch)")
    assert err.count("\n") == 1


def test_verify_of_a_missing_ledger_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path with no ledger exits 2 and creates nothing."""
    missing = tmp_path / "none.db"
    code, _, err = run_main(capsys, "ledger", "verify", "--db", str(missing))
    assert code == 2
    assert "no ledger" in err
    assert not missing.exists()


def test_export_writes_one_record_per_line(
    built_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each line has kind, the section-5 fields, seq, prev_hash and hash, in seq order."""
    code, out, _ = run_main(capsys, "ledger", "export", "--db", built_url, "--format", "jsonl")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert {line["kind"] for line in lines} == {"run", "step", "gate", "outcome"}
    gate_line = next(line for line in lines if line["kind"] == "gate")
    assert {"gate_id", "run_id", "step_id", "decision", "prev_hash", "hash"} <= set(gate_line)
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(lines))


def test_kpis_json_holds_overall_per_role_and_per_tool(
    built_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format json prints only the KPI document on stdout."""
    code, out, _ = run_main(
        capsys,
        "ledger",
        "kpis",
        "--db",
        built_url,
        "--since",
        "2026-01-05T00:00:00Z",
        "--format",
        "json",
    )
    payload = json.loads(out)
    assert code == 0
    assert payload["overall"]["approval_bypass_count"] == 2
    assert set(payload["per_role"]) == {"area_ceo", "recruiter"}
    assert "send_message" in payload["per_tool"]


def test_kpis_table_lists_scopes_and_alerts(
    built_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --format json, a table with a row per scope and the bypass alert."""
    code, out, _ = run_main(capsys, "ledger", "kpis", "--db", built_url)
    assert code == 0
    assert "overall" in out
    assert "role recruiter" in out
    assert "tool send_message" in out
    assert "alert" in out


def test_kpis_refuse_a_bad_timestamp(built_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An unparsable --since is bad usage: exit 2, one line."""
    code, _, err = run_main(capsys, "ledger", "kpis", "--db", built_url, "--since", "last week")
    assert code == 2
    assert "--since" in err


@pytest.mark.slow
def test_the_installed_command_reports_tampering_with_exit_one(tmp_path: Path) -> None:
    """End to end through `python -m tailguard`: exit 0 clean, exit 1 after tampering."""
    url = str(tmp_path / "l.db")
    with Ledger.open(url) as ledger:
        ledger.append_many([("okr", {"okr_id": f"o{i}"}) for i in range(5)])
    cmd = [sys.executable, "-m", "tailguard", "ledger", "verify", "--db", url]
    assert subprocess.run(cmd, capture_output=True, check=False).returncode == 0
    with Ledger.open(url) as ledger:
        tamper(ledger, "DELETE FROM tailguard_ledger WHERE seq = 3")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "seq 3" in proc.stderr
