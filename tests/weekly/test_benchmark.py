"""Benchmark ranks and levels agree with an independent Polars computation."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.metrics.kpis import KPIS
from tailguard.weekly import benchmark
from tailguard.weekly.snapshot import WeekData

from .conftest import Network


def _independent(scorecard: pl.DataFrame, kpi: str) -> pl.DataFrame:
    """Rank 1 + strictly better areas; percentile = share of other areas worse, ties half."""
    higher = KPIS[kpi].higher_is_better
    v = scorecard.select("area_id", pl.col(kpi).alias("v")).filter(pl.col("v").is_not_null())
    good = pl.col("v") if higher else -pl.col("v")
    n = v.height
    pairs = v.with_columns(good.alias("g")).join(
        v.with_columns(good.alias("g2")).select(pl.col("area_id").alias("other"), "g2"),
        how="cross",
    )
    return (
        pairs.group_by("area_id")
        .agg(
            ((pl.col("g2") > pl.col("g")).sum() + 1).alias("rank"),
            (pl.col("g2") < pl.col("g")).sum().alias("worse"),
            ((pl.col("g2") == pl.col("g")).sum() - 1).alias("ties"),
        )
        .with_columns(
            (
                100.0 * (pl.col("worse") + 0.5 * pl.col("ties")) / max(n - 1, 1)
                if n > 1
                else pl.lit(100.0)
            ).alias("pct")
        )
        .sort("area_id")
    )


def _inverted_cdf(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered) / 100)) - 1]


def _check(scorecard: pl.DataFrame) -> None:
    bench = benchmark(scorecard)
    for kpi in [c for c in scorecard.columns if c in KPIS]:
        expected = _independent(scorecard, kpi)
        got = (
            bench.ranks.filter((pl.col("kpi_id") == kpi) & pl.col("rank").is_not_null())
            .select("area_id", "rank", "percentile")
            .sort("area_id")
        )
        assert got["area_id"].to_list() == expected["area_id"].to_list()
        assert got["rank"].to_list() == expected["rank"].cast(pl.Int64).to_list()
        assert got["percentile"].to_list() == pytest.approx(expected["pct"].to_list())
        values = scorecard[kpi].drop_nulls().to_list()
        level = bench.levels.filter(pl.col("kpi_id") == kpi).row(0, named=True)
        if values:
            higher = KPIS[kpi].higher_is_better
            for q in (50, 75, 90):
                assert level[f"p{q}"] == _inverted_cdf(values, q if higher else 100 - q)


def test_ranks_agree_with_independent_polars_on_the_simulated_scorecards(
    network_template: Network,
) -> None:
    """The benchmark of the simulated week's scorecards matches the independent computation."""
    week = WeekData(network_template.root / "weeks" / network_template.ends[-1].date().isoformat())
    _check(
        week.frame("areas").select(
            "area_id", *[k for k in KPIS if k in week.frame("areas").columns]
        )
    )


scores = st.lists(st.one_of(st.none(), st.integers(0, 6).map(float)), min_size=1, max_size=12)


@given(scores, scores)
@settings(max_examples=80, deadline=None)
def test_ranks_agree_with_independent_polars_on_ties_and_nulls(
    a: list[float | None], b: list[float | None]
) -> None:
    """Ties share the best rank, nulls are unranked, direction is respected."""
    n = min(len(a), len(b))
    sc = pl.DataFrame(
        {
            "area_id": [f"PA-{i:04d}" for i in range(n)],
            "nps_p10": pl.Series(a[:n], dtype=pl.Float64),
            "lateness_p90_min": pl.Series(b[:n], dtype=pl.Float64),
        }
    )
    _check(sc)


def test_copy_from_names_the_best_areas_on_the_weakest_kpi() -> None:
    """An area worst on lateness copies from the area best on it and teaches where it leads."""
    sc = pl.DataFrame(
        {
            "area_id": ["A", "B", "C"],
            "lateness_p90_min": [50.0, 10.0, 30.0],
            "nps_p10": [9.0, 5.0, 7.0],
        }
    )
    bench = benchmark(sc)
    cf = bench.copy_from("A")
    assert cf[0]["kpi_id"] == "lateness_p90_min"
    assert cf[0]["areas"][0]["area_id"] == "B"
    tt = bench.teach_to("A")
    assert tt[0]["kpi_id"] == "nps_p10"
    assert tt[0]["areas"][0]["area_id"] == "B"
    row = bench.for_area("A")["lateness_p90_min"]
    assert (row["rank"], row["percentile"], row["p90"]) == (3, 0.0, 10.0)
