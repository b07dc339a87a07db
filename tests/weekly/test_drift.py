"""Drift measures agree with independent hand and brute-force computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.weekly.drift import (
    bin_edges,
    bins_for,
    drift,
    js_divergence,
    ks,
    ks_critical,
    psi,
    shares,
    wasserstein,
    wasserstein_norm,
)

small = st.lists(st.integers(min_value=-20, max_value=20), min_size=1, max_size=25)


def test_psi_matches_hand_computation_on_three_bins() -> None:
    """PSI = sum (q - p) ln(q / p), written out for three bins."""
    p, q = [0.5, 0.3, 0.2], [0.4, 0.4, 0.2]
    by_hand = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.4 - 0.3) * math.log(0.4 / 0.3) + 0.0
    assert psi(p, q) == pytest.approx(by_hand, abs=1e-12)


def test_js_matches_hand_computation_on_three_bins() -> None:
    """JS in bits = half KL(p||m) + half KL(q||m), m the average; an empty bin adds nothing."""
    p, q = [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]
    m = [0.25, 0.5, 0.25]
    kl_p = 0.5 * math.log2(0.5 / m[0]) + 0.5 * math.log2(0.5 / m[1])
    kl_q = 0.5 * math.log2(0.5 / m[1]) + 0.5 * math.log2(0.5 / m[2])
    assert js_divergence(p, q) == pytest.approx(0.5 * kl_p + 0.5 * kl_q, abs=1e-12)
    assert js_divergence([1, 0, 0], [0, 0, 1]) == pytest.approx(1.0)
    assert js_divergence(p, p) == 0.0


def test_shares_use_right_closed_bins_cut_at_deciles() -> None:
    """Values equal to an edge fall in the lower bin; shares sum to 1."""
    before = list(range(1, 101))
    edges = bin_edges(before, 10)
    assert list(edges) == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    s = shares([10, 11, 95, 100], edges)
    assert s[0] == 0.25
    assert s[1] == 0.25
    assert s[9] == 0.5
    assert s.sum() == pytest.approx(1.0)


def _ks_brute(a: list[int], b: list[int]) -> float:
    best = 0.0
    for x in set(a) | set(b):
        fa = sum(v <= x for v in a) / len(a)
        fb = sum(v <= x for v in b) / len(b)
        best = max(best, abs(fa - fb))
    return best


@given(small, small)
@settings(max_examples=150, deadline=None)
def test_ks_equals_brute_force_supremum(a: list[int], b: list[int]) -> None:
    """KS is the largest CDF gap over every observed value."""
    assert ks(a, b) == pytest.approx(_ks_brute(a, b), abs=1e-12)


@given(st.lists(st.integers(-50, 50), min_size=1, max_size=20), st.data())
@settings(max_examples=150, deadline=None)
def test_wasserstein_equals_sorted_pairing_for_equal_sizes(
    a: list[int], data: st.DataObject
) -> None:
    """For equal sample sizes W1 is the mean distance between sorted values."""
    b = data.draw(st.lists(st.integers(-50, 50), min_size=len(a), max_size=len(a)))
    by_pairs = sum(abs(x - y) for x, y in zip(sorted(a), sorted(b), strict=True)) / len(a)
    assert wasserstein(a, b) == pytest.approx(by_pairs, abs=1e-9)


def test_wasserstein_unequal_sizes_by_integration() -> None:
    """W1 of {0, 1} vs {0, 0, 3}: integral of |F_a - F_b| = 1/6 on [0,1) + 1/3 on [1,3)."""
    assert wasserstein([0, 1], [0, 0, 3]) == pytest.approx(1 / 6 + 2 / 3)


def test_normalised_wasserstein_divides_by_last_weeks_sd() -> None:
    """A shift by one standard deviation reads 1.0."""
    before = np.array([1.0, 2.0, 3.0, 4.0])
    assert wasserstein_norm(before, before + before.std()) == pytest.approx(1.0)


def test_ks_critical_value_formula() -> None:
    """1.358 sqrt((n+m)/(nm)) at alpha 0.05."""
    assert ks_critical(100, 100) == pytest.approx(1.358 * math.sqrt(0.02))


def test_identical_weeks_do_not_drift_and_shifted_weeks_do() -> None:
    """Same values: every measure 0 and level none; a large shift: major."""
    rng = np.random.default_rng(0)
    x = rng.normal(100, 10, 400)
    same = drift(x, x)
    assert same.level == "none"
    assert same.psi == 0
    assert same.ks == 0
    assert same.js == 0
    moved = drift(x, x + 15)
    assert moved.level == "major"
    assert set(moved.flags) == {"psi", "js", "wasserstein", "ks"}


def test_empty_week_gives_nan_not_an_error() -> None:
    """No units in a week: the measures are not computable (None in JSON)."""
    d = drift([], [1.0, 2.0])
    assert d.to_dict()["psi"] is None
    assert d.level == "none"


def test_small_baselines_get_fewer_bins() -> None:
    """About ten values per bin, between 2 and 10 bins."""
    assert [bins_for(n) for n in (5, 30, 100, 5000)] == [2, 3, 10, 10]
