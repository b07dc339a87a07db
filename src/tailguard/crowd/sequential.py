"""Inference that stays valid when results are looked at every night.

* :func:`msprt_p_uplift`: the always-valid one-sided p-value of a mixture sequential
  probability ratio test (Robbins' normal mixture, as in Johari et al.'s mSPRT) for an
  estimate that is approximately normal with a known standard error. Under "no uplift" its
  running minimum stays below alpha with probability at most alpha however often it is read.
* :func:`benjamini_hochberg`: the step-up rule that controls the false discovery rate over the
  tactics tested at once.
* :func:`srm_p_value`: the chi-square sample-ratio-mismatch check of an A/B split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tailguard.errors import InvalidInputError


def normal_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def msprt_log_lr(estimate: float, se: float, tau: float) -> float:
    """The log mixture likelihood ratio for "effect > 0" against "effect = 0".

    The mixture is a half-normal with scale ``tau`` over positive effects:
    ``Lambda = 2 s / sqrt(s^2 + tau^2) * exp(e^2 tau^2 / (2 s^2 (s^2 + tau^2)))
    * Phi(e tau / (s sqrt(s^2 + tau^2)))``.
    """
    if tau <= 0:
        raise InvalidInputError("the mixture scale tau must be positive")
    if se <= 0:
        return math.inf if estimate > 0 else -math.inf
    v = se * se + tau * tau
    arg = estimate * tau / (se * math.sqrt(v))
    tail = normal_cdf(arg)
    if tail <= 0:
        return -math.inf
    return (
        math.log(2.0 * se / math.sqrt(v))
        + estimate * estimate * tau * tau / (2.0 * se * se * v)
        + math.log(tail)
    )


def msprt_p_uplift(estimate: float, se: float, tau: float) -> float:
    """The always-valid p-value of "no uplift": ``min(1, 1 / Lambda)``."""
    log_lr = msprt_log_lr(estimate, se, tau)
    if log_lr <= 0:
        return 1.0
    return math.exp(-log_lr)


def benjamini_hochberg(p_values: Sequence[float], q: float) -> list[bool]:
    """Which hypotheses the Benjamini-Hochberg step-up rule rejects at level ``q``."""
    if not 0 < q < 1:
        raise InvalidInputError("the FDR level q must be in (0, 1)")
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    passed = p[order] <= q * np.arange(1, m + 1) / m
    reject = np.zeros(m, dtype=bool)
    if passed.any():
        k = int(np.flatnonzero(passed)[-1])
        reject[order[: k + 1]] = True
    return [bool(r) for r in reject]


def srm_p_value(n_a: int, n_b: int, b_share: float) -> float:
    """The chi-square (1 degree of freedom) p-value that the split matches ``b_share``."""
    if not 0 < b_share < 1:
        raise InvalidInputError("b_share must be in (0, 1)")
    n = n_a + n_b
    if n == 0:
        return 1.0
    exp_b = n * b_share
    exp_a = n - exp_b
    chi2 = (n_a - exp_a) ** 2 / exp_a + (n_b - exp_b) ** 2 / exp_b
    return math.erfc(math.sqrt(chi2 / 2.0))
