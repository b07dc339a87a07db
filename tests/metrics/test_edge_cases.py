"""Hand-built edge cases, each checked against the exact reference and a known answer."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from tailguard.metrics.engine import ScorecardEngine
from tailguard.metrics.exact import exact_scorecard
from tailguard.metrics.kpis import KPI_IDS

from .builders import T0, at, completed, ev, table

AS_OF = T0 + timedelta(days=7)


def both(tab: pa.Table, as_of=AS_OF, window_days: int = 7) -> pl.DataFrame:
    """Score with the engine, check it equals the exact reference, return it."""
    engine = ScorecardEngine(window_days)
    engine.ingest(tab)
    got = engine.scorecard(as_of)
    assert_frame_equal(
        got, exact_scorecard(tab, as_of, window_days), check_exact=False, rel_tol=1e-12
    )
    return got


def value(frame: pl.DataFrame, kpi: str, area: str = "PA-0001") -> float | None:
    """One KPI of one area."""
    return frame.filter(pl.col("area_id") == area)[kpi].item()


def test_tech_without_jobs_earns_zero() -> None:
    """A tech named only by a status event enters the earnings population with 0."""
    rows = [
        completed(at(24), tech="T1", pay=700.0),
        ev("tech.status", at(30), tech_id="T2", status="available"),
    ]
    got = both(table(rows))
    assert value(got, "earnings_p10_week") == 0.0
    assert value(got, "earnings_p90_week") == 700.0


def test_earnings_scale_to_a_week() -> None:
    """Earnings over a 1-day window are scaled by 7."""
    got = both(table([completed(at(24 * 6 + 3), pay=100.0)]), window_days=1)
    assert value(got, "earnings_p10_week") == 700.0


def test_techs_under_five_jobs_are_left_out_of_recall() -> None:
    """Only techs with at least 5 completed jobs enter the recall population."""
    rows = [completed(at(10 + i), tech="T1") for i in range(5)]
    rows += [completed(at(20 + i), tech="T2") for i in range(4)]
    # one recall of T1's work and three of T2's, done by T3
    rows += [completed(at(30), tech="T3", recall_of="J0", original_tech="T1")]
    rows += [completed(at(31 + i), tech="T3", recall_of="J1", original_tech="T2") for i in range(3)]
    got = both(table(rows))
    # T1: 1/5 = 20 %; T2 excluded (4 jobs); T3 has 4 jobs, excluded
    assert value(got, "recall_pct_p90") == pytest.approx(20.0)


def test_recall_is_null_when_no_tech_has_five_jobs() -> None:
    """An area whose techs all have fewer than 5 jobs has no recall KPI."""
    got = both(table([completed(at(10), tech="T1") for _ in range(4)]))
    assert value(got, "recall_pct_p90") is None
    assert value(got, "jobs_per_week") == 4.0


def test_zero_median_job_codes_are_skipped() -> None:
    """Job codes whose median parts cost is 0 do not enter the parts-cost delta."""
    rows = [
        completed(at(5 + i), job_code="INSPECT", parts_cost=c) for i, c in enumerate([0, 0, 40])
    ]
    rows += [
        completed(at(20 + i), job_code="DW", parts_cost=c) for i, c in enumerate([100, 100, 150])
    ]
    got = both(table(rows))
    # DW median 100: deltas 0, 0, 50 -> P90 = 50
    assert value(got, "parts_cost_delta_p90_pct") == pytest.approx(50.0)


def test_parts_delta_is_null_when_every_median_is_zero() -> None:
    """With only zero-median job codes the parts-cost delta has no data."""
    got = both(table([completed(at(5), job_code="INSPECT", parts_cost=0.0)]))
    assert value(got, "parts_cost_delta_p90_pct") is None


def test_even_count_median_is_mean_of_middle_values() -> None:
    """The job-code median of an even count is the mean of the two middle values."""
    rows = [completed(at(5 + i), parts_cost=c) for i, c in enumerate([10, 20, 30, 60])]
    got = both(table(rows))
    # median (20 + 30) / 2 = 25: deltas -60, -20, 20, 140 -> P90 (rank 4) = 140
    assert value(got, "parts_cost_delta_p90_pct") == pytest.approx(140.0)


def test_empty_window_gives_nulls_not_zeros() -> None:
    """An area whose events all lie outside the window has every KPI null."""
    rows = [completed(at(-24 * 100), area="PA-0002"), completed(at(24))]
    got = both(table(rows))
    row = got.filter(pl.col("area_id") == "PA-0002").drop("area_id")
    assert row.null_count().sum_horizontal().item() == len(KPI_IDS)


def test_duplicate_event_ids_count_once() -> None:
    """A repeated event_id, in the same or a later batch, counts once."""
    job = completed(at(50), pay=300.0, event_id="dup-1")
    engine = ScorecardEngine()
    engine.ingest(table([job, dict(job)]))
    engine.ingest(table([dict(job), completed(at(51), pay=100.0)]))
    got = engine.scorecard(AS_OF)
    assert value(got, "jobs_per_week") == 2.0
    assert value(got, "earnings_p90_week") == 400.0
    assert engine.duplicates == 2


def test_window_bounds_exclude_start_and_include_end() -> None:
    """An event at exactly as_of - W is out, one at exactly as_of is in."""
    rows = [completed(AS_OF - timedelta(days=7), pay=1.0), completed(AS_OF, pay=10.0)]
    got = both(table(rows))
    assert value(got, "jobs_per_week") == 1.0
    assert value(got, "earnings_p90_week") == 10.0


def test_late_out_of_order_events_land_in_their_hour() -> None:
    """An event for an old hour, ingested after later ticks, changes that window's answer."""
    engine = ScorecardEngine()
    engine.ingest(table([completed(at(100), late_min=5.0)]))
    first = engine.scorecard(AS_OF)
    assert value(first, "lateness_p90_min") == pytest.approx(5.0)
    late = [completed(at(30), late_min=50.0), completed(at(31), late_min=-10.0)]
    engine.ingest(table(late))
    second = engine.scorecard(AS_OF)
    assert value(second, "lateness_p90_min") == pytest.approx(50.0)
    assert value(second, "eta_adherence_pct") == pytest.approx(100 / 3)


