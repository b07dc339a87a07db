"""Publishing, the exchange store, clustering, FDR control and the top 3 (CLI and HTTP)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient

from tailguard.cli import main
from tailguard.clock import FakeClock
from tailguard.crowd.cluster import cluster_areas
from tailguard.crowd.exchange import ExchangeSettings, run_exchange
from tailguard.crowd.publish import period_of, publish, tactic_name, tactic_pairs
from tailguard.crowd.sequential import benjamini_hochberg, msprt_p_uplift, srm_p_value
from tailguard.crowd.store import CrowdStore, LocalTest
from tailguard.crowd.synth import load_network, make_network
from tailguard.errors import InvalidInputError, NotFoundError
from tailguard.learning import Decision, SelfLearnStore, StatusUpdate
from tailguard.ledger import Ledger
from tailguard.service import ServiceSettings, create_app

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def load(store: CrowdStore, seed: int = 1) -> None:
    """Publish a synthetic network into ``store`` (the publishing path minus the ledger)."""
    net = make_network(seed, areas=240)
    load_network(store, net)


def test_benjamini_hochberg_steps_up_from_the_largest_passing_rank() -> None:
    """BH rejects every p-value up to the largest rank k with p_(k) <= q k / m."""
    # m = 5, q = 0.1: thresholds 0.02 0.04 0.06 0.08 0.10; p_(3) = 0.05 passes, p_(2) = 0.045
    # does not on its own, yet is rejected because rank 3 passes.
    p = [0.5, 0.01, 0.045, 0.05, 0.2]
    assert benjamini_hochberg(p, 0.1) == [False, True, True, True, False]
    assert benjamini_hochberg([0.5, 0.6], 0.1) == [False, False]
    assert benjamini_hochberg([], 0.1) == []


def test_bh_keeps_the_false_discovery_rate_under_q() -> None:
    """Over many simulated batches of 80 nulls and 20 true effects, the mean FDP is <= q."""
    rng = np.random.default_rng(0)
    fdps = []
    for _ in range(300):
        z = np.concatenate([rng.normal(0, 1, 80), rng.normal(3, 1, 20)])
        p = [0.5 * math.erfc(v / 2**0.5) for v in z]
        rej = np.array(benjamini_hochberg(p, 0.1))
        fdps.append(rej[:80].sum() / max(rej.sum(), 1))
    assert np.mean(fdps) <= 0.1


def test_msprt_p_value_stays_valid_under_daily_looks() -> None:
    """Under no effect, the running minimum of the always-valid p-value dips below 0.05 in <= 5 %
    of 2,000 simulated 60-day experiments looked at every day (a fixed-sample test: ~ 25 %)."""
    rng = np.random.default_rng(1)
    days, sims = 60, 2000
    x = rng.normal(0, 1, (sims, days)).cumsum(axis=1)
    n = np.arange(1, days + 1)
    mean, se = x / n, 1 / np.sqrt(n)
    hit = naive = 0
    for i in range(sims):
        ps = [msprt_p_uplift(mean[i, d], se[d], 0.5) for d in range(days)]
        hit += min(ps) <= 0.05
        naive += bool((mean[i] / se > 1.645).any())
    assert hit / sims <= 0.05
    assert naive / sims > 0.15


def test_srm_check_flags_a_broken_split() -> None:
    """A 20 % split with 200 of 1,000 in B passes; 150 of 1,000 fails the chi-square check."""
    assert srm_p_value(800, 200, 0.2) == pytest.approx(1.0)
    assert srm_p_value(850, 150, 0.2) < 0.001
    with pytest.raises(InvalidInputError):
        srm_p_value(1, 1, 1.5)


def test_clusters_recover_area_types_deterministically() -> None:
    """k-means on KPI profile and type puts each type in its own cluster, the same every time."""
    net = make_network(3)
    first = cluster_areas(net.kpis, net.area_types)
    assert first == cluster_areas(net.kpis, net.area_types)
    pairs = {(net.area_types[a], c) for a, c in first.items()}
    assert len(pairs) == 3 == len({c for _, c in pairs})


def test_tactic_names_keep_only_numeric_arguments() -> None:
    """Ids never reach a tactic name: only numeric and boolean arguments form its level."""
    args = {"tech_id": "T000042", "zip": "10001", "bonus_usd": 25, "hours": 6.0, "sms": True}
    assert tactic_name("surge", args) == "surge[bonus_usd=25,hours=6,sms=true]"
    assert tactic_name("credit", json.dumps({"customer_id": "C1"})) == "credit"


def test_publish_writes_anonymised_tactic_records_once(ledger: Ledger) -> None:
    """A night's pairs become `tactic` ledger records and store rows; a rerun adds nothing."""
    learn = SelfLearnStore(ledger.engine)
    crowd = CrowdStore(ledger.engine)
    decisions = [
        Decision(
            decision_id=f"d{i}",
            area_id="PA-0001",
            entry_id="low_earner_surge_shift",
            kind="surge_shift_offer",
            tool_name="offer_surge_shift",
            trigger="low_earnings_tail",
            target_type="tech",
            target_id=f"T{i % 3:06d}",
            args={"tech_id": f"T{i % 3:06d}", "bonus_usd": 25},
            propensity=0.5,
            policy_version="catalogue-1",
            decided_at=T0 + timedelta(days=i),
            outcome_kpi="earnings_p10_week",
            baseline_value=500.0,
            horizon_at=T0 + timedelta(days=i + 7),
        )
        for i in range(5)
    ]
    learn.record_decisions(decisions)
    learn.update_status(
        StatusUpdate(decision_id=d.decision_id, status="executed", executed_at=d.decided_at)
        for d in decisions
    )
    learn.record_outcomes([("d0", 540.0), ("d1", 520.0)], measured_at=T0 + timedelta(days=9))
    now = T0 + timedelta(days=10)
    pairs = tactic_pairs(learn.frame(), now=now)
    assert len(pairs) == 1
    pair = pairs[0]
    assert (pair.tactic, pair.units, pair.decisions, pair.outcome_n) == (
        "low_earner_surge_shift[bonus_usd=25]",
        3,
        5,
        2,
    )
    assert pair.outcome_mean_delta == pytest.approx(30.0)
    assert pair.adopted_period == period_of(T0)
    kpi_rows = pl.DataFrame(
        {
            "area_id": ["PA-0001"] * 2,
            "kpi": ["earnings_p10_week"] * 2,
            "period": [1, 2],
            "value": [500.0, None],
        }
    )
    report = publish(
        ledger=ledger, store=crowd, pairs=pairs, kpi_rows=kpi_rows, area_types={"PA-0001": "metro"}
    )
    assert (report.tactics, report.ledger_records, report.kpi_rows) == (1, 1, 1)
    records = list(ledger.records(kind="tactic"))
    assert len(records) == 1
    text = json.dumps(records[0].fields)
    assert "T000001" not in text
    assert records[0].fields["tactic_id"] == pair.tactic_id
    again = publish(
        ledger=ledger, store=crowd, pairs=pairs, kpi_rows=kpi_rows, area_types={"PA-0001": "metro"}
    )
    assert (again.tactics, again.ledger_records) == (0, 0)
    assert crowd.tactics_frame().height == 1
    assert crowd.kpis_frame().height == 1
    assert ledger.verify().ok


