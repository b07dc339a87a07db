"""Spotting gamed first-time fixes: recorded fixes that come back as recalls.

A reward on recorded first-time fixes invites recording a failure as a fix (a wrong diagnosis,
or a missing part instead of booking the follow-up); the customer calls again and the job
comes back as a recall. :class:`FixLedger` remembers each technician's recorded fixes (job id,
when) for ``window_days`` and counts those that a later visit names in ``recall_of_job_id``.

A fix recorded a week ago has had a quarter of its chance to come back, so each fix counts
with an **exposure**: the share of its recall window that has passed (1 once the window is
over). :func:`gaming_flags` estimates the network's recalls per unit of exposure, gives each
technician the recalls expected from their own exposure, and tests their count against it
(one-sided Poisson). It flags the technicians whose excess survives Benjamini-Hochberg at
``q`` across all technicians tested (many techs are looked at every night: the flags' false
discovery rate stays at ``q``) and who have at least ``min_ratio`` times the expected recalls.
An agent stops rewarding flagged techs. Judging fresh fixes by exposure, rather than waiting
for them to mature, is what lets a gamer be stopped in days rather than after a month.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import numpy as np
import polars as pl
from scipy import stats

from tailguard.errors import InvalidInputError

_VISITS: Final = pl.Schema(
    {
        "job_id": pl.String(),
        "area_id": pl.String(),
        "tech_id": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "fixed": pl.Boolean(),
    }
)


@dataclass
class FixLedger:
    """Each technician's first visits (recorded fixed or not) and which fixes came back.

    Columnar: visits are kept as Polars chunks, recalls as a set of job ids, so a night's
    :meth:`frame` over 40,000 techs is a few vectorised passes.
    """

    window_days: float = 30.0
    lag_days: float = 2.0
    _chunks: list[pl.DataFrame] = field(default_factory=list)
    came_back: set[str] = field(default_factory=set)

    def ingest(self, events: pl.DataFrame) -> None:
        """Fold completed jobs in: remember first visits, mark the fixes a recall names."""
        if events.is_empty():
            return
        done = events.filter((pl.col("type") == "job.completed") & pl.col("job_id").is_not_null())
        first = done.filter(
            pl.col("first_time_fix").is_not_null() & pl.col("tech_id").is_not_null()
        ).select(
            "job_id",
            "area_id",
            "tech_id",
            pl.col("ts").cast(pl.Datetime("us", "UTC")),
            pl.col("first_time_fix").alias("fixed"),
        )
        if first.height:
            self._chunks.append(first.cast(_VISITS))
        self.came_back.update(done["recall_of_job_id"].drop_nulls().to_list())

    def visits(self) -> pl.DataFrame:
        """Every first visit remembered (``job_id``, ``area_id``, ``tech_id``, ``ts``,
        ``fixed``)."""
        if len(self._chunks) > 1:
            self._chunks = [pl.concat(self._chunks)]
        return self._chunks[0] if self._chunks else pl.DataFrame(schema=_VISITS)

    def forget(self, before: datetime) -> None:
        """Drop visits before ``before`` (judged long ago)."""
        old = self.visits().filter(pl.col("ts") < before)
        self._chunks = [self.visits().filter(pl.col("ts") >= before)]
        self.came_back.difference_update(old["job_id"].to_list())

    def frame(
        self, now: datetime, since: datetime | Mapping[str, datetime] | None = None
    ) -> pl.DataFrame:
        """Per tech, since the reward began (``since``: one time, or one per area; None: all)
        and before it (the ``_before`` columns, the tech's own baseline): first ``visits``,
        ``unfixed`` among them, and the ``exposure`` and ``recalled`` of the recorded fixes.

        A fix's exposure is the share of its recall window that has passed: 0 for the first
        ``lag_days`` (a recall takes days to be booked and done), 1 after the window, and 1
        once it came back.
        """
        visits = self.visits()
        if isinstance(since, Mapping):
            start = pl.col("area_id").replace_strict(
                dict(since), default=None, return_dtype=pl.Datetime("us", "UTC")
            )
        else:
            start = pl.lit(since, pl.Datetime("us", "UTC"))
        window_us = self.window_days * 86_400e6
        age_us = (pl.lit(now, pl.Datetime("us", "UTC")) - pl.col("ts")).dt.total_microseconds()
        back = pl.col("job_id").is_in(list(self.came_back)) & pl.col("fixed")
        marked = visits.with_columns(
            (start.is_not_null() & (pl.col("ts") < start)).alias("before"),
            back.alias("back"),
            pl.when(back)
            .then(1.0)
            .when(pl.col("fixed"))
            .then(((age_us - self.lag_days * 86_400e6) / window_us).clip(0.0, 1.0))
            .otherwise(0.0)
            .alias("x"),
        )
        aggs = []
        for suffix, part in (("", ~pl.col("before")), ("_before", pl.col("before"))):
            aggs += [
                part.sum().cast(pl.Int64).alias(f"visits{suffix}"),
                (part & ~pl.col("fixed")).sum().cast(pl.Int64).alias(f"unfixed{suffix}"),
                pl.col("x").filter(part).sum().alias(f"exposure{suffix}"),
                (part & pl.col("back")).sum().cast(pl.Int64).alias(f"recalled{suffix}"),
            ]
        return marked.group_by("area_id", "tech_id").agg(aggs).sort("area_id", "tech_id")


def gaming_flags(
    per_tech: pl.DataFrame, *, q: float = 0.1, min_ratio: float = 1.2, min_visits: int = 8
) -> pl.DataFrame:
    """Flag techs whose fixes since the reward began look recorded rather than made.

    ``per_tech``: :meth:`FixLedger.frame`. Two one-sided tests, each against the tech's own
    baseline shrunk to the network's (honest techs differ: a few recall three times as often
    as most, and skill sets how often a first visit fails):

    * **unfixed**: a gamer records failures as fixes, so their share of first visits left
      unfixed falls; the count since the reward is tested against the beta-binomial predicted
      from the baseline (lower tail). This shows at once.
    * **recalls**: the fixes that were not come back; the recalls since the reward are tested
      against the negative binomial predicted from the baseline's rate per unit of exposure
      (upper tail). This shows as the recall windows pass.

    The two p-values are combined by Fisher's method, corrected with Benjamini-Hochberg at
    ``q`` over the techs tested, and a tech is flagged only if also their recalls are at
    least ``min_ratio`` times the predicted (a fall in unfixed visits alone may be real
    effort). Techs with fewer than ``min_visits`` first visits since the reward are not
    tested (``p`` null, never flagged).

    Returns ``per_tech`` with ``expected`` (recalls predicted), ``ratio``, ``p_unfixed``,
    ``p_recalls``, ``p``, ``q_value`` and ``flagged``.
    """
    if not 0 < q < 1 or min_ratio < 1 or min_visits < 1:
        raise InvalidInputError("q must be in (0, 1), min_ratio >= 1 and min_visits >= 1")
    cols = ("expected", "ratio", "p_unfixed", "p_recalls", "p", "q_value")
    if per_tech.is_empty():
        return per_tech.with_columns(pl.lit(None, pl.Float64).alias(c) for c in cols).with_columns(
            pl.lit(False).alias("flagged")
        )

    def arr(name: str) -> np.ndarray:
        return per_tech[name].to_numpy().astype(float)

    n, u, n0, u0 = arr("visits"), arr("unfixed"), arr("visits_before"), arr("unfixed_before")
    e, r, e0, r0 = arr("exposure"), arr("recalled"), arr("exposure_before"), arr("recalled_before")
    tested = n >= min_visits
    # Unfixed share: Beta(a, b) across techs, updated by the tech's baseline.
    a, b = _beta_prior(u0, n0, fallback=(u, n))
    p_unfixed = np.full(per_tech.height, np.nan)
    p_unfixed[tested] = stats.betabinom.cdf(
        u[tested], n[tested].astype(int), a + u0[tested], b + (n0 - u0)[tested]
    )
    # Recalls per unit of exposure: Gamma(alpha, beta) across techs, updated by the baseline;
    # the predictive count over ``e`` is negative binomial.
    alpha, beta = _gamma_prior(r0, e0, fallback=(r, e))
    expected = (alpha + r0) / (beta + e0) * e
    p_recalls = np.full(per_tech.height, np.nan)
    prob = (beta + e0) / (beta + e0 + e)
    p_recalls[tested] = stats.nbinom.sf(r[tested] - 1.0, (alpha + r0)[tested], prob[tested])
    p = np.full(per_tech.height, np.nan)
    idx = np.flatnonzero(tested)
    if idx.size:
        chi = -2.0 * (
            np.log(np.maximum(p_unfixed[idx], 1e-300)) + np.log(np.maximum(p_recalls[idx], 1e-300))
        )
        p[idx] = stats.chi2.sf(chi, df=4)
    qv = np.full(per_tech.height, np.nan)
    if idx.size:
        qv[idx] = stats.false_discovery_control(p[idx], method="bh")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(expected > 1e-9, r / np.maximum(expected, 1e-9), np.nan)
    flagged = tested & (np.nan_to_num(qv, nan=1.0) <= q) & (np.nan_to_num(ratio) >= min_ratio)
    return per_tech.with_columns(
        pl.Series("expected", expected),
        pl.Series("ratio", ratio).fill_nan(None),
        pl.Series("p_unfixed", p_unfixed).fill_nan(None),
        pl.Series("p_recalls", p_recalls).fill_nan(None),
        pl.Series("p", p).fill_nan(None),
        pl.Series("q_value", qv).fill_nan(None),
        pl.Series("flagged", flagged),
    )


def _gamma_prior(
    counts: np.ndarray, exposure: np.ndarray, *, fallback: tuple[np.ndarray, np.ndarray]
) -> tuple[float, float]:
    """Gamma(alpha, beta) of rates across techs, by moments with the Poisson noise removed.

    Fitted on the baseline (``counts`` over ``exposure``); with too little baseline, on the
    ``fallback``. A spread no larger than the noise gives a tight prior (alpha large).
    """
    r, e = counts, exposure
    if float(e.sum()) < 20.0:
        r, e = fallback
    keep = e > 0.5
    if not keep.any() or float(r[keep].sum()) == 0.0:
        return 1.0, 1.0e3  # nothing seen anywhere: a low, vague rate
    r, e = r[keep], e[keep]
    mean = float(r.sum() / e.sum())
    spread = float(np.average((r / e - mean) ** 2, weights=e)) - mean * r.shape[0] / float(e.sum())
    spread = max(spread, 0.05 * mean**2)  # at least a little heterogeneity
    return mean**2 / spread, mean / spread


def _beta_prior(
    counts: np.ndarray, trials: np.ndarray, *, fallback: tuple[np.ndarray, np.ndarray]
) -> tuple[float, float]:
    """Beta(a, b) of shares across techs, by moments with the binomial noise removed."""
    k, m = counts, trials
    if float(m.sum()) < 20.0:
        k, m = fallback
    keep = m >= 1
    if not keep.any():
        return 1.0, 1.0
    k, m = k[keep], m[keep]
    mean = float(k.sum() / m.sum())
    if mean <= 0.0 or mean >= 1.0:
        return (0.5, 50.0) if mean <= 0.0 else (50.0, 0.5)
    spread = float(np.average((k / m - mean) ** 2, weights=m)) - mean * (1 - mean) * float(
        k.shape[0] / m.sum()
    )
    spread = min(max(spread, 0.01 * mean * (1 - mean)), 0.5 * mean * (1 - mean))
    total = mean * (1 - mean) / spread - 1.0
    return mean * total, (1 - mean) * total
