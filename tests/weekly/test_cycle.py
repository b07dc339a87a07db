"""run_week as a library: PostgreSQL ledgers, self-learn outcomes, reruns."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tailguard.errors import NotFoundError
from tailguard.learning import Decision, SelfLearnStore, StatusUpdate
from tailguard.ledger import Ledger
from tailguard.weekly import run_week

from .conftest import Network


def test_postgres_ledger_with_explicit_weeks_and_pulse(
    network: Network, pg_url: str, tmp_path: Path
) -> None:
    """With a PostgreSQL ledger the snapshots and pulse are named explicitly; OKRs verify there.

    Without ``weeks_dir`` the snapshots are looked for in the ledger's database (none here).
    """
    with pytest.raises(NotFoundError, match="in the ledger's database"):
        run_week(pg_url, network.ends[1], tmp_path / "x", pdf=False, workers=1)
    result = run_week(
        pg_url,
        network.ends[1],
        tmp_path / "w",
        workers=1,
        pdf=False,
        weeks_dir=network.root / "weeks",
        pulse_url=f"sqlite:///{network.root / 'pulse.db'}",
    )
    assert result.okr_records == 3
    with Ledger.open(pg_url) as ledger:
        assert ledger.verify().ok
        assert sorted(r.fields["area_id"] for r in ledger.records(kind="okr")) == [
            "PA-0001",
            "PA-0002",
            "PA-0003",
        ]


def test_measured_outcomes_in_the_ledger_database_reach_the_playbook(
    network: Network, tmp_path: Path
) -> None:
    """Executed, measured decisions in the self-learn store update the lever the OKR reports."""
    end = network.ends[1]
    with Ledger.open(network.ledger_url) as ledger:
        store = SelfLearnStore(ledger.engine)
        store.record_decisions(
            [
                Decision(
                    decision_id=f"d{i}",
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
                    decided_at=end - timedelta(days=4),
                    outcome_kpi="earnings_week",
                    baseline_value=400.0,
                    horizon_at=end - timedelta(days=1),
                )
                for i in range(4)
            ]
        )
        store.update_status(StatusUpdate(decision_id=f"d{i}", status="executed") for i in range(4))
        store.record_outcomes([(f"d{i}", 500.0 + i) for i in range(4)], measured_at=end)
    result = run_week(network.ledger_url, end, tmp_path / "w", workers=1, pdf=False)
    assert result.learned_levers == ("tech_low_earner_nearby_jobs",)
    for area in result.areas:
        okr = json.loads((tmp_path / "w" / area / "okr.json").read_text(encoding="utf-8"))
        for lever in okr["levers"]:
            if lever["lever_id"] == "tech_low_earner_nearby_jobs":
                learned = lever["learned"]["earnings_p10_week"]
                assert learned["n"] == 4
                assert learned["mean"] > learned["prior_mean"]


def test_rerunning_a_week_appends_nothing_new(network: Network, tmp_path: Path) -> None:
    """The same week run twice leaves one committed record per area."""
    first = run_week(network.ledger_url, network.ends[0], tmp_path / "a", workers=1, pdf=False)
    again = run_week(network.ledger_url, network.ends[0], tmp_path / "b", workers=1, pdf=False)
    assert (first.okr_records, again.okr_records) == (3, 0)
    assert json.loads((tmp_path / "a" / "PA-0001" / "okr.json").read_text()) == json.loads(
        (tmp_path / "b" / "PA-0001" / "okr.json").read_text()
    )
