"""The count tails behind detractor_cluster: exact sums, the binomial limit, the false-alarm bound."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.agents.chance import beta_binomial_pmf, beta_binomial_tail, binomial_tail

_shape = st.floats(min_value=0.05, max_value=60.0)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 40), a=_shape, b=_shape)
def test_the_beta_binomial_is_a_distribution_with_its_mean(n: int, a: float, b: float) -> None:
    pmf = beta_binomial_pmf(n, a, b)
    assert pmf.shape == (n + 1,)
    assert (pmf >= 0).all()
    assert abs(pmf.sum() - 1.0) < 1e-9
    assert abs((np.arange(n + 1) * pmf).sum() - n * a / (a + b)) < 1e-7 * max(n, 1)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 30), a=_shape, b=_shape, alpha=st.floats(1e-6, 1.0))
def test_the_tail_is_a_valid_p_value(n: int, a: float, b: float, alpha: float) -> None:
    """Under the model, a count whose tail is at most alpha comes with probability at most
    alpha: the bound detractor_cluster's Bonferroni correction relies on."""
    pmf = beta_binomial_pmf(n, a, b)
    tails = beta_binomial_tail(np.arange(n + 1), n, a, b)
    assert tails[0] == 1.0 or abs(tails[0] - 1.0) < 1e-12
    assert (np.diff(tails) <= 1e-12).all()  # a larger count is never less surprising
    assert pmf[tails <= alpha].sum() <= alpha + 1e-12


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 25), k=st.integers(0, 25), p=st.floats(0.02, 0.98))
def test_with_a_certain_share_the_tail_is_the_binomial(n: int, k: int, p: float) -> None:
    """A Beta of huge strength is a known share: the predictive tail is the binomial's."""
    k = min(k, n)
    strength = 1e9
    got = beta_binomial_tail(k, n, p * strength, (1 - p) * strength)
    assert abs(float(got) - float(binomial_tail(k, n, p))) < 1e-6


def test_an_uncertain_share_makes_a_run_less_surprising() -> None:
    """Three detractors in three answers, from a usual share of 5 % known from 13 surveys'
    worth of evidence, are far likelier than the plug-in binomial says (0.05 ** 3)."""
    wide = float(beta_binomial_tail(3, 3, 0.05 * 13, 0.95 * 13))
    assert wide > 5 * 0.05**3
    assert abs(wide - (0.65 / 13) * (1.65 / 14) * (2.65 / 15)) < 1e-12
    # Vectorised over mixed n: rows beyond their own n stay zero.
    both = beta_binomial_tail([1, 3], [2, 5], 1.0, 1.0)
    assert np.allclose(both, [2 / 3, 1 / 2])
