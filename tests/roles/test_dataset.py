"""The seeded recruiting dataset: deterministic, realistic, and holding the scenarios' data."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.geo import ZIPS, miles_between
from tailguard.roles.recruiting.seed import WEEKLY_MILES, generate
from tailguard.roles.recruiting.store import RecruitingStore

NOW = datetime(2026, 1, 5, tzinfo=UTC)


def test_same_seed_and_time_give_the_same_rows() -> None:
    """generate() is a pure function of seed and now."""
    assert generate(seed=3, now=NOW).rows == generate(seed=3, now=NOW).rows
    assert generate(seed=3, now=NOW).rows != generate(seed=4, now=NOW).rows


def test_scenario_data_exists_on_every_backend(any_store: RecruitingStore) -> None:
    """Postings near 75001 over $0.55, recruiter R-001's John, and ACC-001 are all there."""
    near = [
        p
        for p in any_store.rows(sa.select(t.postings).where(t.postings.c.cpm_loaded > 0.55))
        if p["status"] == "open"
        and any(miles_between(ZIPS["75001"], ZIPS[z]) <= 100 for z in p["hiring_zips"])
    ]
    assert len({p["carrier_id"] for p in near}) >= 3
    johns = any_store.rows(
        sa.select(t.pipeline.c.status)
        .join(t.drivers, t.drivers.c.driver_id == t.pipeline.c.driver_id)
        .where(t.drivers.c.first_name == "John", t.pipeline.c.recruiter_id == "R-001")
    )
    assert [j["status"] for j in johns] == ["screening"]
    assert any_store.rows(sa.select(t.accounts).where(t.accounts.c.account_id == "ACC-001"))
    assert any_store.rows(sa.select(t.signals).where(t.signals.c.account_id == "ACC-001"))


def test_seeding_an_already_seeded_store_writes_nothing(store: RecruitingStore) -> None:
    """ensure_seeded is a no-op the second time, so counts do not double."""
    before = store.counts()
    assert store.ensure_seeded() is False
    assert store.counts() == before


def test_values_stay_inside_the_documented_ranges() -> None:
    """Pay, miles, fleet sizes, OOS rates and DOT numbers fall in docs/recruiting.md's ranges."""
    rows = generate(seed=11, now=NOW).rows
    for p in rows["rc_postings"]:
        assert 0.45 <= p["cpm_loaded"] <= 0.85
        assert p["cpm_empty"] == 0.0 or 0.30 <= p["cpm_empty"] <= p["cpm_loaded"]
        low, high = WEEKLY_MILES[p["route_type"]]
        assert low <= p["weekly_miles"] <= high
        assert 0 <= p["sign_on_bonus"] <= 10_000
    carriers = rows["rc_carriers"]
    assert len({c["dot_number"] for c in carriers}) == len(carriers)
    for c in carriers:
        assert 1_000_000 <= c["dot_number"] < 4_000_000
        assert 5 <= c["power_units"] <= 2000
        assert 0.5 <= c["driver_oos_rate"] <= 18.0
        assert 3.0 <= c["vehicle_oos_rate"] <= 45.0
    for d in rows["rc_drivers"]:
        assert d["cdl_class"] in ("A", "B")
        assert 0.45 <= d["desired_cpm"] <= 0.80
        assert set(d["endorsements"]) <= set(t.ENDORSEMENTS)
    statuses = {p["status"] for p in rows["rc_pipeline"]}
    assert statuses <= set(t.STATUSES)
    assert "hired" in statuses


def test_status_history_matches_the_current_status() -> None:
    """Every candidacy's last history entry is its current status."""
    rows = generate(seed=5, now=NOW).rows
    last: dict[str, str] = {}
    for h in sorted(rows["rc_status_history"], key=lambda r: (r["interest_id"], r["seq"])):
        last[h["interest_id"]] = h["to_status"]
    assert all(last[p["interest_id"]] == p["status"] for p in rows["rc_pipeline"])
