"""Tail probabilities of counts, for the agent's count signals (elementwise, numpy).

``detractor_cluster`` asks how likely a tech's detractor count in the last hours is if their
customers answer as usual. The usual share is not known, only estimated from the tech's
history and the area's, so the count is judged by its posterior predictive distribution: a
share drawn from Beta(a, b) (the estimate and its uncertainty), then the count Binomial(n, that
share), i.e. Beta-binomial. With little history (wide Beta) a run of detractors is less
surprising than a plug-in binomial with the estimate would say; with long history it tends to
that binomial. The tail of a discrete distribution is a valid p-value: under the model,
P(tail(X) <= alpha) <= alpha for every alpha (what the Bonferroni bound of the signal needs).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def binomial_tail(k: npt.ArrayLike, n: npt.ArrayLike, p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """P(X >= k) for X ~ Binomial(n, p), elementwise (0 < p < 1, 0 <= k <= n, small n)."""
    k = np.asarray(k, dtype=np.int64)
    n = np.asarray(n, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    pmf: npt.NDArray[np.float64] = (1.0 - p) ** n  # P(X = 0)
    below = np.zeros_like(pmf)  # P(X < j) as j goes up
    for j in range(int(k.max(initial=0))):
        below += np.where(j < k, pmf, 0.0)
        pmf = pmf * (n - j) / (j + 1) * p / (1.0 - p)
    return np.asarray(np.clip(1.0 - below, 0.0, 1.0), dtype=np.float64)


def beta_binomial_pmf(
    n: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """P(X = j) for X ~ BetaBinomial(n, a, b), as rows ``[..., j]`` for j = 0..max(n).

    Elementwise over ``n`` (ints >= 0), ``a``, ``b`` (> 0); entries beyond a row's n are 0.
    Built by the ratio of successive terms, P(X = j + 1) / P(X = j) = (n - j) / (j + 1) *
    (a + j) / (b + n - j - 1), from P(X = 0) = prod over i < n of (b + i) / (a + b + i).
    """
    n_ = np.asarray(n, dtype=np.int64)
    a_ = np.asarray(a, dtype=np.float64)
    b_ = np.asarray(b, dtype=np.float64)
    n_, a_, b_ = np.broadcast_arrays(n_, a_, b_)
    top = int(n_.max(initial=0))
    nf = n_.astype(np.float64)
    p0 = np.ones(n_.shape, dtype=np.float64)
    for i in range(top):
        p0 = np.where(i < n_, p0 * (b_ + i) / (a_ + b_ + i), p0)
    out = np.zeros((*n_.shape, top + 1), dtype=np.float64)
    out[..., 0] = p0
    pmf = p0
    for j in range(top):
        live = j < n_
        step = (nf - j) / (j + 1) * (a_ + j) / np.where(live, b_ + nf - j - 1, 1.0)
        pmf = np.where(live, pmf * step, 0.0)
        out[..., j + 1] = pmf
    return out


def beta_binomial_tail(
    k: npt.ArrayLike, n: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """P(X >= k) for X ~ BetaBinomial(n, a, b), elementwise (0 <= k, a > 0, b > 0, small n).

    Summed from the upper terms (no 1 - cdf cancellation, so tiny tails keep their digits).
    """
    k_ = np.asarray(k, dtype=np.int64)
    n_ = np.asarray(n, dtype=np.int64)
    k_, n_, a_, b_ = np.broadcast_arrays(
        k_, n_, np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    )
    pmf = beta_binomial_pmf(n_, a_, b_)
    j = np.arange(pmf.shape[-1])
    upper = np.where(j >= k_[..., None], pmf, 0.0).sum(axis=-1)
    return np.asarray(np.clip(upper, 0.0, 1.0), dtype=np.float64)
