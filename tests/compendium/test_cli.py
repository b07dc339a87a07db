"""``tailguard compendium curate | verify | search`` and the curator's schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from tailguard.clock import FakeClock
from tailguard.compendium import CuratorSettings, Schedule
from tailguard.ledger import Ledger

from ._world import add_runs, make_plane

CMD = [sys.executable, "-m", "tailguard", "compendium"]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, env=env)


def test_curate_prints_the_documented_json_and_verify_then_passes(tmp_path: Path) -> None:
    """curate --format json has cards_written, cards_updated, regressions and sharded; the
    directory defaults to beside the SQLite ledger; verify passes; search finds the card."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.open(url, clock=FakeClock()) as ledger:
        add_runs(make_plane(ledger, FakeClock()), "admin", "lookup", [30.0, 35.0, 40.0])
    out = _run("curate", "--db", url, "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert {"cards_written", "cards_updated", "regressions", "sharded"} <= set(report)
    assert report["cards_written"] == 1
    assert report["sharded"] == []
    assert (tmp_path / "compendium" / "admin" / "patterns" / "tool-outcomes.md").is_file()
    ok = _run("verify", "--db", url, "--format", "json")
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["ok"] is True
    found = _run(
        "search", "lookup admin", "--dir", str(tmp_path / "compendium"), "--format", "json"
    )
    assert [c["card_id"] for c in json.loads(found.stdout)["cards"]] == ["role-admin/lookup"]
    (tmp_path / "compendium" / "admin" / "INDEX.md").write_text("# edited by hand\n")
    bad = _run("verify", "--db", url)
    assert bad.returncode == 1
    assert "admin/INDEX.md" in bad.stdout


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    """A missing ledger, and --prose without a model, are one-line errors with exit code 2."""
    missing = _run("curate", "--db", str(tmp_path / "none.db"), "--format", "json")
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert len(missing.stderr.strip().splitlines()) == 1
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    Ledger.open(url).close()
    env = {k: v for k, v in os.environ.items() if k != "TAILGUARD_MODEL"}
    no_model = _run("curate", "--db", url, "--prose", env=env)
    assert no_model.returncode == 2
    assert "TAILGUARD_MODEL" in no_model.stderr


def test_the_schedule_is_due_every_n_runs_or_each_night() -> None:
    """every_runs=3: due on the third finished run; nightly: due when the date turns."""
    clock = FakeClock()
    every = Schedule(CuratorSettings(every_runs=3))
    assert [every.runs_finished(1, clock.now()) for _ in range(6)] == [False, False, True] * 2
    nightly = Schedule(CuratorSettings(nightly=True))
    assert nightly.runs_finished(5, clock.now()) is False
    assert nightly.runs_finished(5, clock.now() + timedelta(hours=1)) is False
    assert nightly.runs_finished(1, clock.now() + timedelta(days=1)) is True
    assert nightly.runs_finished(1, clock.now() + timedelta(days=1, hours=2)) is False
