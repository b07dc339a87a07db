"""Percentile accuracy: inverted CDF exactly, and within 1 % rank error when sketched."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.metrics.engine import ScorecardEngine
from tailguard.metrics.quantiles import pctl_expr, pctl_numpy, sketch_of, sketch_pctl, weighted_pctl

from .builders import T0, table

AS_OF = T0 + timedelta(days=7)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200),
    p=st.sampled_from([1, 10, 50, 90, 95, 99]),
)
def test_percentile_helpers_match_numpy_inverted_cdf(values: list[float], p: int) -> None:
    """Polars, NumPy and weighted helpers all give NumPy's inverted_cdf percentile."""
    arr = np.array(values)
    want = float(np.quantile(arr, p / 100, method="inverted_cdf"))
    assert pctl_numpy(arr, p) == want
    got = pl.DataFrame({"v": arr}).select(pctl_expr("v", p)).item()
    assert got == want
    assert weighted_pctl(arr, np.ones(arr.size, dtype=np.int64), p) == want


def test_small_sketch_is_exact_inverted_cdf() -> None:
    """A KLL sketch below its first compaction answers the inverted-CDF percentile."""
    arr = np.arange(1.0, 101.0)
    assert sketch_pctl(sketch_of(arr), 90) == 90.0
    assert sketch_pctl(sketch_of(arr), 95) == 95.0


def _within_rank(population: np.ndarray, value: float, p: int) -> bool:
    lo = np.quantile(population, max(p / 100 - 0.01, 0), method="inverted_cdf")
    hi = np.quantile(population, min(p / 100 + 0.01, 1), method="inverted_cdf")
    return bool(lo <= value <= hi)


@pytest.fixture(scope="module")
def big_area() -> tuple[ScorecardEngine, pl.DataFrame]:
    """One area with ~28k completed jobs and stock events in a week (days get sketched)."""
    rng = np.random.default_rng(11)
    n = 28_000
    ts = np.sort(rng.integers(1, 7 * 86_400_000_000, n)) + int(T0.timestamp() * 1e6)
    window_end = ts - 3_600_000_000
    late = rng.lognormal(2.0, 1.2, n) - 8.0
    code = rng.choice(["A", "B", "C", "Z"], n, p=[0.6, 0.25, 0.1, 0.05])
    base = np.select([code == "A", code == "B", code == "C"], [80.0, 200.0, 15.0], 0.0)
    frame = pl.DataFrame(
        {
            "event_id": [f"b{i}" for i in range(n)],
            "type": "job.completed",
            "ts": ts,
            "area_id": "PA-0001",
            "tech_id": [f"T{i % 300}" for i in range(n)],
            "zip": [f"Z{i % 3}" for i in range(n)],
            "job_code": code,
            "window_end": window_end,
            "arrived_at": window_end + (late * 60e6).astype(np.int64),
            "revenue": 250.0,
            "parts_cost": base * rng.lognormal(0, 0.5, n),
            "tech_pay": 80.0,
            "first_time_fix": True,
        }
    )
    stock = pl.DataFrame(
        {
            "event_id": [f"s{i}" for i in range(n)],
            "type": "parts.stock",
            "ts": ts,
            "area_id": "PA-0001",
            "locker_id": "L1",
            "sku": [f"S{i % 2}" for i in range(n)],
            "on_hand": 5,
            "lead_time_days": rng.gamma(2.0, 1.5, n),
        }
    )
    full = pl.concat([frame, stock], how="diagonal").with_columns(
        pl.col("ts", "window_end", "arrived_at").cast(pl.Datetime("us", "UTC")),
        pl.col("on_hand").cast(pl.Int32),
    )
    engine = ScorecardEngine(7)
    engine.ingest(table(full.to_dicts()))
    return engine, full


def test_large_populations_are_sketched_within_one_percent_rank(
    big_area: tuple[ScorecardEngine, pl.DataFrame],
) -> None:
    """Lateness, lead time and parts-cost delta stay within 1 % rank error when sketched."""
    engine, full = big_area
    window = engine.window(AS_OF)
    assert window.lateness.sketches
    assert window.parts.sketches
    assert window.lead.sketches
    row = engine.scorecard(AS_OF).row(0, named=True)
    comp = full.filter(pl.col("type") == "job.completed")
    late = np.maximum(
        (comp["arrived_at"] - comp["window_end"]).dt.total_microseconds().to_numpy() / 60e6, 0
    )
    assert _within_rank(late, row["lateness_p90_min"], 90)
    lead = full.filter(pl.col("type") == "parts.stock")["lead_time_days"].to_numpy()
    assert _within_rank(lead, row["parts_lead_time_p95_days"], 95)
    delta = (
        comp.with_columns(pl.col("parts_cost").median().over("job_code").alias("m"))
        .filter(pl.col("m") != 0)
        .select(100 * (pl.col("parts_cost") / pl.col("m") - 1))
        .to_series()
        .to_numpy()
    )
    assert _within_rank(delta, row["parts_cost_delta_p90_pct"], 90)
