"""`tailguard scorecard` and `tailguard tails` answer as INTERFACES.md section 3 says."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from tailguard.events import write_events
from tailguard.metrics.exact import exact_scorecard
from tailguard.metrics.kpis import KPI_IDS

from .builders import T0, at, completed, ev, table

AS_OF = "2026-03-09T00:00:00Z"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "tailguard", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A JSONL file with two areas (one with an earnings tail) and one broken line."""
    rows = [completed(at(24 + i), tech="T1", pay=120.0, late_min=float(i)) for i in range(6)]
    rows += [ev("tech.status", at(30), tech_id="T2", status="available")]
    rows += [completed(at(50 + i), area="PA-0002", tech="T9", pay=200.0) for i in range(5)]
    rows += [completed(at(60), area="PA-0002", tech="T9", pay=200.0, event_id="same")]
    rows += [completed(at(60), area="PA-0002", tech="T9", pay=200.0, event_id="same")]
    tab = table(rows)
    path = tmp_path_factory.mktemp("cli") / "events.jsonl"
    write_events(tab, path)
    with path.open("a") as fh:
        fh.write('{"event_id": "bad", "type": "cx.survey", "ts": "2026-03-03T00:00:00Z"}\n')
    return path, tab


def test_scorecard_json_matches_the_contract_and_exact_values(
    events_file: tuple[Path, object],
) -> None:
    """The JSON has as_of, window_days, areas with every KPI, and the dead-letter count."""
    path, tab = events_file
    proc = run_cli("scorecard", "--events", str(path), "--as-of", AS_OF, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["as_of"] == AS_OF
    assert out["window_days"] == 7
    assert out["dead_letter"] == {"count": 1, "path": str(path) + ".deadletter.jsonl"}
    assert Path(out["dead_letter"]["path"]).read_text().count("\n") == 1
    want = exact_scorecard(tab, T0 + timedelta(days=7))
    assert [a["area_id"] for a in out["areas"]] == want["area_id"].to_list()
    for area, row in zip(out["areas"], want.iter_rows(named=True), strict=True):
        assert list(area["kpis"]) == list(KPI_IDS)
        for k in KPI_IDS:
            assert (
                area["kpis"][k] == pytest.approx(row[k])
                if row[k] is not None
                else area["kpis"][k] is None
            )
    pa2 = out["areas"][1]["kpis"]
    assert pa2["jobs_per_week"] == 6.0  # the duplicate counts once
    assert pa2["nps_p10"] is None


def test_tails_json_lists_firing_builtin_rules(
    events_file: tuple[Path, object], tmp_path: Path
) -> None:
    """Without --rules the built-in set runs; each tail has the contract's fields."""
    path, _ = events_file
    dl = tmp_path / "dl.jsonl"
    proc = run_cli(
        "tails",
        "--events",
        str(path),
        "--as-of",
        AS_OF,
        "--format",
        "json",
        "--dead-letter",
        str(dl),
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["dead_letter"] == {"count": 1, "path": str(dl)}
    low = [t for t in out["tails"] if t["rule"] == "low_earnings_tail"]
    assert [(t["area_id"], t["kpi"], t["value"], t["threshold"], t["severity"]) for t in low] == [
        ("PA-0001", "earnings_p10_week", 0.0, 600.0, "critical")
    ]
    assert {"area_id", "rule", "kpi", "value", "threshold", "severity"} <= set(low[0])


def test_tails_with_a_rule_file_honours_for(
    events_file: tuple[Path, object], tmp_path: Path
) -> None:
    """A rule with 'for' fires only if its breach held over the preceding hourly ticks."""
    path, _ = events_file
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - alert: busy\n        expr: jobs_per_week > 5\n        for: 3h\n"
        "      - alert: very_busy\n        expr: jobs_per_week > 5\n        for: 400h\n"
    )
    proc = run_cli(
        "tails", "--events", str(path), "--as-of", AS_OF, "--rules", str(rules), "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    tails = json.loads(proc.stdout)["tails"]
    assert sorted((t["area_id"], t["rule"]) for t in tails) == [
        ("PA-0001", "busy"),
        ("PA-0002", "busy"),
    ]


def test_human_table_marks_breaching_cells(events_file: tuple[Path, object]) -> None:
    """The default format is a table whose breaching cells carry a mark."""
    path, _ = events_file
    proc = run_cli("scorecard", "--events", str(path), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stderr
    assert "PA-0001" in proc.stdout
    assert "0.0 !" in proc.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["scorecard", "--events", "{path}", "--as-of", "yesterday"], "--as-of"),
        (["scorecard", "--events", "/nonexistent/e.jsonl", "--as-of", AS_OF], "no such event file"),
        (
            ["tails", "--events", "{path}", "--as-of", AS_OF, "--rules", "{rules}"],
            "bad.yaml:5: rule 'x': unknown KPI",
        ),
    ],
)
def test_bad_input_exits_two_with_one_line(
    events_file: tuple[Path, object], tmp_path: Path, args: list[str], needle: str
) -> None:
    """Bad timestamps, missing files and bad rule files exit 2 with one line on stderr."""
    path, _ = events_file
    rules = tmp_path / "bad.yaml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: x\n        expr: nope < 3\n")
    proc = run_cli(*(a.format(path=path, rules=rules) for a in args))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert needle in proc.stderr, proc.stderr
    assert proc.stdout == ""


@pytest.mark.slow
def test_scorecard_of_simulator_output_matches_exact(tmp_path: Path) -> None:
    """On the simulator's Parquet output the CLI equals the exact reference."""
    out = tmp_path / "sim.parquet"
    sim = run_cli(
        "simulate",
        "--areas",
        "3",
        "--days",
        "2",
        "--seed",
        "5",
        "--out",
        str(out),
        "--format",
        "json",
    )
    assert sim.returncode == 0, sim.stderr
    proc = run_cli(
        "scorecard",
        "--events",
        str(out),
        "--as-of",
        "2026-01-06T13:00:00Z",
        "--window-days",
        "1",
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    from tailguard.clock import parse_ts
    from tailguard.events import read_all

    want = exact_scorecard(read_all(out), parse_ts("2026-01-06T13:00:00Z"), 1)
    got = pl.DataFrame(
        [{"area_id": a["area_id"], **a["kpis"]} for a in json.loads(proc.stdout)["areas"]],
        schema={"area_id": pl.String, **dict.fromkeys(KPI_IDS, pl.Float64)},
    )
    from polars.testing import assert_frame_equal

    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9)
