"""OKRs are hash-chained okr records that verify, and next week scores them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailguard.ledger import Ledger
from tailguard.weekly import load_library
from tailguard.weekly.okr import build_okr, commit, committed_okrs, score_okr
from tailguard.weekly.playbook import AreaContext, choose

LIB = load_library()
BENCH = {
    "nps_p10": {"value": 5.0, "percentile": 10.0, "rank": 9, "n": 10},
    "lateness_p90_min": {"value": 45.0, "percentile": 5.0, "rank": 10, "n": 10},
    "earnings_p10_week": {"value": 560.0, "percentile": 20.0, "rank": 8, "n": 10},
    "ftf_pct": {"value": 75.0, "percentile": 60.0, "rank": 4, "n": 10},
    "parts_lead_time_p95_days": {"value": 6.0, "percentile": 20.0, "rank": 8, "n": 10},
}


def _okr(area: str = "PA-0001", week: str = "2026-01-19") -> dict[str, object]:
    ctx = AreaContext(
        area_id=area, week_of=week, bench=BENCH, revenue_week=300_000.0, gp_week=100_000.0
    )
    return build_okr(area, week, f"{week}T00:00:00Z", choose(LIB, ctx), BENCH)


def test_okr_has_three_key_results_tied_to_the_levers() -> None:
    """One key result per lever, target = value + the lever's mean effect, an owner each."""
    okr = _okr()
    krs, levers = okr["key_results"], okr["levers"]
    assert isinstance(krs, list)
    assert isinstance(levers, list)
    assert len(krs) == 3
    for kr, lv in zip(krs, levers, strict=True):
        assert kr["lever_id"] == lv["lever_id"]
        assert kr["owner"] == lv["owner"]
        effect = lv["kpi_effects"][kr["kpi"]]
        assert kr["target"] == pytest.approx(BENCH[kr["kpi"]]["value"] + effect["mean"], abs=0.01)
        assert (
            kr["target_p10"] <= kr["target"] <= kr["target_p90"]
            or kr["target_p90"] <= kr["target"] <= kr["target_p10"]
        )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_committed_okrs_are_okr_records_that_ledger_verify_covers(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """okr records chain with the rest, verify, read back, and are written once."""
    url = f"sqlite:///{tmp_path}/l.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    okrs = [_okr("PA-0001"), _okr("PA-0002")]
    with Ledger.open(url) as ledger:
        assert commit(ledger, okrs) == 2
        assert commit(ledger, okrs) == 0  # idempotent rerun
        report = ledger.verify()
        assert report.ok, report
        records = list(ledger.records(kind="okr"))
        assert [r.record_id for r in records] == [
            "okr-PA-0001-2026-01-19",
            "okr-PA-0002-2026-01-19",
        ]
        assert records[0].fields["status"] == "committed"
        assert len(records[0].fields["key_results"]) == 3
        back = committed_okrs(ledger, "2026-01-19")
        assert set(back) == {"PA-0001", "PA-0002"}
        score = score_okr(back["PA-0001"], {})
        assert commit(ledger, [], [score]) == 1
        assert ledger.latest("okr", "okr-PA-0001-2026-01-19").fields["status"] == "scored"  # type: ignore[union-attr]
        assert ledger.verify().ok


def test_scoring_met_partly_missed() -> None:
    """Reached target: met; moved toward it: partly; moved away or no data: missed."""
    okr = {
        "okr_id": "o",
        "area_id": "A",
        "week_of": "w",
        "key_results": [
            {"kr_id": "kr1", "kpi": "lateness_p90_min", "baseline": 40.0, "target": 36.0},
            {"kr_id": "kr2", "kpi": "earnings_p10_week", "baseline": 560.0, "target": 600.0},
            {"kr_id": "kr3", "kpi": "nps_p10", "baseline": 5.0, "target": 5.5},
        ],
    }
    s = score_okr(okr, {"lateness_p90_min": 35.0, "earnings_p10_week": 580.0, "nps_p10": 4.0})
    assert [k["status"] for k in s["key_results"]] == ["met", "partly", "missed"]
    assert s["key_results"][1]["progress"] == 0.5
    assert s["overall"] == "partly"
    assert score_okr(okr, {})["overall"] == "missed"
    all_met = score_okr(okr, {"lateness_p90_min": 30.0, "earnings_p10_week": 700.0, "nps_p10": 6.0})
    assert all_met["overall"] == "met"
