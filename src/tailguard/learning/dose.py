"""The learning policy's reward model: a dose-response slope per entry, pooled by context.

The arm-by-arm model (:class:`~tailguard.learning.policy.ThompsonModel`'s ``cells``) learns each
(arm, bucket) on its own decisions: an entry with three argument levels in twelve buckets needs
36 separate estimates against the reward's noise, and a level rarely played stays unknown. What
the catalogue's levels share is that they are *doses* of one intervention: a routing boost of
0.25 is a stronger routing boost than 0.15, holding is dose 0. This model reads every decision
of an entry, at any level, as evidence about one slope:

``reward = a[bucket] + dose x slope[entry, bucket] + noise``

``a`` absorbs what the bucket's decisions share whatever was done (the tail's own recovery,
held decisions included), so the slope is the effect of acting against holding per unit of dose.
The slope of an entry in a bucket is itself additive over what a bucket is made of:

``slope[e, b] = s[e] + by_type[e, area type of b] + by_tenure[e, tenure of b] + rest[e, b]``

with Gaussian priors: ``s[e]`` around the catalogue's belief (``default_prior``, ``prior_sd``),
the two context terms around 0 (``between_sd``) and the bucket's own rest around 0 (half of it).
So a rural bucket learns from every rural decision of the entry (a routing boost that lengthens
rural detours shows in all rural buckets at once) and a veteran bucket from every veteran
decision (a shadow that veterans resent), while a bucket with no data still gets its type's and
tenure's evidence. The fit is one weighted Bayesian linear regression per catalogue group,
solved in closed form on the decisions' sufficient statistics (one row per bucket and arm), with
the same decay weights as the arm cells.

What a version keeps (:class:`SlopePosterior`) is, per (group, bucket), the joint Gaussian of the
entries' slopes there: Thompson sampling draws the slopes jointly, values every arm as
``dose x slope - cost term``, and holding as 0, so the levels of one entry move together: when
the slope is surely positive the strongest level wins, when it is surely negative holding does.
An arm's dose is what the catalogue's author declared by its arguments (:class:`ArmInfo`): the
ratio of the level's first differing numeric argument to the entry's own value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import polars as pl

from tailguard.learning.arms import is_hold

#: Area types and tenures every version carries slopes for (others fall back to the entry's).
KNOWN_TYPES: Final = ("urban", "suburban", "rural", "unknown")
KNOWN_TENURES: Final = ("rookie", "veteran", "unknown", "-")


@dataclass(frozen=True, kw_only=True, slots=True)
class ArmInfo:
    """What the policy knows of an acting arm before any data: its entry, group, dose and cost.

    Attributes:
        entry: the catalogue entry id.
        group: the entry's catalogue group.
        dose: the level's strength relative to the entry's own arguments (own level 1).
        cost_usd: the level's estimated cost.
    """

    entry: str
    group: str
    dose: float
    cost_usd: float

    def to_json(self) -> list[Any]:
        """``[entry, group, dose, cost_usd]``."""
        return [self.entry, self.group, self.dose, self.cost_usd]


@dataclass(frozen=True, kw_only=True, slots=True)
class SlopePosterior:
    """The joint Gaussian of a group's entry slopes in one bucket."""

    entries: tuple[str, ...]
    mean: tuple[float, ...]
    cov: tuple[tuple[float, ...], ...]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields, at full precision: a version read back from the ledger (after a
        restart) must choose exactly as the one fitted in memory."""
        return {
            "entries": list(self.entries),
            "mean": list(self.mean),
            "cov": [list(row) for row in self.cov],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlopePosterior:
        """The posterior :meth:`to_json` wrote."""
        return cls(
            entries=tuple(str(e) for e in data["entries"]),
            mean=tuple(float(m) for m in data["mean"]),
            cov=tuple(tuple(float(c) for c in row) for row in data["cov"]),
        )

    def draw(self, gen: np.random.Generator, n: int) -> np.ndarray:
        """``n`` joint draws of the slopes, shape ``(n, len(entries))``."""
        mean = np.asarray(self.mean)
        cov = np.asarray(self.cov)
        k = mean.shape[0]
        try:
            chol = np.linalg.cholesky(cov + 1e-12 * np.eye(k))
        except np.linalg.LinAlgError:
            chol = np.diag(np.sqrt(np.clip(np.diag(cov), 0.0, None)))
        out: np.ndarray = mean + gen.standard_normal((n, k)) @ chol.T
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class DosePriors:
    """The regression's priors (reward units)."""

    entry_mean: float
    entry_sd: float
    between_sd: float
    intercept_sd: float = 1.0


def split_bucket(bucket: str) -> tuple[str, str]:
    """(area type, tenure) of a ``type|tenure`` bucket."""
    area_type, _, tenure = bucket.partition("|")
    return area_type or "unknown", tenure or "-"


