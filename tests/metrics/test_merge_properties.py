"""Merging partials in any grouping or order gives the same answer (property tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tailguard.metrics.compute import kpis_from_partial
from tailguard.metrics.engine import ScorecardEngine
from tailguard.metrics.exact import exact_scorecard
from tailguard.metrics.partials import Partial, merge_partials
from tailguard.metrics.synthetic import synthetic_events

START = datetime(2026, 2, 2, tzinfo=UTC)
AS_OF = START + timedelta(days=3)
EVENTS = synthetic_events(areas=3, days=3, start=START, seed=3, techs_per_area=6)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), batches=st.integers(1, 12))
def test_any_batching_and_order_gives_the_exact_answer(seed: int, batches: int) -> None:
    """Events ingested in any order and any batching (with re-deliveries) score exactly."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(EVENTS.num_rows)
    redelivered = rng.choice(EVENTS.num_rows, size=EVENTS.num_rows // 10)
    stream = EVENTS.take(pa.array(np.concatenate([order, redelivered])))
    engine = ScorecardEngine(2)
    cuts = np.sort(rng.choice(np.arange(1, stream.num_rows), size=batches - 1, replace=False))
    for lo, hi in zip([0, *cuts], [*cuts, stream.num_rows], strict=True):
        engine.ingest(stream.slice(int(lo), int(hi - lo)))
    assert_frame_equal(
        engine.scorecard(AS_OF),
        exact_scorecard(EVENTS, AS_OF, 2),
        check_exact=False,
        rel_tol=1e-9,
    )


def _tree_merge(parts: list[Partial], rng: np.random.Generator) -> Partial:
    while len(parts) > 1:
        i = int(rng.integers(0, len(parts) - 1))
        k = int(rng.integers(2, min(4, len(parts) - i) + 1)) if len(parts) - i >= 2 else 2
        parts = [*parts[:i], merge_partials(parts[i : i + k]), *parts[i + k :]]
    return parts[0]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), threshold=st.sampled_from([None, 5, 40]))
def test_merge_is_associative_and_commutative(seed: int, threshold: int | None) -> None:
    """Hour partials merged flat or in a random tree (with sketching roll-ups) agree."""
    engine = ScorecardEngine(3, exact_threshold=10**9)
    engine.ingest(EVENTS)
    h_hi = engine.hour_of(AS_OF)
    hours = engine._pieces(h_hi - 72 + 1, h_hi)
    rng = np.random.default_rng(seed)
    shuffled = [hours[i] for i in rng.permutation(len(hours))]
    if threshold is not None:
        # roll some random runs up as days would be, sketching large groups
        shuffled = [
            merge_partials(shuffled[i : i + 24], sketch_threshold=threshold)
            for i in range(0, len(shuffled), 24)
        ]
    areas = pl.Series("area_id", ["PA-0000", "PA-0001", "PA-0002"])
    churn = pl.DataFrame(schema={"area_id": pl.String, "churn_90d_pct": pl.Float64})
    flat = kpis_from_partial(merge_partials(hours), areas=areas, window_days=3, churn=churn)
    tree = kpis_from_partial(_tree_merge(shuffled, rng), areas=areas, window_days=3, churn=churn)
    if threshold is None:
        assert_frame_equal(flat, tree, check_exact=False, rel_tol=1e-9)
    else:
        # sketched groups are approximate: sums and histograms stay exact
        exact_cols = [
            "nps_p10",
            "nps_p90",
            "earnings_p10_week",
            "earnings_p90_week",
            "recall_pct_p90",
            "ftf_pct",
            "jobs_per_week",
            "gp_pct",
            "eta_adherence_pct",
        ]
        assert_frame_equal(
            flat.select(exact_cols), tree.select(exact_cols), check_exact=False, rel_tol=1e-9
        )
