"""The KPI registry is complete and the per-unit drill-downs agree with raw events."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from tailguard.metrics.compute import AGGREGATIONS
from tailguard.metrics.engine import ScorecardEngine
from tailguard.metrics.kpis import KPI_IDS, KPIS

from .builders import T0, at, completed, ev, table

AS_OF = T0 + timedelta(days=7)


def test_every_kpi_has_an_aggregation_and_documentation() -> None:
    """Each registered KPI names an existing aggregation, a unit and a doc string."""
    assert len(KPI_IDS) == 13
    for k in KPIS.values():
        assert k.aggregation in AGGREGATIONS
        assert k.unit
        assert k.doc
        assert k.title
        assert (k.quantile is None) == (not k.aggregation.endswith("_quantile"))


def test_tech_units_report_each_tech() -> None:
    """The tech drill-down gives earnings, jobs, recall %, NPS mean and FTF % per tech."""
    rows = [
        completed(at(10 + i), tech="T1", pay=100.0, ftf=i % 2 == 0, parts_used=2 if i < 2 else 1)
        for i in range(6)
    ]
    rows += [completed(at(40), tech="T2", recall_of="J", original_tech="T1")]
    rows += [
        ev("cx.survey", at(50), job_id="J", customer_id="C", tech_id="T1", nps=s) for s in (6,)
    ]
    rows += [ev("cx.survey", at(51), job_id="J", customer_id="C", tech_id="T1", nps=9)]
    engine = ScorecardEngine()
    engine.ingest(table(rows))
    got = engine.units(AS_OF, "tech")
    t1 = got.filter(pl.col("tech_id") == "T1").row(0, named=True)
    assert t1["earnings_week"] == 600.0
    assert t1["jobs"] == 6
    assert t1["recall_pct"] == pytest.approx(100 / 6)
    assert t1["nps_mean"] == 7.5
    assert t1["ftf_pct"] == 50.0
    assert t1["multi_part_pct"] == pytest.approx(100 / 3)
    t2 = got.filter(pl.col("tech_id") == "T2").row(0, named=True)
    assert t2["recall_pct"] is None
    assert t2["multi_part_pct"] is None  # under 5 jobs


def test_zip_units_compare_bookings_of_the_last_two_days() -> None:
    """The zip drill-down gives lateness P90, jobs and bookings in the last 24 h vs the prior 24 h."""
    rows = [completed(at(24 * 6 + i), zip_code="A", late_min=float(10 * i)) for i in range(10)]
    booked = [
        ev(
            "job.booked",
            AS_OF - timedelta(hours=h),
            zip="A",
            job_id="J",
            customer_id="C",
            job_code="DW",
        )
        for h in (1, 2, 30)
    ]
    engine = ScorecardEngine()
    engine.ingest(table(rows + booked))
    got = engine.units(AS_OF, "zip").row(0, named=True)
    assert got == {
        "area_id": "PA-0001",
        "zip": "A",
        "lateness_p90_min": 80.0,
        "jobs": 10,
        "bookings_24h": 2,
        "bookings_prior_24h": 1,
    }


def test_sku_units_give_lead_time_and_lowest_stock() -> None:
    """The sku drill-down gives lead time P95 and the lowest on-hand count per sku."""
    rows = [
        ev(
            "parts.stock",
            at(10 + i),
            locker_id="L",
            sku="S1",
            on_hand=30 - i,
            lead_time_days=float(i),
        )
        for i in range(20)
    ]
    rows.append(ev("parts.stock", at(5), locker_id="L", sku="S2", on_hand=4, lead_time_days=1.5))
    engine = ScorecardEngine()
    engine.ingest(table(rows))
    got = engine.units(AS_OF, "sku")
    assert got.rows() == [("PA-0001", "S1", 18.0, 11), ("PA-0001", "S2", 1.5, 4)]


def test_the_merged_window_is_reused_until_new_events_arrive() -> None:
    """Drill-downs at the same hour reuse one merge; an ingest in between is never missed."""
    engine = ScorecardEngine()
    engine.ingest(table([completed(at(10), tech="T1", pay=100.0)]))
    first = engine.window(AS_OF)
    assert engine.window(AS_OF) is first  # the tick's four reads share one merge
    before = engine.units(AS_OF, "tech").filter(pl.col("tech_id") == "T1")["jobs"].item()
    engine.ingest(table([completed(at(20), tech="T1", pay=50.0)]))  # a late event, same window
    assert engine.window(AS_OF) is not first
    after = engine.units(AS_OF, "tech").filter(pl.col("tech_id") == "T1")
    assert (before, after["jobs"].item(), after["earnings_week"].item()) == (1, 2, 150.0)