def test_window_crossing_a_day_boundary() -> None:
    """A 1-day window ending mid-day takes hours from two days exactly."""
    as_of = T0 + timedelta(days=3, hours=6)
    rows = [completed(T0 + timedelta(days=2, hours=h), late_min=float(h)) for h in range(0, 24)]
    rows += [completed(T0 + timedelta(days=3, hours=h), late_min=100.0 + h) for h in range(0, 12)]
    got = both(table(rows), as_of=as_of, window_days=1)
    # window (day2 06:00, day3 06:00]: hours 7..23 of day 2 and 0..6 of day 3
    assert value(got, "jobs_per_week") == pytest.approx(7.0 * 24)


def test_churn_counts_churned_techs_over_ninety_days() -> None:
    """Churn is churned techs over the 90-day tech population, beyond the 7-day window."""
    rows = [
        ev("tech.status", AS_OF - timedelta(days=80), tech_id="T1", status="churned"),
        ev("tech.status", AS_OF - timedelta(days=60), tech_id="T2", status="available"),
        ev("tech.status", AS_OF - timedelta(days=95), tech_id="T3", status="churned"),
        completed(AS_OF - timedelta(days=1), tech="T4"),
    ]
    got = both(table(rows))
    assert value(got, "churn_90d_pct") == pytest.approx(100 / 3)


def test_nps_percentiles_from_the_histogram() -> None:
    """NPS P10 and P90 use the inverted CDF over the survey scores."""
    scores = [0, 3, 5, 6, 7, 8, 9, 9, 10, 10, 10]
    rows = [
        ev("cx.survey", at(10 + i), job_id="J", customer_id="C", tech_id="T1", nps=s)
        for i, s in enumerate(scores)
    ]
    got = both(table(rows))
    # n = 11: P10 rank ceil(1.1) = 2 -> 3; P90 rank ceil(9.9) = 10 -> 10
    assert value(got, "nps_p10") == 3.0
    assert value(got, "nps_p90") == 10.0
    assert value(got, "jobs_per_week") is None


def test_gross_profit_and_ftf() -> None:
    """GP % and first-time-fix % follow their sums."""
    rows = [
        completed(at(5), revenue=200.0, parts_cost=50.0, pay=50.0, ftf=True),
        completed(at(6), revenue=100.0, parts_cost=25.0, pay=25.0, ftf=False),
    ]
    got = both(table(rows))
    assert value(got, "gp_pct") == pytest.approx(50.0)
    assert value(got, "ftf_pct") == pytest.approx(50.0)


def test_lead_time_p95() -> None:
    """Parts lead time P95 over parts.stock events."""
    rows = [
        ev("parts.stock", at(10 + i), locker_id="L", sku="S1", on_hand=3, lead_time_days=float(i))
        for i in range(1, 21)
    ]
    got = both(table(rows))
    assert value(got, "parts_lead_time_p95_days") == 19.0