def fit_slopes(
    data: pl.DataFrame,
    arms: Mapping[str, ArmInfo],
    *,
    noise: Mapping[str, float],
    priors: DosePriors,
    day_effects: float | None = None,
) -> tuple[dict[tuple[str, str], SlopePosterior], dict[str, SlopePosterior]]:
    """Per (group, bucket) and per group (any bucket) the entries' slope posteriors.

    Args:
        data: measured decisions with ``group``, ``bucket``, ``learn_arm``, ``reward``, the
            decay weight ``w`` and, with ``day_effects``, ``decided_at``.
        arms: every acting arm's :class:`ArmInfo`.
        noise: group -> the reward's noise SD.
        priors: the regression's priors.
        day_effects: when the rewards were taken relative to their (group, bucket, day) with
            this shrinkage (:class:`~tailguard.learning.arms.RewardConfig`), the doses are
            taken relative to the same cells the same way: the within-day comparison the
            rewards keep is then the one the slopes are fitted on. (Demeaning the rewards
            alone would pull every slope towards 0 wherever a day's decisions all acted.)
    """
    by_bucket: dict[tuple[str, str], SlopePosterior] = {}
    fallback: dict[str, SlopePosterior] = {}
    groups = sorted({a.group for a in arms.values()})
    for group in groups:
        entries = sorted({a.entry for a in arms.values() if a.group == group})
        moments = _moments(data, group, entries, arms, day_effects)
        post, fall = _fit_group(
            entries,
            moments,
            sigma=float(noise.get(group, 1.0)),
            priors=priors,
        )
        fallback[group] = fall
        for bucket, p in post.items():
            by_bucket[(group, bucket)] = p
    return by_bucket, fallback


def _moments(
    data: pl.DataFrame,
    group: str,
    entries: Sequence[str],
    arms: Mapping[str, ArmInfo],
    day_effects: float | None,
) -> list[dict[str, Any]]:
    """Per bucket of ``group``: the weighted sums the regression needs (see :func:`_fit_group`).

    Each decision's regressors are its dose on its entry's column (0 elsewhere, 0 for holding),
    less their (group, bucket, day) mean shrunk like the rewards' when ``day_effects`` is set.
    """
    if data.is_empty() or not entries:
        return []
    doses = {a: i.dose for a, i in arms.items() if i.entry in entries}
    entry_of = {a: i.entry for a, i in arms.items() if i.entry in entries}
    rows = data.filter(
        (pl.col("group") == group)
        & (pl.col("learn_arm").str.starts_with("hold:") | pl.col("learn_arm").is_in(list(doses)))
    )
    if rows.is_empty():
        return []
    dose = pl.col("learn_arm").replace_strict(doses, default=0.0, return_dtype=pl.Float64)
    entry = pl.col("learn_arm").replace_strict(entry_of, default="", return_dtype=pl.String)
    xs = [f"x{i}" for i in range(len(entries))]
    rows = rows.with_columns(
        *[
            pl.when(entry == e).then(dose).otherwise(0.0).alias(x)
            for e, x in zip(entries, xs, strict=True)
        ]
    )
    if day_effects is not None:
        cell = ["bucket", pl.col("decided_at").dt.truncate("1d")]
        rows = rows.with_columns(
            (pl.col(x) - pl.col(x).sum().over(cell) / (pl.len().over(cell) + day_effects)).alias(x)
            for x in xs
        )
    w, r = pl.col("w"), pl.col("reward")
    # sorted: the order of the sums into the precision matrix must not depend on the hashing
    # (a version is the same whatever process or shard layout fitted it)
    sums = (
        rows.group_by("bucket")
        .agg(
            w.sum().alias("s0"),
            (w * r).sum().alias("r0"),
            *[(w * pl.col(x)).sum().alias(f"s_{x}") for x in xs],
            *[(w * r * pl.col(x)).sum().alias(f"r_{x}") for x in xs],
            *[(w * pl.col(x) * pl.col(y)).sum().alias(f"s_{x}_{y}") for x in xs for y in xs],
        )
        .sort("bucket")
    )
    out: list[dict[str, Any]] = []
    for row in sums.iter_rows(named=True):
        k = len(xs)
        out.append(
            {
                "bucket": str(row["bucket"]),
                "s0": float(row["s0"]),
                "r0": float(row["r0"]),
                "s": np.array([row[f"s_{x}"] for x in xs], dtype=float),
                "r": np.array([row[f"r_{x}"] for x in xs], dtype=float),
                "ss": np.array([[row[f"s_{x}_{y}"] for y in xs] for x in xs], dtype=float).reshape(
                    k, k
                ),
            }
        )
    return out


