"""The self-learn store on SQLite and PostgreSQL: decisions, statuses, outcomes, pagination."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tailguard.errors import InvalidInputError, LedgerError, NotFoundError
from tailguard.learning import Decision, SelfLearnStore, StatusUpdate
from tailguard.ledger import Ledger

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SelfLearnStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    ledger = Ledger.open(url)
    yield SelfLearnStore(ledger.engine)
    ledger.close()


def _decision(i: int, *, area: str = "PA-0001", baseline: float | None = 500.0) -> Decision:
    return Decision(
        decision_id=f"dec-{i:04d}",
        area_id=area,
        entry_id="low_earner_surge_shift",
        kind="surge_shift_offer",
        tool_name="offer_surge_shift",
        trigger="low_earnings_tail",
        target_type="tech",
        target_id=f"T{i:06d}",
        args={"tech_id": f"T{i:06d}", "premium_usd": 60.0},
        context={"earnings_p10_week": 540.5, "unit": {"earnings_week": baseline}},
        propensity=0.8,
        policy_version="catalogue-1",
        decided_at=T0 + timedelta(hours=i),
        outcome_kpi="earnings_week",
        baseline_value=baseline,
        horizon_at=T0 + timedelta(hours=i + 72),
    )


def test_a_decision_goes_from_decided_to_measured(store: SelfLearnStore) -> None:
    store.record_decisions([_decision(1), _decision(2, baseline=None)])
    row = store.get("dec-0001")
    assert row["status"] == "decided"
    assert row["args"] == {"tech_id": "T000001", "premium_usd": 60.0}
    assert row["context"]["earnings_p10_week"] == 540.5
    assert row["propensity"] == 0.8

    store.update_status(
        [
            StatusUpdate(
                decision_id="dec-0001",
                status="executed",
                run_id="run-1",
                step_id="step-1",
                cost_usd=60.0,
                executed_at=T0 + timedelta(hours=2),
            ),
            StatusUpdate(decision_id="dec-0002", status="executed", step_id="step-2"),
        ]
    )
    # Not due before the horizon; due after it.
    assert store.due_for_outcome(T0 + timedelta(hours=72)) == []
    due = store.due_for_outcome(T0 + timedelta(hours=80))
    assert [d.decision_id for d in due] == ["dec-0001", "dec-0002"]
    assert due[0].baseline_value == 500.0

    n = store.record_outcomes(
        [("dec-0001", 612.5), ("dec-0002", 100.0)], measured_at=T0 + timedelta(hours=80)
    )
    assert n == 2
    first, second = store.get("dec-0001"), store.get("dec-0002")
    assert first["outcome_value"] == 612.5
    assert first["outcome_delta"] == pytest.approx(112.5)
    assert first["cost_usd"] == 60.0
    assert first["run_id"] == "run-1"
    # Without a baseline there is a value but no delta.
    assert second["outcome_value"] == 100.0
    assert second["outcome_delta"] is None
    # Measured rows are not due again.
    assert store.due_for_outcome(T0 + timedelta(days=30)) == []


def test_pagination_walks_every_row_once_in_order(store: SelfLearnStore) -> None:
    store.record_decisions([_decision(i, area=f"PA-000{i % 3}") for i in range(23)])
    seen: list[str] = []
    after = None
    while True:
        page = store.list_interventions(limit=5, after=after)
        if not page:
            break
        seen += [r["decision_id"] for r in page]
        after = page[-1]["seq"]
    assert seen == [f"dec-{i:04d}" for i in range(23)]
    only = store.list_interventions(area_id="PA-0001", limit=100)
    assert {r["area_id"] for r in only} == {"PA-0001"}
    assert len(only) == store.count(area_id="PA-0001") == 8


def test_frame_has_one_row_per_decision_with_utc_times(store: SelfLearnStore) -> None:
    store.record_decisions([_decision(i) for i in range(4)])
    df = store.frame()
    assert df.height == 4
    assert df["decided_at"].dtype.time_zone == "UTC"  # type: ignore[attr-defined]
    assert df["decided_at"].to_list()[1] == T0 + timedelta(hours=1)


def test_duplicate_and_unknown_ids_are_refused(store: SelfLearnStore) -> None:
    store.record_decisions([_decision(1)])
    with pytest.raises(LedgerError):
        store.record_decisions([_decision(1)])
    with pytest.raises(NotFoundError):
        store.update_status([StatusUpdate(decision_id="nope", status="failed")])
    with pytest.raises(NotFoundError):
        store.get("nope")
    with pytest.raises(InvalidInputError):
        StatusUpdate(decision_id="dec-0001", status="teleported")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_propensity_must_be_a_probability(p: float) -> None:
    ok = 0.0 < p <= 1.0
    if ok:
        assert _decision_with(p).propensity == p
    else:
        with pytest.raises(InvalidInputError):
            _decision_with(p)


def _decision_with(p: float) -> Decision:
    d = _decision(1)
    return Decision(
        **{name: getattr(d, name) for name in d.__dataclass_fields__ if name != "propensity"},
        propensity=p,
    )


def test_reads_do_not_wait_for_a_writer_on_sqlite(tmp_path: Path) -> None:
    """A dashboard or weekly-cycle read goes on while the agents hold the write lock."""
    import sqlite3

    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        store = SelfLearnStore(ledger.engine)
        store.record_decisions([_decision(1)])
        writer = sqlite3.connect(tmp_path / "ledger.db", timeout=0.1, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # the agents' writer, mid-transaction
        try:
            # With a write-lock BEGIN these would wait out the busy timeout and fail.
            assert store.count() == 1
            assert store.get("dec-0001")["status"] == "decided"
            assert store.frame().height == 1
        finally:
            writer.execute("ROLLBACK")
            writer.close()
