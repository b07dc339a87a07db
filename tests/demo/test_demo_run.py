"""`tailguard demo` end to end on a small network: files, summary contract, governed ledger."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from tailguard.cli import app
from tailguard.ledger import Ledger

SUMMARY_KEYS = {
    "areas",
    "weeks",
    "seed",
    "start",
    "end",
    "agents_on",
    "agents_off",
    "interventions",
    "approvals",
    "ledger",
}


def test_demo_writes_its_outputs_and_a_verified_governed_ledger(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--areas",
            "3",
            "--weeks",
            "1",
            "--warmup-days",
            "7",
            "--seed",
            "3",
            "--out",
            str(out),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) >= SUMMARY_KEYS
    assert json.loads((out / "summary.json").read_text())["seed"] == 3
    for name in ("ledger.db", "pulse.db", "report.html", "hourly.parquet"):
        assert (out / name).is_file(), name
    # The weekly cycle ran at the week's end and the report links it.
    assert any((out / "weeks").glob("*/index.html"))
    assert "weeks/" in (out / "report.html").read_text()

    hourly = pl.read_parquet(out / "hourly.parquet")
    assert hourly.group_by("arm").len().sort("arm")["len"].to_list() == [3 * 168, 3 * 168]
    on = hourly.filter(pl.col("arm") == "on")
    expected = round(100.0 * on["inside_all"].cast(pl.Float64).mean(), 3)  # type: ignore[operator]
    assert summary["agents_on"]["guardband_pass_pct"] == expected
    # The paired comparison agrees with the pooled shares (every area has the same hours).
    diff = summary["comparison"]["guardband_pass_pct"]
    pooled = expected - summary["agents_off"]["guardband_pass_pct"]
    assert diff["areas"] == 3
    assert abs(diff["points"] - pooled) < 0.01
    assert diff["ci95"][0] <= diff["points"] <= diff["ci95"][1]
    assert summary["areas"] == 3
    assert summary["weeks"] == 1

    ledger = Ledger.open(f"sqlite:///{out / 'ledger.db'}", create=False)
    try:
        assert ledger.verify().ok
        assert summary["ledger"] == {"records": ledger.count(), "verified": True}
        steps = [r.fields for r in ledger.records(kind="step")]
        gates = [r.fields for r in ledger.records(kind="gate")]
    finally:
        ledger.close()
    approved = {g["gate_id"] for g in gates if g["decision"] == "approved"}
    high_executed = [
        s for s in steps if s["risk_level"] == "execute_high" and s["status"] == "executed"
    ]
    assert high_executed, "the demo should have executed approved high-risk steps"
    assert all(s["approval_gate_id"] in approved for s in high_executed)
    assert summary["approvals"]["bypasses"] == 0
    assert summary["interventions"]["total"] > 0
    # Same seed, same choices: the arms start from one world (the off arm has no decisions).
    verify = CliRunner().invoke(app, ["ledger", "verify", "--db", str(out / "ledger.db")])
    assert verify.exit_code == 0, verify.output


def test_demo_refuses_bad_arguments_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\npolicy_version: x\ninterventions: []\n")
    for args in (
        ["demo", "--areas", "0", "--out", str(tmp_path / "x")],
        ["demo", "--catalogue", str(bad), "--out", str(tmp_path / "y")],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "tailguard", *args], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("tailguard: error:")


def test_the_agents_off_arm_in_its_own_process_is_the_network_nobody_steers(
    tmp_path: Path,
) -> None:
    """The off arm (run concurrently in another process) equals stepping the warmed-up network
    in this process: same state, same random streams (common random numbers)."""
    from tailguard.demo.run import DemoConfig, hourly_rows, run_demo
    from tailguard.metrics import ScorecardEngine
    from tailguard.sim import NetworkConfig, Simulator

    config = DemoConfig(
        areas=2, weeks=1, seed=5, out=tmp_path / "demo", warmup_days=1, weekly=False
    )
    run_demo(config)
    off = (
        pl.read_parquet(config.out / "hourly.parquet")
        .filter(pl.col("arm") == "off")
        .sort("hour", "area_id")
    )

    sim = Simulator(NetworkConfig(areas=config.areas, seed=config.seed))
    engine = ScorecardEngine()
    for _ in range(config.warmup_days * 24):
        engine.ingest(sim.step())
    engine.scorecard(sim.now)
    rows = []
    for _ in range(config.weeks * 7 * 24):
        engine.ingest(sim.step())
        rows.append(hourly_rows(engine.scorecard(sim.now), "off", sim.now))
    expected = pl.concat(rows).sort("hour", "area_id")
    # The YoY band is measured against the demo's seeded last year (demo/yoy.py), read back
    # from the file the demo wrote beside its outputs.
    from tailguard.demo.yoy import BASELINE_FILE, measure_yoy
    from tailguard.rules.yoy import load_baseline

    expected = measure_yoy(expected, load_baseline(config.out / BASELINE_FILE))
    expected = expected.select(off.columns).sort("hour", "area_id")
    assert off.height == 2 * 168
    # Equal up to the last bits of a float: Polars' parallel sums may add in another order.
    assert_frame_equal(off, expected, rel_tol=1e-12, abs_tol=1e-9)


POLICY_FILE = Path(__file__).parents[2] / "docs" / "approval-policies.yaml"


def test_demo_with_approval_policies_counts_policy_and_person_decisions(tmp_path: Path) -> None:
    """With --approval-policies, covered gates are decided by policy, the rest by the
    simulated person; both are counted, and zero bypasses still holds in the ledger."""
    out = tmp_path / "demo"
    policies = tmp_path / "policies.yaml"
    # Sample a third so that a small run has sampled gates reaching the person.
    policies.write_text(POLICY_FILE.read_text().replace("sample_pct: 5", "sample_pct: 30"))
    args = ["demo", "--areas", "4", "--weeks", "1", "--warmup-days", "2", "--seed", "3"]
    args += ["--no-weekly", "--out", str(out), "--approval-policies", str(policies)]
    result = CliRunner().invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    approvals = summary["approvals"]
    # The report leads with the business figures, each with its interval and a plain verdict.
    figures = {f["kpi"]: f for f in summary["business"]["figures"]}
    assert figures["lateness_p90_min"]["verdict"] in (
        "helped",
        "hurt",
        "no difference we can tell",
    )
    assert len(figures["lateness_p90_min"]["ci95"]) == 2
    # Gross profit in dollars per area-week, net of what the interventions committed.
    net = figures["gp_net_usd_week"]
    assert net["unit"] == "USD per area-week"
    assert net["areas"] == 4
    assert net["ci95"][0] <= net["difference"] <= net["ci95"][1]
    assert net["off"] > 0  # the network earns
    report = (out / "report.html").read_text()
    assert "Did it help?" in report
    assert 'data-kpi="gp_net_usd_week"' in report
    assert approvals["by_policy"] > 0
    assert approvals["by_person"] > 0
    assert approvals["by_policy"] + approvals["by_person"] == (
        approvals["approved"] + approvals["rejected"]
    )
    assert approvals["bypasses"] == 0
    reviews = approvals["policies"]
    assert reviews["assessed"]["sample"] > 0
    assert [v["identity"] for v in reviews["versions"]] == [
        "policy:apology-credits@v1",
        "policy:nearby-job-offers@v1",
    ]
    with Ledger.open(f"sqlite:///{out / 'ledger.db'}", create=False) as ledger:
        deciders = {
            r.fields["decided_by"]
            for r in ledger.records(kind="gate")
            if r.fields["decision"] in ("approved", "rejected")
        }
        assert ledger.verify().ok
    assert deciders == {"policy:apology-credits@v1", "policy:nearby-job-offers@v1", "sim-approver"}


def test_demo_refuses_a_bad_policy_file_with_its_line(tmp_path: Path) -> None:
    """A policy naming a tool the catalogue does not gate exits 2 naming file and line."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("approval_policies:\n  - name: x\n    tools: [refund_everything]\n")
    args = ["demo", "--out", str(tmp_path / "o"), "--approval-policies", str(bad)]
    proc = subprocess.run(
        [sys.executable, "-m", "tailguard", *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"tailguard: error: {bad}:3: x: 'refund_everything' is not a gated tool")


def summary_figures(out: Path) -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = json.loads((out / "summary.json").read_text())["business"][
        "figures"
    ]
    return figures


def test_demo_prints_progress_lines_and_the_next_commands(tmp_path: Path) -> None:
    """Not on a terminal: plain progress lines on stderr; the table ends with the commands
    that open the dashboards over this run's ledger, and they work."""
    out = tmp_path / "demo"
    args = ["demo", "--areas", "2", "--weeks", "1", "--warmup-days", "1", "--no-weekly"]
    proc = subprocess.run(
        [sys.executable, "-m", "tailguard", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    progress = proc.stderr.strip().splitlines()
    assert "tailguard demo: warm-up 24/24 h" in progress
    assert "tailguard demo: agents on 168/168 h" in progress
    assert all(line.startswith("tailguard demo: ") for line in progress)
    assert len(progress) < 30  # a line a simulated day, not one an hour
    lines = proc.stdout.splitlines()
    # "Did it help?" in the business figures, each with its interval and verdict.
    helped = lines.index("  did it help? (agents on - off, 95 % interval)")
    figures = summary_figures(out)
    for line, f in zip(lines[helped + 1 : helped + 1 + len(figures)], figures, strict=True):
        assert line.startswith(f"    {f['title']}: ")
        assert line.endswith(f"): {f['verdict']}") or f["verdict"] == "no data"
    start = lines.index("Next: the dashboards over this run's ledger")
    key_cmd, serve_cmd, url = (line.strip() for line in lines[start + 1 : start + 4])
    db = f"sqlite:///{out.resolve() / 'ledger.db'}"
    assert key_cmd == f"tailguard keys create --name me --role admin --db {db}"
    assert serve_cmd == f"tailguard serve --db {db} --port 8000"
    assert "http://127.0.0.1:8000/" in url
    made = subprocess.run(
        [sys.executable, "-m", "tailguard", *key_cmd.split()[1:]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert "tg_" in made.stdout
