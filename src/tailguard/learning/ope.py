"""Off-policy evaluation: what another policy would have earned on the decisions we logged.

Given measured decisions (:func:`tailguard.learning.arms.rewards`) with their logged propensity
``mu_i`` and the candidate policy's probabilities ``pi(.|x_i)`` over the same eligible arms, with
``w_i = pi(a_i|x_i) / mu_i``:

* **IPS**: ``mean(w r)``. Unbiased when every arm the candidate may choose had a positive logged
  propensity; its variance grows with the weights.
* **SNIPS**: ``sum(w r) / sum(w)``. Self-normalised: slightly biased, far steadier.
* **DM** (direct method): ``mean(sum_a pi(a|x) q(x, a))`` with ``q`` a reward model: the mean
  reward of each (group, bucket, arm), shrunk towards the arm's mean over buckets and towards 0
  (the learning policy's own posterior mean), fitted on the other half of the areas
  (cross-fitting, so no decision's reward predicts itself). Biased when ``q`` is wrong.
* **DR** (doubly robust): ``DM + mean(w (r - q(x, a_i)))``, unbiased if either the propensities
  or the reward model are right; **SNDR** normalises the correction by ``sum(w)``.

Each estimate has a 95 % percentile-bootstrap interval that resamples *areas* (decisions of one
area are not independent), computed from per-area sums in one matrix product. The effective
sample size is ``(sum w)^2 / sum w^2``.

Decisions still inside their horizon, or never measurable, are left out and counted. A zero or
missing logged propensity makes IPS undefined: it is refused with an error naming the decision.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from tailguard.errors import InvalidInputError
from tailguard.learning.arms import MEASURED_STATUSES
from tailguard.learning.policy import ChoicePolicy, LearningConfig, fit_thompson

#: A candidate policy's probabilities for one decision: (group, bucket, arms) -> vector.
Probabilities = Callable[[str, str, Sequence[str]], np.ndarray]

ESTIMATORS = ("ips", "snips", "dm", "dr", "sndr")


@dataclass(frozen=True, kw_only=True, slots=True)
class OpeResult:
    """An evaluation: every estimator with its interval, the data used and left out."""

    policy: str
    n: int
    areas: int
    left_out: dict[str, int]
    ess: float
    logged_value: float | None
    estimators: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """The ``learn evaluate`` output (INTERFACES.md section 6)."""
        return {
            "policy": self.policy,
            "n": self.n,
            "areas": self.areas,
            "left_out": self.left_out,
            "ess": self.ess,
            "logged_value": self.logged_value,
            "estimators": self.estimators,
        }


def left_out_counts(decisions: pl.DataFrame, now: datetime | None) -> dict[str, int]:
    """Why decisions of the store are not used: inside their horizon, never measurable, ..."""
    measured = (
        pl.col("status").is_in(MEASURED_STATUSES)
        & pl.col("outcome_value").is_not_null()
        & pl.col("baseline_value").is_not_null()
    )
    inside = pl.col("status").is_in(MEASURED_STATUSES) & pl.col("measured_at").is_null()
    if now is not None:
        inside = inside | (pl.col("horizon_at") > pl.lit(now))
    counts = decisions.select(
        (~measured & inside).sum().alias("inside_horizon"),
        (pl.col("outcome_kpi").is_null()).sum().alias("no_outcome_kpi"),
        (pl.col("status").is_in(("decided", "pending_approval"))).sum().alias("undecided"),
        (pl.col("status").is_in(("failed", "skipped"))).sum().alias("failed_or_skipped"),
        (
            pl.col("status").is_in(MEASURED_STATUSES)
            & pl.col("measured_at").is_not_null()
            & (pl.col("outcome_value").is_null() | pl.col("baseline_value").is_null())
        )
        .sum()
        .alias("no_value"),
    )
    return {k: int(v) for k, v in counts.row(0, named=True).items()}


def _fold_of(areas: pl.Series, folds: int) -> np.ndarray:
    return np.array([zlib.crc32(a.encode()) % folds for a in areas.to_list()], dtype=np.int64)


def _cross_fit(rewarded: pl.DataFrame, folds: int) -> tuple[np.ndarray, list[Any]]:
    # The reward model is the learning policy's posterior mean with the logged arm as the arm
    # (no decay, no cost): what each arm earned, pooled across buckets.
    fold = _fold_of(rewarded["area_id"], folds)
    logged = rewarded.with_columns(pl.lit(True).alias("acted"))
    models = []
    cfg = LearningConfig(half_life_days=1e9, cost_weight=0.0)
    now = rewarded["decided_at"].max()
    for k in range(folds):
        train = logged.filter(pl.Series(fold != k)) if folds > 1 else logged
        models.append(fit_thompson(train, now=now, version=f"dm-{k}", config=cfg))  # type: ignore[arg-type]
    groups, buckets, arms = (rewarded[c].to_list() for c in ("group", "bucket", "arm"))
    q = np.array(
        [
            models[int(fold[i])].posterior(groups[i], buckets[i], arms[i])[0]
            for i in range(rewarded.height)
        ]
    )
    return q, models


def evaluate(
    rewarded: pl.DataFrame,
    policy: ChoicePolicy,
    *,
    name: str,
    left_out: dict[str, int] | None = None,
    bootstrap: int = 500,
    seed: int = 0,
    folds: int = 2,
    q: Callable[[str, str, str], float] | None = None,
) -> OpeResult:
    """Every estimator of ``policy``'s value on the measured decisions ``rewarded``.

    ``rewarded`` needs ``area_id``, ``group``, ``bucket``, ``arm``, ``arms`` (the eligible
    arms, in the logged order; an empty list means only the logged arm is known),
    ``propensity``, ``reward`` and ``decided_at``.

    ``q``: a reward model ``(group, bucket, arm) -> expected reward`` to use instead of the
    cross-fitted one (for a model fitted elsewhere, and for hand-checked tests).

    Raises:
        InvalidInputError: a decision's logged propensity is zero, negative, missing or > 1.
    """
    n = rewarded.height
    if n == 0:
        empty = {k: {"value": None, "ci95": [None, None]} for k in ESTIMATORS}
        return OpeResult(
            policy=name, n=0, areas=0, left_out=left_out or {}, ess=0.0, logged_value=None,
            estimators=empty,
        )  # fmt: skip
    mu = rewarded["propensity"].to_numpy().astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(mu) | (mu <= 0) | (mu > 1))
    if bad.size:
        did = rewarded["decision_id"][int(bad[0])] if "decision_id" in rewarded.columns else bad[0]
        raise InvalidInputError(
            f"decision {did}: logged propensity {mu[bad[0]]!r} is not in (0, 1]; "
            "importance weights are undefined"
        )
    r = rewarded["reward"].to_numpy().astype(np.float64)
    groups, buckets, arms_logged = (rewarded[c].to_list() for c in ("group", "bucket", "arm"))
    fold_of = _fold_of(rewarded["area_id"], folds).tolist()
    if q is None:
        q_logged, models = _cross_fit(rewarded, folds)
        fold = _fold_of(rewarded["area_id"], folds)

        def model_q(i: int, arm: str) -> float:
            return float(models[int(fold[i])].posterior(groups[i], buckets[i], arm)[0])
    else:
        q_logged = np.array([q(groups[i], buckets[i], arms_logged[i]) for i in range(n)])

        def model_q(i: int, arm: str) -> float:
            assert q is not None
            return float(q(groups[i], buckets[i], arm))

    eligible = rewarded["arms"].to_list()
    pi_logged = np.empty(n)
    dm = np.empty(n)
    # Decisions share few distinct (group, bucket, eligible arms): the policy's vector and the
    # reward model's values are computed once per distinct context (and fold), not per row.
    probs_cache: dict[tuple[str, str, tuple[str, ...]], np.ndarray] = {}
    q_cache: dict[tuple[int, str, str, tuple[str, ...]], np.ndarray] = {}
    for i in range(n):
        arms = list(eligible[i] or []) or [arms_logged[i]]
        if arms_logged[i] not in arms:
            arms.append(arms_logged[i])
        key = (groups[i], buckets[i], tuple(arms))
        p = probs_cache.get(key)
        if p is None:
            p = probs_cache[key] = policy.probabilities(groups[i], buckets[i], arms, None)
        j = arms.index(arms_logged[i])
        pi_logged[i] = p[j]
        qkey = (fold_of[i] if q is None else 0, *key)
        qs = q_cache.get(qkey)
        if qs is None:
            qs = q_cache[qkey] = np.array([model_q(i, a) for a in arms])
        dm[i] = float(p @ qs)
    w = pi_logged / mu
    # Per-area sums, then a multinomial bootstrap over areas as one matrix product.
    area_codes, area_index = np.unique(rewarded["area_id"].to_numpy(), return_inverse=True)
    cols = np.stack([w * r, w, w * w, dm, w * (r - q_logged), np.ones(n), r], axis=1)
    per_area = np.zeros((area_codes.shape[0], cols.shape[1]))
    np.add.at(per_area, area_index, cols)
    point = _estimates(per_area.sum(axis=0, keepdims=True))[0]
    rng = np.random.default_rng(seed)
    a = per_area.shape[0]
    counts = rng.multinomial(a, np.full(a, 1.0 / a), size=bootstrap).astype(np.float64)
    boot = _estimates(counts @ per_area)
    out: dict[str, dict[str, Any]] = {}
    for k, name_k in enumerate(ESTIMATORS):
        finite = boot[:, k][np.isfinite(boot[:, k])]
        lo, hi = np.percentile(finite, [2.5, 97.5]) if finite.size else (np.nan, np.nan)
        out[name_k] = {"value": _num(point[k]), "ci95": [_num(lo), _num(hi)]}
    ess = float(w.sum() ** 2 / (w * w).sum()) if (w * w).sum() > 0 else 0.0
    return OpeResult(
        policy=name,
        n=n,
        areas=int(a),
        left_out=left_out or {},
        ess=round(ess, 3),
        logged_value=_num(float(r.mean())),
        estimators=out,
    )


def _estimates(sums: np.ndarray) -> np.ndarray:
    """(B, 5) estimates from (B, 7) sums: [w r, w, w^2, dm, w (r - q), n, r]."""
    wr, w, _w2, dm, res, n = (sums[:, k] for k in range(6))
    with np.errstate(divide="ignore", invalid="ignore"):
        ips = wr / n
        snips = wr / w
        dmv = dm / n
        dr = dmv + res / n
        sndr = dmv + res / w
    return np.stack([ips, snips, dmv, dr, sndr], axis=1)


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)
