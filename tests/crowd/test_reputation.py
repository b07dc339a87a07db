"""Local tests on the ledger, Innovation Delta only for independent replications, coaches' API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from fastapi.testclient import TestClient

from tailguard.clock import FakeClock
from tailguard.crowd.abtest import ABSettings, run_test
from tailguard.crowd.did import Z95
from tailguard.crowd.exchange import ExchangeResult, TacticLift, run_exchange
from tailguard.crowd.local import close_local_test, start_local_test
from tailguard.crowd.reputation import coaches_view, innovation_delta
from tailguard.crowd.store import CrowdStore, LocalTest
from tailguard.errors import LedgerError
from tailguard.ledger import Ledger
from tailguard.service import ServiceSettings, create_app

from .test_exchange import T0, load

LIFT = TacticLift(
    tactic="surge[bonus_usd=25]",
    kpi="ftf_pct",
    cluster="C1",
    lift=1.2,
    se=0.3,
    ci95=(0.6, 1.8),
    adopters=3,
    adopter_areas=("PA-0001", "PA-0002", "PA-0003"),
    p_uplift=0.001,
    discovered=True,
)
ADOPTIONS = pl.DataFrame(
    {
        "area_id": ["PA-0001", "PA-0002", "PA-0003"],
        "tactic": ["surge[bonus_usd=25]"] * 3,
        "kpi": ["ftf_pct"] * 3,
        "adopted_period": [3, 4, 9],
    }
)


def a_test(
    test_id: str, area: str, status: str, *, lift: float = 1.0, started: int = 6
) -> LocalTest:
    return LocalTest(
        test_id=test_id,
        area_id=area,
        tactic="surge[bonus_usd=25]",
        kpi="ftf_pct",
        cluster="C1",
        source_areas=3,
        started_period=started,
        b_share=0.2,
        seed=1,
        units_a=80,
        units_b=20,
        status=status,
        lift=lift,
        lift_lo=lift - Z95 * 0.5,
        lift_hi=lift + Z95 * 0.5,
    )


def test_a_local_test_is_logged_and_closed_in_the_ledger(ledger: Ledger) -> None:
    """Starting logs the seed and B units; the verdict is a second record; both in the store."""
    store = CrowdStore(ledger.engine)
    units = [f"T{i:04d}" for i in range(100)]
    test, alloc = start_local_test(
        ledger=ledger, store=store, area_id="PA-0009", lift=LIFT, units=units, period=6, seed=11
    )
    assert test.status == "testing"
    first = list(ledger.records(kind="crowd_test"))
    assert first[0].fields["b_units"] == list(alloc.b_units)
    assert first[0].fields["seed"] == 11
    rng = np.random.default_rng(0)
    in_b = np.array([u in set(alloc.b_units) for u in sorted(units)])
    daily = rng.normal(0, 1, (100, 1)) + rng.normal(0, 2, (100, 42))
    daily[in_b] += 1.5
    run = run_test(daily, None, units, seed=11, settings=ABSettings())
    closed = close_local_test(ledger=ledger, store=store, test=test, run=run, period=8)
    assert closed.status == "adopted"
    assert [t.status for t in store.local_tests(area_id="PA-0009")] == ["adopted"]
    assert [r.fields["status"] for r in ledger.records(kind="crowd_test")] == ["testing", "adopted"]
    with pytest.raises(LedgerError):
        start_local_test(
            ledger=ledger, store=store, area_id="PA-0009", lift=LIFT, units=units, period=9, seed=1
        )
    assert ledger.verify().ok


def test_points_only_for_independent_replications() -> None:
    """Adopted tests elsewhere earn points for earlier publishers; nothing else does.

    PA-0001 and PA-0002 published before the test at week 6 in PA-0009 adopted: both score.
    PA-0003 published at week 9, after it: no points. A dropped test, a test in an area that
    had published the tactic itself, and mere adoption score nothing.
    """
    tests = [
        a_test("t1", "PA-0009", "adopted", lift=1.0),
        a_test("t2", "PA-0010", "dropped", lift=-0.5),
        a_test("t3", "PA-0003", "adopted", lift=2.0, started=10),
    ]
    scores = {r.area_id: r for r in innovation_delta(ADOPTIONS, tests)}
    assert set(scores) == {"PA-0001", "PA-0002"}
    assert scores["PA-0001"].points == pytest.approx(2.0)  # lift 1.0 / SE 0.5
    assert scores["PA-0001"].replications == 1
    two = [*tests, a_test("t4", "PA-0011", "adopted", lift=3.0, started=7)]
    more = {r.area_id: r for r in innovation_delta(ADOPTIONS, two)}
    assert more["PA-0001"].replications == 2
    assert more["PA-0001"].points == pytest.approx(2.0 + 5.0)  # capped at 5 per replication
    assert innovation_delta(ADOPTIONS, []) == []


def test_coaches_see_exporters_importers_and_laggards() -> None:
    """Exporters have points, importers adopted through tests, laggards ignore proven tactics."""
    result = ExchangeResult(
        clusters=dict.fromkeys(("PA-0001", "PA-0002", "PA-0003", "PA-0009", "PA-0012"), "C1"),
        lifts=(LIFT,),
    )
    view = coaches_view(result, ADOPTIONS, [a_test("t1", "PA-0009", "adopted")])
    assert [e["area_id"] for e in view["exporters"]] == ["PA-0001", "PA-0002"]
    assert view["importers"] == [
        {"area_id": "PA-0009", "adopted": 1, "tactics": ["surge[bonus_usd=25]"]}
    ]
    assert view["laggards"] == [
        {"area_id": "PA-0012", "cluster": "C1", "ignored": ["surge[bonus_usd=25]"]}
    ]


def test_coaches_and_reputation_endpoints(db_url: str, tmp_path: Path) -> None:
    """GET /v1/crowd/coaches and /v1/crowd/reputation answer from the store."""
    with Ledger.open(db_url) as ledger:
        store = CrowdStore(ledger.engine)
        load(store)
        best = next(x for x in run_exchange(store).lifts if x.discovered and x.lift > 0)
        outsider = next(
            a
            for a in sorted(run_exchange(store).clusters)
            if a not in best.adopter_areas and run_exchange(store).clusters[a] == best.cluster
        )
        store.put_test(
            LocalTest(
                test_id="t1",
                area_id=outsider,
                tactic=best.tactic,
                kpi=best.kpi,
                cluster=best.cluster,
                source_areas=best.adopters,
                started_period=13,
                b_share=0.2,
                seed=1,
                units_a=80,
                units_b=20,
                status="adopted",
                lift=1.0,
                lift_lo=0.5,
                lift_hi=1.5,
            )
        )
    app = create_app(
        ServiceSettings(ledger_url=db_url, pulse_url=str(tmp_path / "p.db"), clock=FakeClock(T0)),
        optional_routers=False,
    )
    key = app.state.tailguard.keys.create("vic", "viewer")[1]
    with TestClient(app, raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {key}"}
        coaches = client.get("/v1/crowd/coaches", headers=auth)
        assert coaches.status_code == 200, coaches.text
        body = coaches.json()
        assert set(body) == {"exporters", "importers", "laggards"}
        publishers = store_publishers(db_url, best.tactic)
        assert {e["area_id"] for e in body["exporters"]} == publishers
        assert body["importers"][0]["area_id"] == outsider
        rep = client.get("/v1/crowd/reputation", headers=auth).json()
        assert [r["area_id"] for r in rep] == [e["area_id"] for e in body["exporters"]]


def store_publishers(url: str, tactic: str) -> set[str]:
    """Every area that published ``tactic`` (in any cluster)."""
    with Ledger.open(url) as ledger:
        frame = CrowdStore(ledger.engine).tactics_frame()
    return set(frame.filter(pl.col("tactic") == tactic)["area_id"].to_list())


def test_endpoints_on_an_empty_exchange(tmp_path: Path) -> None:
    """Before anything is published: coaches and reputation are empty lists, top is a 404."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    app = create_app(
        ServiceSettings(ledger_url=url, pulse_url=str(tmp_path / "p.db"), clock=FakeClock(T0)),
        optional_routers=False,
    )
    key = app.state.tailguard.keys.create("vic", "viewer")[1]
    with TestClient(app, raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/crowd/coaches", headers=auth).json() == {
            "exporters": [],
            "importers": [],
            "laggards": [],
        }
        assert client.get("/v1/crowd/reputation", headers=auth).json() == []
        missing = client.get("/v1/crowd/top", params={"area": "PA-0001"}, headers=auth)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
