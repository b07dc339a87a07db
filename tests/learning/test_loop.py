"""Policy versions, the nightly update and the guardrail, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tailguard.errors import ConflictError, NotFoundError
from tailguard.learning import Decision, SelfLearnStore, StatusUpdate
from tailguard.learning.guardrail import mixture_radius, start_watch
from tailguard.learning.loop import GuardConfig, PolicyLearner
from tailguard.learning.policy import ThompsonModel
from tailguard.learning.versions import PolicyStore
from tailguard.ledger import Ledger

T0 = datetime(2026, 3, 2, tzinfo=UTC)
GROUPS = {"late_zip_routing_boost": "late_zip_routing_boost"}


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    url = (
        f"sqlite:///{tmp_path / 'ledger.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    with Ledger.open(url) as opened:
        yield opened


def fill(store: SelfLearnStore, n: int, *, start: datetime = T0) -> None:
    """``n`` measured decisions: boosting urban zips helps, holding does nothing much."""
    decisions = []
    for i in range(n):
        arm = "late_zip_routing_boost" if i % 2 else "hold:late_zip_routing_boost"
        decisions.append(
            Decision(
                decision_id=f"d{i:05d}",
                area_id=f"PA-{i % 5:04d}",
                entry_id="late_zip_routing_boost",
                kind="routing_weight_boost" if i % 2 else "hold",
                tool_name="boost_routing_weight" if i % 2 else "none",
                trigger="late_tail",
                target_type="zip",
                target_id=f"{10000 + i}",
                args={"zip": f"{10000 + i}", "weight": 0.15},
                context={
                    "arm": arm,
                    "group": "late_zip_routing_boost",
                    "bucket": "urban|-",
                    "arms": ["late_zip_routing_boost", "hold:late_zip_routing_boost"],
                    "probs": [0.5, 0.5],
                },
                propensity=0.5,
                policy_version="lp-test",
                decided_at=start + timedelta(hours=i),
                outcome_kpi="lateness_p90_min",
                baseline_value=40.0,
                horizon_at=start + timedelta(hours=i + 48),
            )
        )
    store.record_decisions(decisions)
    store.update_status(
        StatusUpdate(decision_id=d.decision_id, status="executed" if i % 2 else "held")
        for i, d in enumerate(decisions)
    )
    store.record_outcomes(
        [(d.decision_id, 30.0 + (i % 3) if i % 2 else 40.0 + (i % 3)) for i, d in enumerate(decisions)],
        measured_at=start + timedelta(hours=n + 48),
    )  # fmt: skip


def _policy_records(ledger: Ledger) -> list[dict[str, object]]:
    return [dict(r.fields) for r in ledger.records(kind="policy")]


def test_an_update_is_a_new_version_recorded_before_it_is_used(ledger: Ledger) -> None:
    """Each update stores the model and a ``policy`` ledger record naming its data."""
    store = SelfLearnStore(ledger.engine)
    fill(store, 40)
    learner = PolicyLearner(store=store, versions=PolicyStore(ledger), groups=GROUPS)
    first = learner.start(T0)
    assert first.version == "lp-0001-prior"
    report = learner.update(T0 + timedelta(days=5))
    assert report.previous == "lp-0001-prior"
    assert report.decisions_used == 40
    assert report.activated
    assert learner.policy.version == report.policy_version
    records = _policy_records(ledger)
    assert [r["action"] for r in records] == ["created", "created"]
    assert records[-1]["policy_id"] == report.policy_version
    assert records[-1]["decisions_used"] == 40
    boost = learner.policy.posterior("late_zip_routing_boost", "urban|-", "late_zip_routing_boost")
    hold = learner.policy.posterior(
        "late_zip_routing_boost", "urban|-", "hold:late_zip_routing_boost"
    )
    assert boost[0] > hold[0]  # lateness fell after boosting, not after holding
    assert ledger.verify().ok
    # A restarted process picks up the active version.
    again = PolicyLearner(store=store, versions=PolicyStore(ledger), groups=GROUPS)
    assert again.start(T0).version == report.policy_version


def test_pinning_stores_candidates_and_freezing_stops_updates(ledger: Ledger) -> None:
    """Pinned: updates are kept as candidates; frozen: the nightly loop does nothing."""
    store = SelfLearnStore(ledger.engine)
    fill(store, 10)
    versions = PolicyStore(ledger)
    learner = PolicyLearner(store=store, versions=versions, groups=GROUPS)
    learner.start(T0)
    versions.set_switch(T0, by="ops", pinned=True)
    report = learner.update(T0 + timedelta(days=3))
    assert not report.activated
    assert versions.state().active == "lp-0001-prior"
    assert versions.history()[0].status == "candidate"
    versions.set_switch(T0, by="ops", pinned=False, frozen=True)
    assert learner.nightly(T0 + timedelta(days=4)) is None
    actions = [r["action"] for r in _policy_records(ledger)]
    assert actions.count("switch") == 2


def test_an_operator_can_roll_back_and_a_bad_target_is_refused(ledger: Ledger) -> None:
    """Rollback restores the previous version (ledger record); nothing before the first."""
    store = SelfLearnStore(ledger.engine)
    fill(store, 10)
    versions = PolicyStore(ledger)
    learner = PolicyLearner(store=store, versions=versions, groups=GROUPS)
    learner.start(T0)
    with pytest.raises(ConflictError, match="no previous version"):
        versions.rollback(T0, by="ops", reason="test")
    report = learner.update(T0 + timedelta(days=3))
    assert versions.rollback(T0, by="ops", reason="looks odd") == "lp-0001-prior"
    assert versions.history()[0].status == "rolled_back"
    assert versions.history()[0].version_id == report.policy_version
    with pytest.raises(NotFoundError):
        versions.rollback(T0, by="ops", reason="x", to="lp-9999")


def test_a_deliberately_bad_policy_is_rolled_back_automatically(ledger: Ledger) -> None:
    """Guard-bands fall after an update: the guardrail restores the last trusted version."""
    store = SelfLearnStore(ledger.engine)
    versions = PolicyStore(ledger)
    learner = PolicyLearner(
        store=store, versions=versions, groups=GROUPS, guard=GuardConfig(threshold_points=1.0)
    )
    learner.start(T0)
    night = T0
    for _ in range(7):  # a week under the trusted (prior) version: about 50 % inside
        for h in range(24):
            learner.observe(50.0 + (1.0 if h % 2 else -1.0))
        night += timedelta(days=1)
        versions.set_switch(night, by="test", frozen=True)
        learner.nightly(night)
    versions.set_switch(night, by="test", frozen=False)
    bad = learner.update(night)  # the version to be watched
    assert learner.watch is not None
    assert learner.watch.version == bad.policy_version
    rolled = False
    days = 0
    for _ in range(10):
        days += 1
        for _ in range(24):
            learner.observe(40.0)  # ten points worse, every day
        night += timedelta(days=1)
        learner.nightly(night)
        if learner.rollbacks:
            rolled = True
            break
    assert rolled, "the guardrail never fired"
    assert days <= 4  # the always-valid test needs only a few daily looks at a 10-point drop
    assert versions.state().active == "lp-0001-prior"
    back = [r for r in _policy_records(ledger) if r["action"] == "rolled_back"]
    assert back
    assert back[0]["by"] == "guardrail"
    assert back[0]["policy_id"] == bad.policy_version
    # Paused after a rollback: the next nights fit nothing.
    assert learner.nightly(night + timedelta(days=1)) is None


def test_the_guardrail_stays_quiet_on_noise() -> None:
    """A version no worse than its baseline is not rolled back, however often it is looked at."""
    watch = start_watch("v", [50.0, 51.0, 49.0, 50.5, 49.5, 50.0, 50.0], threshold=1.0)
    for i in range(60):
        watch.add(50.0 + (0.8 if i % 2 else -0.8))
        assert not watch.harmful()
    lo, hi = watch.interval()
    assert lo < 0 < hi


def test_the_boundary_shrinks_with_looks() -> None:
    """The confidence sequence's half-width falls with more daily looks (slower than 1/sqrt(t))."""
    widths = [mixture_radius(t, 1.0, 0.05, 1.0) for t in (1, 4, 16, 64)]
    assert all(a > b for a, b in itertools.pairwise(widths))
    assert math.isinf(mixture_radius(0, 1.0, 0.05, 1.0))


def test_a_version_without_a_baseline_never_fires() -> None:
    """No days under the previous version: nothing to compare, no rollback."""
    watch = start_watch("v", [])
    watch.add(0.0)
    assert not watch.harmful()


def test_a_stored_model_reads_back(ledger: Ledger) -> None:
    """The model a version stores is what :meth:`PolicyStore.model` returns."""
    versions = PolicyStore(ledger)
    model = ThompsonModel(version="lp-x")
    versions.add(model, previous=None, now=T0, decisions_used=0, data_digest="-", changes=[])
    assert json.dumps(versions.model("lp-x").to_json()) == json.dumps(model.to_json())
    with pytest.raises(NotFoundError):
        versions.model("nope")
