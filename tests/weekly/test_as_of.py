"""The weekly cycle as of T reads nothing written about later times.

The demo runs the weekly cycle in another process while the agents keep writing decisions,
outcomes and pulse rows to the same databases; a cycle that read those would change with how
fast the agents ran. These tests write the later rows and check the outputs do not move.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from tailguard.learning import Decision, SelfLearnStore, StatusUpdate
from tailguard.ledger import Ledger
from tailguard.pulse import PulseStore
from tailguard.weekly import LeverLibrary, load_library, run_week
from tailguard.weekly.cycle import _learned

from .conftest import Network

_FILES = ("okr.json", "benchmark.json", "pack.json")


def _decide(
    store: SelfLearnStore,
    prefix: str,
    *,
    decided: datetime,
    measured: datetime,
    value: float,
    n: int = 4,
) -> None:
    """``n`` executed nearby-job offers in PA-0001, measured at ``measured`` with ``value``."""
    ids = [f"{prefix}{i}" for i in range(n)]
    store.record_decisions(
        [
            Decision(
                decision_id=d,
                area_id="PA-0001",
                entry_id="low_earner_nearby_jobs",
                kind="nearby_job_offer",
                tool_name="offer_nearby_jobs",
                trigger="low_earnings_tail",
                target_type="tech",
                target_id=f"T{i:06d}",
                args={"jobs": 2},
                propensity=0.5,
                policy_version="catalogue-1",
                decided_at=decided,
                outcome_kpi="earnings_week",
                baseline_value=400.0,
                horizon_at=measured,
            )
            for i, d in enumerate(ids)
        ]
    )
    store.update_status(
        StatusUpdate(decision_id=d, status="executed", executed_at=decided) for d in ids
    )
    store.record_outcomes([(d, value + i) for i, d in enumerate(ids)], measured_at=measured)


def _one_technician_lever() -> LeverLibrary:
    """The library with the nearby-jobs lever as the only technician lever: every OKR takes it,
    so what its learned effect is shows in every okr.json."""
    lib = load_library()
    keep = {
        k: v
        for k, v in lib.levers.items()
        if v.category != "technician" or k == "tech_low_earner_nearby_jobs"
    }
    return LeverLibrary(keep, lib.value_model)


def _outputs(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for name in _FILES
        for p in sorted(root.glob(f"*/{name}"))
    }


def test_rows_written_after_as_of_do_not_change_the_week(network: Network, tmp_path: Path) -> None:
    """Run as of T, write decisions, outcomes and pulse rows after T, run as of T again: the
    packs, OKRs and benchmarks are the same files."""
    first, end = network.ends
    run_week(network.ledger_url, first, tmp_path / "w1", workers=1, pdf=False)
    with Ledger.open(network.ledger_url) as ledger:
        store = SelfLearnStore(ledger.engine)
        _decide(store, "before-", decided=end - timedelta(days=4), measured=end, value=500.0)
    library = _one_technician_lever()
    before = run_week(
        network.ledger_url, end, tmp_path / "a", workers=1, pdf=False, library=library
    )
    assert before.learned_levers == ("tech_low_earner_nearby_jobs",)

    later = end + timedelta(hours=1)
    with Ledger.open(network.ledger_url) as ledger:
        store = SelfLearnStore(ledger.engine)
        # Decided before T, measured after it; and decided, executed and measured after T.
        _decide(store, "late-", decided=end - timedelta(days=2), measured=later, value=9000.0)
        _decide(store, "after-", decided=later, measured=end + timedelta(days=2), value=50.0)
        # Decided before T and still waiting for its outcome at T.
        store.record_decisions(
            [
                Decision(
                    decision_id="open-0",
                    area_id="PA-0002",
                    entry_id="low_earner_nearby_jobs",
                    kind="nearby_job_offer",
                    tool_name="offer_nearby_jobs",
                    trigger="low_earnings_tail",
                    target_type="tech",
                    target_id="T000009",
                    args={"jobs": 2},
                    propensity=0.5,
                    policy_version="catalogue-1",
                    decided_at=end - timedelta(hours=3),
                    outcome_kpi="earnings_week",
                    baseline_value=400.0,
                    horizon_at=later,
                )
            ]
        )
    with PulseStore.open(f"sqlite:///{network.root / 'pulse.db'}") as pulse:
        at_end = pulse.history(since=end, until=end)
        assert at_end.height == 3
        kpis = [c for c in at_end.columns if c not in ("area_id", "as_of")]
        wild = at_end.drop("as_of").with_columns(pl.col(c) * 7.0 + 3.0 for c in kpis)
        for k in range(1, 25):
            pulse.write(end + timedelta(hours=k), wild)

    again = run_week(network.ledger_url, end, tmp_path / "b", workers=1, pdf=False, library=library)
    assert again.learned_levers == before.learned_levers
    assert again.okr_records == 0
    a, b = _outputs(tmp_path / "a"), _outputs(tmp_path / "b")
    assert len(a) == 3 * len(_FILES)
    assert a == b
    # The learned effect the OKRs report counts the 4 outcomes measured by T, not the 8 since.
    okr = json.loads(a["PA-0003/okr.json"])
    (lever,) = [lv for lv in okr["levers"] if lv["lever_id"] == "tech_low_earner_nearby_jobs"]
    assert lever["learned"]["earnings_p10_week"]["n"] == 4
    with Ledger.open(network.ledger_url) as ledger:
        later_on = _learned(ledger, library, end + timedelta(days=3))
    assert later_on["tech_low_earner_nearby_jobs"]["earnings_p10_week"].n == 12


def test_reading_the_self_learn_store_does_not_wait_for_a_writer(network: Network) -> None:
    """The outcomes are read in a deferred (read-only) transaction: while the agents hold the
    database's write lock, the weekly cycle still reads (and never asks for that lock)."""
    end = network.ends[1]
    with Ledger.open(network.ledger_url) as ledger:
        store = SelfLearnStore(ledger.engine)
        _decide(store, "d", decided=end - timedelta(days=3), measured=end, value=480.0)
        writer = sqlite3.connect(network.root / "ledger.db", isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        try:
            learned = _learned(ledger, load_library(), end)
        finally:
            writer.execute("ROLLBACK")
            writer.close()
    assert learned["tech_low_earner_nearby_jobs"]["earnings_p10_week"].n == 4
