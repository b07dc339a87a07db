"""Local A/B tests of tactics proven elsewhere: allocation, SRM check, sequential decision.

When the exchange shows a tactic with more than ``confidence`` (95 %) confidence of uplift in an
area's cluster and the area has not adopted it, the area tests it locally: ``b_share`` (20 %) of
its eligible units (technicians, zips or customers), drawn with a seeded RNG whose seed is
logged, get the tactic (the B cell), the rest do not (A). Before reading outcomes, a chi-square
sample-ratio-mismatch check compares the split with ``b_share``: a broken split stops the test.

Outcomes are looked at every day, so the decision uses always-valid p-values (the mixture
SPRT of :mod:`tailguard.crowd.sequential`) on the difference of the arms' unit means:

* adopt when the p-value of "no uplift" falls to ``alpha``;
* drop when the p-value of "no harm" does (the tactic hurts here), or at ``max_days``;
* stop at once when a guard-band KPI is worse in B with the same confidence.

The chance of adopting a tactic that does not help, however many days are looked at, is then
at most ``alpha`` (up to the normal approximation of the arms' means).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from tailguard.crowd.sequential import msprt_p_uplift, srm_p_value
from tailguard.errors import InvalidInputError

Verdict = Literal["keep_testing", "adopt", "drop", "stopped_guard", "stopped_srm"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ABSettings:
    """The local tests' knobs (the 95 % and 20 % of the product document are settings).

    Attributes:
        confidence: confidence of uplift elsewhere that tags a tactic for a local test.
        b_share: share of eligible units in the B cell.
        alpha: error rate of the sequential decisions (adopt, drop, guard stop).
        tau_sd: the mixture scale, as a share of the unit-level outcome SD.
        max_days: a test still undecided after this many days is dropped.
        srm_alpha: the SRM check's level (small: only a clearly broken split stops a test).
    """

    confidence: float = 0.95
    b_share: float = 0.2
    alpha: float = 0.05
    tau_sd: float = 0.5
    max_days: int = 42
    srm_alpha: float = 0.001

    def __post_init__(self) -> None:
        for name in ("confidence", "b_share", "alpha", "srm_alpha"):
            if not 0 < getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be in (0, 1)")
        if self.tau_sd <= 0 or self.max_days < 1:
            raise InvalidInputError("tau_sd and max_days must be positive")


@dataclass(frozen=True, kw_only=True, slots=True)
class Allocation:
    """Which units are in B; the seed is logged so the draw can be replayed."""

    seed: int
    b_units: tuple[str, ...]
    a_units: tuple[str, ...]
    srm_p: float


def allocate(units: list[str], *, b_share: float, seed: int) -> Allocation:
    """Put each unit in B with probability ``b_share`` (seeded), then run the SRM check.

    Raises:
        InvalidInputError: fewer than 2 units, or a unit listed twice.
    """
    if len(units) < 2:
        raise InvalidInputError("a local test needs at least 2 eligible units")
    if len(set(units)) != len(units):
        raise InvalidInputError("eligible units must be distinct")
    ordered = sorted(units)
    draw = np.random.default_rng(seed).random(len(ordered)) < b_share
    b = tuple(u for u, inb in zip(ordered, draw.tolist(), strict=True) if inb)
    a = tuple(u for u, inb in zip(ordered, draw.tolist(), strict=True) if not inb)
    return Allocation(seed=seed, b_units=b, a_units=a, srm_p=srm_p_value(len(a), len(b), b_share))


def hashed_in_b(unit: str, *, seed: int, b_share: float) -> bool:
    """Whether ``unit`` is in the B cell of a test over an open population (seeded).

    Some eligible units are not known when a test starts (the batch of detractors a customer
    tactic credits is formed when the tactic fires), so they cannot be listed and drawn at
    once: each unit is instead assigned on first sight by a keyed hash of the test's logged
    seed and the unit's id, uniform on [0, 1) and compared with ``b_share``. The same unit
    always gets the same cell, and the draw replays from the seed.
    """
    digest = hashlib.blake2b(f"{seed}\x1f{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < b_share


def srm_stops(n_a: int, n_b: int, *, b_share: float, settings: ABSettings) -> bool:
    """The sample-ratio check on the units a test has reached so far, at one daily look
    (``b_share``: the test's own B share, as recorded when it started).

    Each look uses ``srm_alpha / max_days`` (Bonferroni over the looks), so a sound split is
    stopped with probability at most ``srm_alpha`` however many days it runs; fewer than 10
    reached units are not checked.
    """
    if n_a + n_b < 10:
        return False
    return srm_p_value(n_a, n_b, b_share) < settings.srm_alpha / settings.max_days


@dataclass(frozen=True, kw_only=True, slots=True)
class Look:
    """One day's reading of a test."""

    day: int
    lift: float
    se: float
    ci95: tuple[float, float]
    p_uplift: float
    p_harm: float
    guard_p_harm: float
    verdict: Verdict


def _diff(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> tuple[float, float]:
    if len(a) < 2 or len(b) < 2:
        return 0.0, math.inf
    se = math.sqrt(float(a.var(ddof=1)) / len(a) + float(b.var(ddof=1)) / len(b))
    return float(b.mean() - a.mean()), se


def look(
    *,
    day: int,
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    guard_a: npt.NDArray[np.float64] | None,
    guard_b: npt.NDArray[np.float64] | None,
    scale: float,
    guard_scale: float,
    settings: ABSettings,
) -> Look:
    """Read the test on ``day``: each unit's mean outcome so far, signed so higher is better.

    Args:
        day: days since the start (1 on the first look).
        a, b: per-unit mean outcome (higher is better) in each arm.
        guard_a, guard_b: per-unit mean of the guard-band KPI (higher is better), or None.
        scale, guard_scale: the unit-level SDs that set the mixture scales.
        settings: the test settings.
    """
    lift, se = _diff(a, b)
    if math.isinf(se):
        p_up = p_harm = 1.0
    else:
        p_up = msprt_p_uplift(lift, se, settings.tau_sd * scale)
        p_harm = msprt_p_uplift(-lift, se, settings.tau_sd * scale)
    guard_p = 1.0
    if guard_a is not None and guard_b is not None:
        g_lift, g_se = _diff(guard_a, guard_b)
        if not math.isinf(g_se):
            guard_p = msprt_p_uplift(-g_lift, g_se, settings.tau_sd * guard_scale)
    verdict: Verdict = "keep_testing"
    if guard_p <= settings.alpha:
        verdict = "stopped_guard"
    elif p_up <= settings.alpha:
        verdict = "adopt"
    elif p_harm <= settings.alpha or day >= settings.max_days:
        verdict = "drop"
    width = 1.959963984540054 * se if not math.isinf(se) else math.inf
    return Look(
        day=day,
        lift=lift,
        se=se,
        ci95=(lift - width, lift + width),
        p_uplift=p_up,
        p_harm=p_harm,
        guard_p_harm=guard_p,
        verdict=verdict,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class TestRun:
    """A whole simulated or replayed test: its allocation, every look, and the verdict."""

    allocation: Allocation
    looks: tuple[Look, ...]
    verdict: Verdict


def run_test(
    daily: npt.NDArray[np.float64],
    guard_daily: npt.NDArray[np.float64] | None,
    units: list[str],
    *,
    seed: int,
    settings: ABSettings,
    in_b: npt.NDArray[np.bool_] | None = None,
) -> TestRun:
    """Run a test over ``daily`` outcomes (units x days, higher is better) with daily looks.

    ``daily`` rows follow ``sorted(units)``. ``in_b`` overrides the seeded allocation (to replay
    a split that was actually applied, for example a broken one). The test stops at the first
    decisive look.
    """
    alloc = allocate(units, b_share=settings.b_share, seed=seed)
    ordered = sorted(units)
    if in_b is None:
        chosen = set(alloc.b_units)
        in_b = np.array([u in chosen for u in ordered])
    else:
        n_b = int(in_b.sum())
        alloc = Allocation(
            seed=seed,
            b_units=tuple(u for u, x in zip(ordered, in_b.tolist(), strict=True) if x),
            a_units=tuple(u for u, x in zip(ordered, in_b.tolist(), strict=True) if not x),
            srm_p=srm_p_value(len(ordered) - n_b, n_b, settings.b_share),
        )
    if alloc.srm_p < settings.srm_alpha:
        return TestRun(allocation=alloc, looks=(), verdict="stopped_srm")
    days = daily.shape[1]
    cum = daily.cumsum(axis=1) / np.arange(1, days + 1)
    scale = float(daily[:, 0].std()) or 1.0
    gcum = None if guard_daily is None else guard_daily.cumsum(axis=1) / np.arange(1, days + 1)
    gscale = 1.0 if guard_daily is None else float(guard_daily[:, 0].std()) or 1.0
    looks: list[Look] = []
    for d in range(min(days, settings.max_days)):
        reading = look(
            day=d + 1,
            a=cum[~in_b, d],
            b=cum[in_b, d],
            guard_a=None if gcum is None else gcum[~in_b, d],
            guard_b=None if gcum is None else gcum[in_b, d],
            scale=scale,
            guard_scale=gscale,
            settings=settings,
        )
        looks.append(reading)
        if reading.verdict != "keep_testing":
            break
    verdict = looks[-1].verdict if looks else "keep_testing"
    if verdict == "keep_testing" and len(looks) >= settings.max_days:
        verdict = "drop"
    return TestRun(allocation=alloc, looks=tuple(looks), verdict=verdict)
