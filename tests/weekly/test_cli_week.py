"""`tailguard week` on a small simulated network: files, ledger records, scoring, --events."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tailguard.clock import format_ts
from tailguard.ledger import Ledger
from tailguard.metrics.kpis import KPI_IDS, KPIS
from tailguard.weekly.pdf import find_chromium

from .conftest import Network

AREA_FILES = ("pack.html", "pack.pdf", "okr.html", "okr.pdf", "okr.json", "benchmark.json")


def _week(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tailguard", "week", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _run(net: Network, end: Any, out: Path, *extra: str) -> dict[str, Any]:
    done = _week(
        "--db",
        net.ledger_url,
        "--as-of",
        format_ts(end),
        "--out",
        str(out),
        "--format",
        "json",
        *extra,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_chromium_is_installed_for_the_pdf_step() -> None:
    """The PDF step needs a headless Chromium; install the chromium package if this fails."""
    assert find_chromium() is not None, "no chromium: apt-get install chromium (see .ci/run)"


def test_two_weeks_write_every_file_commit_okrs_and_score_last_week(
    network: Network, tmp_path: Path
) -> None:
    """Week 1 commits OKRs; week 2 writes all files, scores week 1 and the ledger verifies."""
    first = _run(network, network.ends[0], tmp_path / "w1", "--workers", "1")
    assert first["okr_records"] == 3
    assert first["last_week_scores"] == {}
    summary = _run(network, network.ends[1], tmp_path / "w2", "--workers", "2")
    assert summary["areas"] == 3
    assert summary["pdf"]["errors"] == {}
    assert sum(summary["last_week_scores"].values()) == 3
    assert summary["okr_records"] == 6  # 3 committed for next week + 3 scores of last week
    out = tmp_path / "w2"
    index = (out / "index.html").read_text(encoding="utf-8")
    for area in ("PA-0001", "PA-0002", "PA-0003"):
        for name in AREA_FILES:
            assert (out / area / name).is_file(), f"{area}/{name}"
        assert (out / area / "pack.pdf").read_bytes()[:5] == b"%PDF-"
        assert (out / area / "okr.pdf").read_bytes()[:5] == b"%PDF-"
        assert f'href="{area}/pack.html"' in index
        assert f'href="{area}/okr.html"' in index
        pack = (out / area / "pack.html").read_text(encoding="utf-8")
        assert 'src="data:image/png;base64,' in pack
        assert not re.search(r"""(src|href)=["']https?://""", pack)
        okr = json.loads((out / area / "okr.json").read_text(encoding="utf-8"))
        assert okr["area_id"] == area
        assert okr["week_of"] == network.ends[1].date().isoformat()
        assert sorted(lv["category"] for lv in okr["levers"]) == [
            "customer",
            "operations",
            "technician",
        ]
        for lv in okr["levers"]:
            assert {"lever_id", "category", "why", "revenue_lift", "gp_lift", "cost"} <= set(lv)
            for key in ("revenue_lift", "gp_lift", "cost"):
                assert lv[key]["p10"] <= lv[key]["mean"] <= lv[key]["p90"]
        assert len(okr["key_results"]) == 3
        bench = json.loads((out / area / "benchmark.json").read_text(encoding="utf-8"))
        assert set(bench) == set(KPI_IDS)
        assert all(
            {"p50", "p75", "p90", "rank", "percentile", "value"} <= set(v) for v in bench.values()
        )
        assert "Last week" in pack
    with Ledger.open(network.ledger_url) as ledger:
        assert ledger.verify().ok
        okrs = [r.fields for r in ledger.records(kind="okr")]
    assert [f["status"] for f in okrs].count("committed") == 6
    assert [f["status"] for f in okrs].count("scored") == 3


def test_benchmark_json_agrees_with_ranks_from_the_scorecards(
    network: Network, tmp_path: Path
) -> None:
    """benchmark.json's rank of each area equals 1 + the areas strictly better in the scorecards."""
    _run(network, network.ends[1], tmp_path / "w", "--no-pdf", "--workers", "1")
    sc = pl.read_parquet(
        network.root / "weeks" / network.ends[1].date().isoformat() / "areas.parquet"
    )
    for area in sc["area_id"]:
        bench = json.loads((tmp_path / "w" / area / "benchmark.json").read_text(encoding="utf-8"))
        for k in KPI_IDS:
            mine = sc.filter(pl.col("area_id") == area)[k][0]
            others = [v for v in sc[k].to_list() if v is not None]
            if mine is None:
                assert bench[k]["rank"] is None
                continue
            better = sum((v > mine) if KPIS[k].higher_is_better else (v < mine) for v in others)
            assert bench[k]["rank"] == better + 1
            assert bench[k]["value"] == pytest.approx(mine)


def test_area_filter_and_events_file_give_the_same_tail_gains(
    network: Network, tmp_path: Path
) -> None:
    """--events recomputes the week from raw events: same top tail gains as the snapshot."""
    end = network.ends[1]
    _run(network, end, tmp_path / "snap", "--area", "PA-0002", "--no-pdf", "--workers", "1")
    assert sorted(p.name for p in (tmp_path / "snap").iterdir() if p.is_dir()) == ["PA-0002"]
    fresh = f"sqlite:///{tmp_path / 'other.db'}"
    done = _week(
        "--db",
        fresh,
        "--as-of",
        format_ts(end),
        "--out",
        str(tmp_path / "ev"),
        "--events",
        str(network.events),
        "--area",
        "PA-0002",
        "--no-pdf",
        "--workers",
        "1",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    a = json.loads((tmp_path / "snap" / "PA-0002" / "pack.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "ev" / "PA-0002" / "pack.json").read_text(encoding="utf-8"))
    assert a["gp_basis"] == b["gp_basis"] == "exact"
    assert a["top_tail_gains"] == b["top_tail_gains"]
    assert len(a["top_tail_gains"]) == 5
    assert a["bottom_tail_drag"] == b["bottom_tail_drag"]
    for k in KPI_IDS:
        assert a["kpis"][k]["value"] == pytest.approx(b["kpis"][k]["value"], nan_ok=True)


def test_missing_chromium_fails_the_pdf_step_only(network: Network, tmp_path: Path) -> None:
    """Without a browser the HTML is written and the command exits 1 naming the PDF step."""
    done = _week(
        "--db",
        network.ledger_url,
        "--as-of",
        format_ts(network.ends[1]),
        "--out",
        str(tmp_path / "w"),
        "--workers",
        "1",
        env={"TAILGUARD_CHROMIUM": "/nonexistent/chromium"},
    )
    assert done.returncode == 1
    assert "PDF step failed" in done.stderr
    assert "chromium" in done.stderr.lower()
    assert (tmp_path / "w" / "PA-0001" / "pack.html").is_file()
    assert not (tmp_path / "w" / "PA-0001" / "pack.pdf").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "next sunday"], "not an RFC 3339"),
        (["--as-of", "2025-01-01T00:00:00Z"], "no week snapshot"),
        (["--as-of", "@END", "--area", "PA-9999"], "PA-9999"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    network: Network, tmp_path: Path, args: list[str], message: str
) -> None:
    """Bad timestamps, missing snapshots and unknown areas are one-line errors."""
    args = [format_ts(network.ends[1]) if a == "@END" else a for a in args]
    done = _week("--db", network.ledger_url, "--out", str(tmp_path / "w"), "--no-pdf", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
