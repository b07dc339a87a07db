"""The one comparison table: numbers and Polars expressions alike, each with its complement."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from tailguard.rules.guardbands import BREACH_OP, GUARD_BANDS
from tailguard.rules.model import COMPARISONS, NEGATIONS, OPS

numbers = st.integers(min_value=-5, max_value=5)


@given(numbers, numbers)
def test_each_comparison_and_its_negation_split_every_pair(a: int, b: int) -> None:
    """Exactly one of a comparison and its negation holds, on numbers and expressions alike."""
    frame = pl.DataFrame({"a": [a]})
    for op, compare in COMPARISONS.items():
        negated = COMPARISONS[NEGATIONS[op]]
        assert compare(a, b) != negated(a, b), op
        assert frame.select(compare(pl.col("a"), b)).item() == compare(a, b), op


def test_a_band_is_breached_by_the_negation_of_its_inside_and_knows_its_better_end() -> None:
    """The built-in rules' breach is the complement; a band holding below its bound is
    better lower (its tail is the high end)."""
    assert set(BREACH_OP) == set(OPS)
    assert set(NEGATIONS) == set(COMPARISONS)
    for band in GUARD_BANDS:
        assert NEGATIONS[BREACH_OP[band.inside_op]] == band.inside_op
        assert band.lower_is_better == OPS[band.inside_op](0, 1)  # 0 below a bound of 1 holds
    assert {b.id for b in GUARD_BANDS if b.lower_is_better} >= {"lateness", "churn", "recall"}
    assert "nps" not in {b.id for b in GUARD_BANDS if b.lower_is_better}
