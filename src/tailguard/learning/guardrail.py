"""Watching a new policy version: a sequential test that stays valid under daily looks.

When a policy version takes over, the guardrail records the areas' daily share of hours inside
every guard-band under the previous version (the baseline: mean and day-to-day spread). Each
day after that it adds the day's difference from the baseline, and asks whether the mean
difference is worse than ``-threshold`` with an *always-valid* confidence sequence: the
normal-mixture boundary of Howard, Ramdas, McAuliffe and Sekhon ("Time-uniform, nonparametric,
nonasymptotic confidence sequences", 2021). With ``S_t`` the sum of ``t`` daily differences,
``v = t sigma^2`` and mixing variance ``rho``, the mean lies within

    S_t / t +- sqrt(2 (v + rho) log(sqrt((v + rho) / rho) / alpha)) / t

at every ``t`` at once with probability at least ``1 - alpha``, so looking every day (or every
hour) does not inflate the false-alarm rate the way a fixed-sample test would. The version is
rolled back when the whole interval lies below ``-threshold``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def mixture_radius(t: int, sigma: float, alpha: float, rho: float) -> float:
    """Half-width of the normal-mixture confidence sequence for the mean after ``t`` looks."""
    if t <= 0:
        return math.inf
    v = t * sigma * sigma
    return math.sqrt(2.0 * (v + rho) * math.log(math.sqrt((v + rho) / rho) / alpha)) / t


@dataclass(kw_only=True, slots=True)
class GuardrailWatch:
    """The watch of one policy version.

    Attributes:
        version: the version watched.
        baseline: the metric's mean per day under the previous version.
        sigma: its day-to-day standard deviation (floored at ``min_sigma``).
        threshold: how much worse (in the metric's units) is tolerated.
        alpha: the false-alarm probability over the whole watch.
        rho: the mixing variance (tunes at which day the boundary is tightest).
        diffs: the daily differences from the baseline so far.
    """

    version: str
    baseline: float
    sigma: float
    threshold: float = 1.0
    alpha: float = 0.05
    rho: float = 1.0
    diffs: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        """Record one day's metric under the watched version."""
        self.diffs.append(value - self.baseline)

    def interval(self) -> tuple[float, float]:
        """The always-valid interval of the mean daily difference (-inf, inf before a look)."""
        t = len(self.diffs)
        if t == 0:
            return (-math.inf, math.inf)
        mean = sum(self.diffs) / t
        r = mixture_radius(t, self.sigma, self.alpha, self.rho * self.sigma * self.sigma)
        return (mean - r, mean + r)

    def harmful(self) -> bool:
        """Whether the version is worse than the baseline by more than the threshold."""
        return self.interval()[1] < -self.threshold

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form for the ledger and the service."""
        lo, hi = self.interval()
        return {
            "version": self.version,
            "baseline": self.baseline,
            "sigma": self.sigma,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "days": len(self.diffs),
            "mean_diff": (sum(self.diffs) / len(self.diffs)) if self.diffs else None,
            "ci": [None if math.isinf(lo) else lo, None if math.isinf(hi) else hi],
            "harmful": self.harmful(),
        }


def start_watch(
    version: str,
    history: list[float],
    *,
    threshold: float = 1.0,
    alpha: float = 0.05,
    min_sigma: float = 0.5,
) -> GuardrailWatch:
    """A watch of ``version`` against the daily values ``history`` of the previous version.

    Uses the last 7 days of ``history`` (the baseline's mean and spread); with none, the
    baseline is unknown and the watch never fires (nothing to compare against).
    """
    recent = history[-7:]
    if not recent:
        return GuardrailWatch(version=version, baseline=math.nan, sigma=min_sigma)
    mean = sum(recent) / len(recent)
    var = sum((x - mean) ** 2 for x in recent) / max(len(recent) - 1, 1)
    return GuardrailWatch(
        version=version,
        baseline=mean,
        sigma=max(math.sqrt(var), min_sigma),
        threshold=threshold,
        alpha=alpha,
    )
