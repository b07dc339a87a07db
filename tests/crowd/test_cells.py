"""Local tests served by the area agents' chooser, and read every night until a verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl

from tailguard.agents.catalogue import default_catalogue
from tailguard.agents.choose import Chooser, Situation
from tailguard.crowd.abtest import allocate
from tailguard.crowd.store import CrowdStore, LocalTest
from tailguard.demo.cells import LocalCells, describe, tactic_arms
from tailguard.learning.policy import UniformPolicy
from tailguard.ledger import Ledger

CAT = default_catalogue()
AREA = "PA-0001"
BUFFER = "parts_spike_locker_buffer"
NOW = datetime(2026, 11, 24, 9, tzinfo=UTC)


def test_published_tactic_names_map_back_to_catalogue_arms() -> None:
    """What the exchange publishes (``entry[k=v,...]``) names one arm of the catalogue."""
    arms = tactic_arms(CAT)
    assert arms["late_zip_routing_boost[hours=48,weight=0.25]"] == "late_zip_routing_boost@2"
    assert arms["late_zip_routing_boost[hours=48,weight=0.15]"] == "late_zip_routing_boost"
    assert f"{BUFFER}@1" in arms.values()


def _test(store: CrowdStore, units: list[str], tactic: str, seed: int) -> LocalTest:
    test = LocalTest(
        test_id="ct-1",
        area_id=AREA,
        tactic=tactic,
        kpi="ftf_pct",
        cluster="c0",
        source_areas=3,
        started_period=100,
        b_share=0.5,
        seed=seed,
        units_a=1,
        units_b=1,
    )
    store.put_test(test)
    return test


def _situation() -> Situation:
    skus = pl.DataFrame(
        {
            "area_id": [AREA, AREA],
            "sku": ["R-1", "R-2"],
            "lead_time_p95_days": [12.0, 6.0],
            "on_hand_min": [3, 1],
        }
    )
    return Situation(
        now=NOW,
        scorecard=pl.DataFrame({"area_id": [AREA], "parts_lead_time_p95_days": [12.0]}),
        firing={AREA: {"parts_lead_time_spike": 12.0, "sku_lead_time_spike": 3.0}},
        units={"sku": skus},
        signal_units={
            "sku_lead_time_spike": pl.DataFrame({"area_id": [AREA], "sku": ["R-2"]}),
        },
        customers={},
        lockers={(AREA, "R-1"): "L-1", (AREA, "R-2"): "L-2"},
    )


def test_a_b_cell_unit_gets_the_tactic_and_the_test_is_logged(ledger: Ledger) -> None:
    """R-2 is in the B cell: whatever the policy would draw, it gets the tested level, with
    propensity 1 and the test id; the count of B-cell decisions says so."""
    store = CrowdStore(ledger.engine)
    units = ["R-1", "R-2"]
    seed = next(s for s in range(100) if "R-2" in allocate(units, b_share=0.5, seed=s).b_units)
    levels = {v: k for k, v in tactic_arms(CAT).items()}
    _test(store, units, levels[f"{BUFFER}@1"], seed)
    cells = LocalCells(store=store, ledger=ledger, catalogue=CAT, units={AREA: units})
    cells.refresh(0)
    for hour in range(5):  # several hours: the policy's own draw varies, the B cell does not
        chooser = Chooser(CAT, seed=hour, policy=UniformPolicy())
        chooser.cells = cells
        [choice] = [c for c in chooser.choose(_situation()) if c.entry.kind == "locker_buffer"]
        assert choice.target_id == "R-2"
        assert choice.propensity == 1.0
        context = choice.context
        assert context["arm"] == f"{BUFFER}@1"
        assert (context["test_id"], context["cell"]) == ("ct-1", "B")
    assert describe(cells) == {"b_cell_decisions": 5, "tests_served": 1, "tests_unservable": 0}


def _decisions(units: list[str], b_units: set[str]) -> pl.DataFrame:
    """Measured decisions of the test: B units' first-time-fix rate rose by 5 points, A's by 0."""
    rows = []
    for i, unit in enumerate(units):
        for k in range(3):
            rows.append(
                {
                    "decision_id": f"d-{unit}-{k}",
                    "target_id": unit,
                    "outcome_kpi": "ftf_pct",
                    "outcome_delta": (5.0 if unit in b_units else 0.0) + 0.1 * ((i + k) % 3 - 1),
                    "context": json.dumps({"test_id": "ct-1", "cell": "B"}),
                    "decided_at": NOW + timedelta(hours=i),
                }
            )
    rows.append({**rows[0], "decision_id": "other", "context": "{}", "outcome_delta": 99.0})
    return pl.DataFrame(rows)


def test_a_clear_uplift_is_adopted_and_then_served_on_every_unit(ledger: Ledger) -> None:
    """The nightly look adopts the tactic (a crowd_test record says so); from then on every
    unit of the area gets it."""
    store = CrowdStore(ledger.engine)
    units = [f"Z{i:02d}" for i in range(20)]
    levels = {v: k for k, v in tactic_arms(CAT).items()}
    test = _test(store, units, levels[f"{BUFFER}@1"], seed=7)
    b_units = set(allocate(units, b_share=0.5, seed=7).b_units)
    cells = LocalCells(store=store, ledger=ledger, catalogue=CAT, units={AREA: units})
    cells.refresh(0)
    a_unit = next(u for u in units if u not in b_units)
    assert cells.cell(AREA, a_unit, [BUFFER, f"{BUFFER}@1"]) == ("ct-1", "A", f"{BUFFER}@1")
    assert cells.cell(AREA, a_unit, [BUFFER]) is None  # the tested arm is not on offer
    cells.refresh(3)
    assert cells.look(_decisions(units, b_units), period=101) == 1
    [closed] = store.local_tests()
    assert closed.status == "adopted"
    assert closed.lift is not None
    assert 4.5 < closed.lift < 5.5
    records = [r.fields for r in ledger.records(kind="crowd_test")]
    assert records[-1]["status"] == "adopted"
    assert records[-1]["crowd_test_id"] == test.test_id
    assert cells.cell(AREA, a_unit, [BUFFER, f"{BUFFER}@1"]) == ("ct-1", "B", f"{BUFFER}@1")


def test_no_evidence_keeps_testing_and_unknown_tactics_are_not_served(ledger: Ledger) -> None:
    """Equal cells: no verdict, nothing recorded; a tactic no catalogue arm plays is counted
    as unservable."""
    store = CrowdStore(ledger.engine)
    units = [f"Z{i:02d}" for i in range(20)]
    levels = {v: k for k, v in tactic_arms(CAT).items()}
    _test(store, units, levels[f"{BUFFER}@1"], seed=7)
    store.put_test(
        LocalTest(
            test_id="ct-2",
            area_id=AREA,
            tactic="made_up[x=1]",
            kpi="ftf_pct",
            cluster="c0",
            source_areas=2,
            started_period=100,
            b_share=0.2,
            seed=1,
            units_a=16,
            units_b=4,
        )
    )
    cells = LocalCells(store=store, ledger=ledger, catalogue=CAT, units={AREA: units})
    cells.refresh(1)
    assert cells.look(_decisions(units, set()), period=101) == 0
    assert {t.status for t in store.local_tests()} == {"testing"}
    assert describe(cells)["tests_unservable"] == 1