def test_exchange_top3_are_fdr_discoveries_with_positive_lift(ledger: Ledger) -> None:
    """Each cluster's top list has at most 3 discoveries, by descending positive lift."""
    crowd = CrowdStore(ledger.engine)
    load(crowd)
    result = run_exchange(crowd)
    assert result.lifts
    for area in ("PA-0000", "PA-0001", "PA-0002"):
        top = result.top(area)
        assert top["cluster"] == result.clusters[area]
        assert len(top["top"]) <= 3
        lifts = [row["lift"] for row in top["top"]]
        assert lifts == sorted(lifts, reverse=True)
        assert all(v > 0 for v in lifts)
        for row in top["top"]:
            assert set(row) >= {"tactic", "kpi", "lift", "ci95", "adopters", "replications"}
    assert any(result.top(a)["top"] for a in ("PA-0000", "PA-0001", "PA-0002"))
    with pytest.raises(NotFoundError):
        result.top("PA-9999")


def test_replications_count_adopted_local_tests(ledger: Ledger) -> None:
    """A local test that ended in adoption counts as a replication of its tactic in its cluster."""
    crowd = CrowdStore(ledger.engine)
    load(crowd)
    first = run_exchange(crowd)
    best = next(x for x in first.lifts if x.discovered and x.lift > 0)
    test = LocalTest(
        test_id="t1",
        area_id="PA-0099",
        tactic=best.tactic,
        kpi=best.kpi,
        cluster=best.cluster,
        source_areas=best.adopters,
        started_period=8,
        b_share=0.2,
        seed=7,
        units_a=40,
        units_b=10,
    )
    crowd.put_test(test)
    crowd.update_test("t1", status="adopted", decided_period=10, lift=1.0)
    again = run_exchange(crowd)
    same = next(x for x in again.lifts if (x.tactic, x.cluster) == (best.tactic, best.cluster))
    assert same.replications == 1
    with pytest.raises(NotFoundError):
        crowd.update_test("nope", status="dropped")
    with pytest.raises(InvalidInputError):
        crowd.update_test("t1", status="maybe")


def test_crowd_top_cli_and_http_agree(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`crowd top --format json` and `GET /v1/crowd/top` give the same list for an area."""
    with Ledger.open(db_url) as ledger:
        load(CrowdStore(ledger.engine))
    with pytest.raises(SystemExit) as info:
        main(["crowd", "top", "--db", db_url, "--area", "PA-0001", "--format", "json"])
    out, err = capsys.readouterr()
    assert (info.value.code, err) == (0, "")
    body = json.loads(out)
    assert set(body) >= {"area_id", "cluster", "top"}
    settings = ServiceSettings(
        ledger_url=db_url, pulse_url=str(tmp_path / "pulse.db"), clock=FakeClock(T0)
    )
    app = create_app(settings, optional_routers=False)
    key = app.state.tailguard.keys.create("vic", "viewer")[1]
    with TestClient(app, raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {key}"}
        got = client.get("/v1/crowd/top", params={"area": "PA-0001"}, headers=auth)
        assert got.status_code == 200, got.text
        assert got.json() == body
        assert (
            client.get("/v1/crowd/top", params={"area": "PA-9999"}, headers=auth).status_code == 404
        )
        assert client.get("/v1/crowd/top", params={"area": "PA-0001"}).status_code == 401
    with pytest.raises(SystemExit) as info:
        main(["crowd", "top", "--db", db_url, "--area", "PA-9999", "--format", "json"])
    assert info.value.code == 2


def test_crowd_top_on_a_missing_ledger_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No ledger at --db: exit 2 with one line."""
    with pytest.raises(SystemExit) as info:
        main(["crowd", "top", "--db", str(tmp_path / "none.db"), "--area", "PA-0001"])
    assert info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_settings_refuse_nonsense() -> None:
    """q and confidence outside (0, 1) are refused."""
    with pytest.raises(InvalidInputError):
        ExchangeSettings(q=1.5)
