"""Local tests of tactics that target technicians, SKUs or customers, not only zips: every
catalogue tactic is servable, the chooser serves the cells with each entry's own target, the
split of the units a test reached is checked at every look."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.agents.catalogue import default_catalogue
from tailguard.agents.choose import Chooser, Situation
from tailguard.crowd.abtest import ABSettings, allocate, hashed_in_b, srm_stops
from tailguard.crowd.store import CrowdStore, LocalTest
from tailguard.demo.cells import LocalCells, describe, eligible_units, tactic_arms
from tailguard.learning.policy import UniformPolicy
from tailguard.ledger import Ledger
from tailguard.sim.network import build_network

CAT = default_catalogue()
AREA = "PA-0001"
NOW = datetime(2026, 11, 24, 9, tzinfo=UTC)
LEVELS = {v: k for k, v in tactic_arms(CAT).items()}


def _put(store: CrowdStore, test_id: str, arm: str, *, seed: int, b_share: float) -> LocalTest:
    test = LocalTest(
        test_id=test_id,
        area_id=AREA,
        tactic=LEVELS[arm],
        kpi="earnings_p10_week",
        cluster="C1",
        source_areas=5,
        started_period=100,
        b_share=b_share,
        seed=seed,
        units_a=0,
        units_b=0,
    )
    store.put_test(test)
    return test


def _low_earners(now: datetime) -> Situation:
    techs = pl.DataFrame(
        {
            "area_id": [AREA, AREA, AREA],
            "tech_id": ["T000001", "T000002", "T000003"],
            "earnings_week": [300.0, 900.0, 1200.0],
            "jobs": [4, 6, 9],
            # the other technician entries rank by these (not firing here)
            "detractor_excess": [None, None, None],
            "recall_pct": [None, None, None],
            "multi_part_pct": [None, None, None],
        },
        schema_overrides=dict.fromkeys(
            ("detractor_excess", "recall_pct", "multi_part_pct"), pl.Float64
        ),
    )
    return Situation(
        now=now,
        scorecard=pl.DataFrame({"area_id": [AREA], "earnings_p10_week": [300.0]}),
        firing={AREA: {"low_earnings_tail": 300.0}},
        units={"tech": techs},
        signal_units={},
        customers={},
        lockers={},
    )


def test_every_catalogue_tactic_has_eligible_units_in_the_simulated_network(
    ledger: Ledger,
) -> None:
    """Zips, technician slots and SKUs are listed per area, customers are an open population:
    a test of any tactic the catalogue plays is served (tests_unservable is 0)."""
    net = build_network(3, seed=4, mean_techs=12)
    sets = eligible_units(net)
    store = CrowdStore(ledger.engine)
    cells = LocalCells(store=store, ledger=ledger, catalogue=CAT, units=sets["zip"], unit_sets=sets)
    kinds = {}
    for k, (tactic, arm) in enumerate(sorted(tactic_arms(CAT).items())):
        found = cells.eligible(AREA, tactic)
        assert found is not None, tactic
        kind, units = found
        kinds[kind] = units
        _put(store, f"ct-{k}", arm, seed=k, b_share=0.2)
    assert set(kinds) == {"zip", "tech", "sku", "customers"}
    assert kinds["customers"] is None
    first, count = int(net.area_tech_start[0]), int(net.area_tech_count[0])
    assert kinds["tech"] == [f"T{i + 1:06d}" for i in range(first, first + count)]
    assert kinds["sku"] == sorted(net.sku_codes)
    assert cells.eligible(AREA, "made_up[x=1]") is None
    cells.refresh(0)
    assert describe(cells)["tests_unservable"] == 0
    assert sum(len(v) for v in cells.by_area.values()) == len(tactic_arms(CAT))


def test_a_technician_in_the_b_cell_gets_the_tested_entry_of_its_group(ledger: Ledger) -> None:
    """The tested tactic is the group's second entry at another level: the B-cell technician
    gets exactly that arm with propensity 1 whatever the policy draws, and the decision is
    logged with the test; an A-cell technician follows the policy, logged with cell A."""
    store = CrowdStore(ledger.engine)
    techs = ["T000001", "T000002", "T000003"]
    arm = "low_earner_nearby_jobs@1"
    seed_b = next(
        s for s in range(200) if allocate(techs, b_share=0.5, seed=s).b_units == ("T000001",)
    )
    _put(store, "ct-b", arm, seed=seed_b, b_share=0.5)
    cells = LocalCells(
        store=store, ledger=ledger, catalogue=CAT, units={}, unit_sets={"tech": {AREA: techs}}
    )
    cells.refresh(0)
    drawn = set()
    for hour in range(6):
        chooser = Chooser(CAT, seed=hour, policy=UniformPolicy())
        chooser.cells = cells
        [choice] = chooser.choose(_low_earners(NOW + timedelta(hours=hour)))
        assert choice.target_id == "T000001"
        assert choice.arm == arm
        assert choice.propensity == 1.0
        assert (choice.context["test_id"], choice.context["cell"]) == ("ct-b", "B")
        drawn.add(choice.arm)
    assert describe(cells) == {"b_cell_decisions": 6, "tests_served": 1, "tests_unservable": 0}

    other = CrowdStore(ledger.engine)
    other.update_test("ct-b", status="dropped")
    seed_a = next(
        s for s in range(200) if allocate(techs, b_share=0.5, seed=s).b_units == ("T000002",)
    )
    _put(other, "ct-a", arm, seed=seed_a, b_share=0.5)
    cells.refresh(1)
    arms = set()
    for hour in range(12):
        chooser = Chooser(CAT, seed=hour, policy=UniformPolicy())
        chooser.cells = cells
        [choice] = chooser.choose(_low_earners(NOW + timedelta(hours=hour)))
        assert (choice.context["test_id"], choice.context["cell"]) == ("ct-a", "A")
        assert choice.propensity < 1.0
        arms.add(choice.arm)
    assert len(arms) > 1  # the policy, not the test, chose


def _detractors(now: datetime, customers: list[str]) -> Situation:
    return Situation(
        now=now,
        scorecard=pl.DataFrame({"area_id": [AREA], "nps_p10": [2.0]}),
        firing={AREA: {"nps_detractor_tail": 2.0}},
        units={},
        signal_units={},
        customers={AREA: customers},
        lockers={},
    )


def test_customer_batches_are_an_open_population_assigned_from_the_seed(ledger: Ledger) -> None:
    """A customer tactic's unit is the batch one decision credits: its cell comes from the
    test's seed on first sight, the same batch always gets the same cell, and a B batch gets
    the tested level."""
    store = CrowdStore(ledger.engine)
    arm = "detractor_apology_credit@2"
    _put(store, "ct-c", arm, seed=11, b_share=0.5)
    cells = LocalCells(store=store, ledger=ledger, catalogue=CAT, units={})
    cells.refresh(0)
    seen = {"A": 0, "B": 0}
    for k in range(40):
        batch = [f"C{k:09d}", f"C{k + 100:09d}"]
        chooser = Chooser(CAT, seed=k, policy=UniformPolicy())
        chooser.cells = cells
        [choice] = chooser.choose(_detractors(NOW, batch))
        assert choice.target_id == ",".join(batch)
        in_b = hashed_in_b(choice.target_id, seed=11, b_share=0.5)
        cell = choice.context["cell"]
        assert cell == ("B" if in_b else "A")
        assert choice.context["test_id"] == "ct-c"
        if cell == "B":
            assert (choice.arm, choice.propensity) == (arm, 1.0)
        seen[cell] += 1
    assert seen["A"] > 5
    assert seen["B"] > 5
    assert describe(cells)["tests_unservable"] == 0


def _measured(test_id: str, units: list[str], delta: float) -> list[dict[str, object]]:
    return [
        {
            "decision_id": f"d-{test_id}-{u}",
            "target_id": u,
            "outcome_kpi": "earnings_week",
            "outcome_delta": delta + 0.01 * i,
            "context": json.dumps({"test_id": test_id}),
            "decided_at": NOW,
        }
        for i, u in enumerate(units)
    ]


def test_a_broken_split_of_the_reached_units_stops_the_test(ledger: Ledger) -> None:
    """The technicians reached are all of B and a few of A (the A cell was starved): the
    sample-ratio check stops the test before any outcome is read, in the store and ledger;
    a test whose reached units follow the split goes on to the sequential decision."""
    store = CrowdStore(ledger.engine)
    techs = [f"T{i:06d}" for i in range(1, 101)]
    arm = "low_earner_nearby_jobs@1"
    _put(store, "ct-srm", arm, seed=3, b_share=0.2)
    _put(store, "ct-ok", "low_earner_surge_shift@1", seed=5, b_share=0.2)
    cells = LocalCells(
        store=store, ledger=ledger, catalogue=CAT, units={}, unit_sets={"tech": {AREA: techs}}
    )
    cells.refresh(0)
    alloc = allocate(techs, b_share=0.2, seed=3)
    starved = list(alloc.b_units) + list(alloc.a_units[:4])
    rows = _measured("ct-srm", starved, 1.0) + _measured("ct-ok", techs, 0.0)
    cells.refresh(2)
    assert cells.look(pl.DataFrame(rows), period=101) == 1
    tests = {t.test_id: t for t in store.local_tests()}
    assert tests["ct-srm"].status == "stopped_srm"
    assert tests["ct-srm"].lift is None  # no outcome was read
    assert (tests["ct-srm"].units_a, tests["ct-srm"].units_b) == (4, len(alloc.b_units))
    assert tests["ct-ok"].status == "testing"
    [record] = [r.fields for r in ledger.records(kind="crowd_test")]
    assert (record["crowd_test_id"], record["status"]) == ("ct-srm", "stopped_srm")
    assert record["srm_p"] < 0.001 / ABSettings().max_days


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**62), b_share=st.floats(0.05, 0.95))
def test_hashed_assignment_replays_and_follows_the_share(seed: int, b_share: float) -> None:
    """The same unit always gets the same cell; over 2,000 units the B share is within six
    standard errors of ``b_share``, so a sound open split passes the SRM check."""
    units = [f"C{i:09d}" for i in range(2000)]
    first = np.array([hashed_in_b(u, seed=seed, b_share=b_share) for u in units])
    again = np.array([hashed_in_b(u, seed=seed, b_share=b_share) for u in units])
    assert (first == again).all()
    sd = (b_share * (1 - b_share) / len(units)) ** 0.5
    assert abs(first.mean() - b_share) < 6 * sd
    n_b = int(first.sum())
    assert not srm_stops(len(units) - n_b, n_b, b_share=b_share, settings=ABSettings())