def _fit_group(
    entries: Sequence[str],
    moments: Sequence[Mapping[str, Any]],
    *,
    sigma: float,
    priors: DosePriors,
) -> tuple[dict[str, SlopePosterior], SlopePosterior]:
    """The closed-form posterior of one group's regression (see the module docstring).

    In bucket ``b`` a decision's design row is ``a_b + sum_e x_e u_(e,b)``: the bucket's
    intercept plus, for each entry, its (day-adjusted) dose times the indicator of the four
    terms that make up the entry's slope in ``b``. Its contribution to ``X'WX`` and ``X'Wr``
    is therefore fixed by the bucket's weighted moments of ``1, x_e, x_e x_f`` and of the reward.
    """
    data_buckets = sorted({str(m["bucket"]) for m in moments})
    types = sorted({split_bucket(b)[0] for b in data_buckets} | set(KNOWN_TYPES))
    tenures = sorted({split_bucket(b)[1] for b in data_buckets} | set(KNOWN_TENURES))
    buckets = sorted(set(data_buckets) | {f"{t}|{r}" for t in types for r in tenures})
    index: dict[tuple[str, ...], int] = {}
    prior_mean: list[float] = []
    prior_var: list[float] = []

    def param(key: tuple[str, ...], mean: float, sd: float) -> None:
        index[key] = len(prior_mean)
        prior_mean.append(mean)
        prior_var.append(sd * sd)

    tau = priors.between_sd
    for b in data_buckets:
        param(("a", b), 0.0, priors.intercept_sd)
    for e in entries:
        param(("s", e), priors.entry_mean, priors.entry_sd)
        for t in types:
            param(("t", e, t), 0.0, tau)
        for r in tenures:
            param(("r", e, r), 0.0, tau)
        for b in buckets:
            param(("b", e, b), 0.0, tau / 2.0)
    p = len(prior_mean)
    m0 = np.asarray(prior_mean)
    precision = np.diag(1.0 / np.asarray(prior_var))
    rhs = precision @ m0
    s2 = max(sigma, 1e-6) ** 2
    for m in moments:
        bucket = str(m["bucket"])
        t, r = split_bucket(bucket)
        a = np.zeros(p)
        a[index[("a", bucket)]] = 1.0
        u = np.zeros((len(entries), p))
        for i, e in enumerate(entries):
            for key in (("s", e), ("t", e, t), ("r", e, r), ("b", e, bucket)):
                u[i, index[key]] = 1.0
        sx: np.ndarray = m["s"]
        precision += (
            m["s0"] * np.outer(a, a) + np.outer(a, sx @ u) + np.outer(sx @ u, a) + u.T @ m["ss"] @ u
        ) / s2
        rhs += (m["r0"] * a + m["r"] @ u) / s2
    cov = np.linalg.inv(precision)
    cov = 0.5 * (cov + cov.T)
    mean = cov @ rhs

    def slope_of(area_type: str, tenure: str, bucket: str | None) -> SlopePosterior:
        rows_l = []
        extra = []
        for e in entries:
            row = np.zeros(p)
            row[index[("s", e)]] = 1.0
            add = 0.0
            for key, var in (
                (("t", e, area_type), tau * tau),
                (("r", e, tenure), tau * tau),
                (("b", e, bucket or ""), tau * tau / 4.0),
            ):
                if key in index:
                    row[index[key]] = 1.0
                else:
                    add += var
            rows_l.append(row)
            extra.append(add)
        lmat = np.asarray(rows_l)
        mu = lmat @ mean
        c = lmat @ cov @ lmat.T + np.diag(extra)
        return SlopePosterior(
            entries=tuple(entries),
            mean=tuple(float(v) for v in mu),
            cov=tuple(tuple(float(v) for v in row) for row in c),
        )

    out = {b: slope_of(*split_bucket(b), b) for b in buckets}
    return out, slope_of("", "", None)


def arm_values(
    posterior: SlopePosterior | None,
    arms: Sequence[str],
    infos: Mapping[str, ArmInfo],
    *,
    cost_weight: float,
    prior: tuple[float, float],
    gen: np.random.Generator,
    draws: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(mean values, value draws ``(draws, len(arms))``) of ``arms`` under the slopes.

    Holding is worth 0; an acting arm ``dose x slope`` less ``cost_weight`` per $100 of its
    cost. An entry the posterior does not carry is drawn from ``prior`` (mean, sd) on its own.
    """
    slopes = posterior.draw(gen, draws) if posterior is not None else np.zeros((draws, 0))
    column = {e: i for i, e in enumerate(posterior.entries)} if posterior is not None else {}
    mean_slope = np.asarray(posterior.mean) if posterior is not None else np.zeros(0)
    values = np.zeros((draws, len(arms)))
    means = np.zeros(len(arms))
    own: dict[str, np.ndarray] = {}
    for j, arm in enumerate(arms):
        if is_hold(arm):
            continue
        info = infos.get(arm) or ArmInfo(
            entry=arm.partition("@")[0], group="", dose=1.0, cost_usd=0.0
        )
        cost = cost_weight * info.cost_usd / 100.0
        i = column.get(info.entry)
        if i is not None:
            values[:, j] = info.dose * slopes[:, i] - cost
            means[j] = info.dose * float(mean_slope[i]) - cost
        else:
            if info.entry not in own:
                own[info.entry] = prior[0] + prior[1] * gen.standard_normal(draws)
            values[:, j] = info.dose * own[info.entry] - cost
            means[j] = info.dose * prior[0] - cost
    return means, values


def slope_sd(posterior: SlopePosterior, entry: str) -> tuple[float, float] | None:
    """(mean, sd) of one entry's slope, None if the posterior does not carry it."""
    if entry not in posterior.entries:
        return None
    i = posterior.entries.index(entry)
    return posterior.mean[i], math.sqrt(max(posterior.cov[i][i], 0.0))
