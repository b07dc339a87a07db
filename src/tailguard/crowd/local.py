"""Starting and closing local A/B tests: the store row and the ledger's evidence.

An area tags each tactic proven in its cluster that it has not adopted
(:meth:`~tailguard.crowd.exchange.ExchangeResult.proven_elsewhere`) for a local test. Starting
one draws the B cell with a seeded RNG and records the test, with the seed and the B units, as
a ``crowd_test`` ledger record (the unit ids stay inside the area's own ledger: they are never
published to the exchange). Closing it records the verdict as a new ``crowd_test`` record for
the same id (the ledger is append-only) and updates the store row the exchange counts
replications from.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from tailguard.crowd.abtest import ABSettings, Allocation, TestRun, allocate
from tailguard.crowd.exchange import TacticLift
from tailguard.crowd.store import CrowdStore, LocalTest
from tailguard.ledger import Ledger

_VERDICT_STATUS = {
    "adopt": "adopted",
    "drop": "dropped",
    "stopped_guard": "stopped_guard",
    "stopped_srm": "stopped_srm",
    "keep_testing": "testing",
}


def local_test_id(area_id: str, tactic: str, kpi: str) -> str:
    """One local test per area, tactic and KPI."""
    return "ct-" + hashlib.sha256(f"{area_id}\x1f{tactic}\x1f{kpi}".encode()).hexdigest()[:20]


def start_local_test(
    *,
    ledger: Ledger,
    store: CrowdStore,
    area_id: str,
    lift: TacticLift,
    units: list[str] | None,
    period: int,
    seed: int,
    settings: ABSettings | None = None,
    unit_kind: str = "zip",
) -> tuple[LocalTest, Allocation]:
    """Allocate the B cell, record the test in the store and the ledger.

    A split that fails the sample-ratio check is recorded as ``stopped_srm`` at once.
    ``units`` None is an open population (customers: the units are met as the tactic fires):
    nothing is drawn now, each unit gets its cell on first sight from the logged seed
    (:func:`~tailguard.crowd.abtest.hashed_in_b`) and the split is checked at every look.
    ``unit_kind`` (zip, tech, sku, customers) is recorded with the test.

    Raises:
        LedgerError: this area already has a test of this tactic.
        InvalidInputError: fewer than 2 eligible units.
    """
    cfg = settings or ABSettings()
    if units is None:
        alloc = Allocation(seed=seed, b_units=(), a_units=(), srm_p=1.0)
    else:
        alloc = allocate(units, b_share=cfg.b_share, seed=seed)
    status = "stopped_srm" if alloc.srm_p < cfg.srm_alpha else "testing"
    test = LocalTest(
        test_id=local_test_id(area_id, lift.tactic, lift.kpi),
        area_id=area_id,
        tactic=lift.tactic,
        kpi=lift.kpi,
        cluster=lift.cluster,
        source_areas=lift.adopters,
        started_period=period,
        b_share=cfg.b_share,
        seed=seed,
        units_a=len(alloc.a_units),
        units_b=len(alloc.b_units),
        status=status,
        srm_p=alloc.srm_p,
        decided_period=period if status != "testing" else None,
    )
    store.put_test(test)
    ledger.append(
        "crowd_test",
        {
            "crowd_test_id": test.test_id,
            "area_id": area_id,
            "tactic": lift.tactic,
            "kpi": lift.kpi,
            "cluster": lift.cluster,
            "evidence_lift": lift.lift,
            "evidence_p_uplift": lift.p_uplift,
            "seed": seed,
            "b_share": cfg.b_share,
            "unit_kind": unit_kind,
            "population": "listed" if units is not None else "open",
            "b_units": list(alloc.b_units),
            "units_a": len(alloc.a_units),
            "srm_p": alloc.srm_p,
            "status": status,
            "period": period,
        },
    )
    return test, alloc


def close_local_test(
    *, ledger: Ledger, store: CrowdStore, test: LocalTest, run: TestRun, period: int
) -> LocalTest:
    """Record a test's verdict (adopted, dropped, stopped) in the store and the ledger."""
    status = _VERDICT_STATUS[run.verdict]
    last = run.looks[-1] if run.looks else None
    values = {
        "status": status,
        "decided_period": None if status == "testing" else period,
        "lift": None if last is None else last.lift,
        "lift_lo": None if last is None else last.ci95[0],
        "lift_hi": None if last is None else last.ci95[1],
        # An open population's split is what the test reached (a listed one's is unchanged).
        "units_a": len(run.allocation.a_units),
        "units_b": len(run.allocation.b_units),
        "srm_p": run.allocation.srm_p,
    }
    store.update_test(test.test_id, **values)
    ledger.append(
        "crowd_test",
        {
            "crowd_test_id": test.test_id,
            "area_id": test.area_id,
            "tactic": test.tactic,
            "kpi": test.kpi,
            "status": status,
            "period": period,
            "days": len(run.looks),
            "lift": values["lift"],
            "p_uplift": None if last is None else last.p_uplift,
            "p_harm": None if last is None else last.p_harm,
            "guard_p_harm": None if last is None else last.guard_p_harm,
            "units_a": values["units_a"],
            "units_b": values["units_b"],
            "srm_p": values["srm_p"],
        },
    )
    return replace(test, **values)  # type: ignore[arg-type]
