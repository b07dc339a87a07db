"""The money meter: gross profit per area from the completed jobs, whatever else the stream holds."""

from __future__ import annotations

import polars as pl
import pytest

from tailguard.demo.money import MoneyMeter, committed_spend
from tailguard.sim import NetworkConfig, Simulator


def test_the_meter_sums_completed_jobs_per_area_as_the_events_say() -> None:
    """A day of a small simulated network: the meter's sums equal a direct Polars sum over
    the same events' completed jobs, hour batches folded as it goes."""
    sim = Simulator(NetworkConfig(areas=3, seed=5))
    meter = MoneyMeter()
    batches = []
    for _ in range(200):  # past one fold (168 hours)
        events = sim.step()
        meter.ingest(events)
        batches.append(pl.from_arrow(events))
    meter.ingest(None)
    events = pl.concat(batches, how="diagonal_relaxed").filter(pl.col("type") == "job.completed")
    expected = (
        events.group_by("area_id")
        .agg(
            pl.len().alias("jobs"),
            pl.col("revenue").sum(),
            pl.col("parts_cost").sum(),
            pl.col("tech_pay").sum(),
        )
        .sort("area_id")
    )
    got = meter.frame()
    assert got["area_id"].to_list() == expected["area_id"].to_list()
    assert got["jobs"].to_list() == expected["jobs"].to_list()
    assert got["jobs"].sum() > 100
    for col in ("revenue", "parts_cost", "tech_pay"):
        assert got[col].to_list() == pytest.approx(expected[col].to_list())
    gp = got["revenue"] - got["parts_cost"] - got["tech_pay"]
    assert got["gp_usd"].to_list() == pytest.approx(gp.to_list())


def test_an_empty_meter_has_no_area() -> None:
    """Nothing fed: no row, the columns still there."""
    frame = MoneyMeter().frame()
    assert frame.is_empty()
    assert "gp_usd" in frame.columns


def test_committed_spend_counts_executed_decisions_only() -> None:
    """Held, refused and failed decisions spent nothing."""
    decisions = pl.DataFrame(
        {
            "area_id": ["A", "A", "B", "B", "C"],
            "status": ["executed", "rejected", "executed", "executed", "held"],
            "cost_usd": [25.0, 99.0, 10.0, None, 0.0],
        }
    )
    spend = dict(committed_spend(decisions).iter_rows())
    assert spend == {"A": 25.0, "B": 10.0}
    assert committed_spend(decisions.clear()).is_empty()
