"""Choice policies: the fixed catalogue weights, uniform choice, and the learning policy.

Every policy answers one question, for one decision: given the catalogue group whose tail fires,
the context bucket and the eligible arms, with what probability is each arm chosen? The chooser
then draws one arm from exactly that vector and logs the drawn arm's probability as the
decision's propensity, so the logged propensity is exact whatever the policy.

The learning policy is batched Thompson sampling over a Gaussian model of the standardised
reward (:mod:`tailguard.learning.arms`), fitted nightly from the self-learn store:

* **prior**: before evidence, an entry's own arguments (what the catalogue's author chose) are
  believed to help a little (``default_prior`` reward units), other levels and holding not;
* **pooling**: an arm's mean in one bucket (area type x tenure) is shrunk towards the arm's mean
  over all buckets, which is itself shrunk towards 0, so a bucket with little data borrows from
  similar decisions everywhere (a small area learns from the network);
* **decay**: every observation is weighted by ``0.5 ** (age / half_life)``, so the policy
  follows effects that drift or fade;
* **burn-in**: an arm with fewer than ``burn_in`` (decayed) observations over all buckets is
  not trusted yet: with ``u`` such arms among ``K``, a share ``min(u/K, burn_in_share)`` of the
  decisions is spread evenly over them and the rest follows the posterior; when no arm is
  trusted yet, ``burn_in_share`` is spread over every arm and the rest stays on the catalogue's
  own arms (a new network starts close to the fixed weights, not at uniform choice);
* **floor**: every eligible arm keeps at least ``floor`` probability (1 % by default), so that
  any other policy can still be evaluated off-policy on the logged data;
* **the catalogue as the baseline** (``conservative``, on by default): the catalogue's own
  choice (an entry at its own arguments) is what an operator signed off; the policy moves
  probability away from it to another level, or to holding, only as far as the posterior is
  confident that the other arm is better than the best of the catalogue's arms. An arm's
  Thompson share counts in full when that confidence is at least ``confidence[1]`` (95 %), only
  a ``keep_exploring`` part of it (a quarter) below ``confidence[0]`` (80 %), linearly in
  between; what it cannot have goes back to the catalogue's arms. The part kept is what lets
  evidence about the other arms keep coming, in proportion to how uncertain the posterior is. This is baseline-guarded policy improvement in the spirit of SPIBB
  (Laroche, Trichelair and Tachet des Combes, 2019): where rewards are too noisy to tell arms
  apart, the policy does what the fixed weights do instead of spreading its decisions over
  arms it cannot rank, and it departs from them where the evidence is strong (a routing boost
  that hurts rural areas, a shadow that veterans resent).

The Thompson probabilities (the chance that each arm's posterior draw is the largest) are
estimated with ``draws`` Monte-Carlo draws (standard error at most ``0.5 / sqrt(draws)``, 0.016
at 1,000); the floor and burn-in are applied to that estimate, and the result is the exact
distribution the arm is drawn from.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import polars as pl

from tailguard.errors import InvalidInputError
from tailguard.learning.arms import is_hold, split_arm
from tailguard.learning.dose import ArmInfo, DosePriors, SlopePosterior, arm_values, fit_slopes


class ChoicePolicy(Protocol):
    """Anything that gives the choice probabilities of the eligible arms of one decision."""

    @property
    def version(self) -> str:
        """The version logged with each decision."""
        ...

    def probabilities(
        self, group: str, bucket: str, arms: Sequence[str], rng: np.random.Generator | None
    ) -> np.ndarray:
        """Probabilities of ``arms`` (same order), summing to 1."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class FixedPolicy:
    """The catalogue's fixed weights: an entry's own level with its weight; no levels, no hold.

    Args:
        weights: entry id -> catalogue weight.
        version: the catalogue's policy version.
    """

    weights: Mapping[str, float]
    version: str = "catalogue-1"

    def probabilities(
        self, group: str, bucket: str, arms: Sequence[str], rng: np.random.Generator | None
    ) -> np.ndarray:
        """Weight / sum of weights over the entries' own levels (0 for the other arms)."""
        w = np.array(
            [
                0.0 if is_hold(a) or split_arm(a)[1] else float(self.weights.get(a, 0.0))
                for a in arms
            ],
            dtype=np.float64,
        )
        total = float(w.sum())
        if total <= 0:
            return np.full(len(arms), 1.0 / len(arms))
        out: np.ndarray = w / total
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class UniformPolicy:
    """Every eligible arm (levels and hold included) equally likely."""

    version: str = "uniform"

    def probabilities(
        self, group: str, bucket: str, arms: Sequence[str], rng: np.random.Generator | None
    ) -> np.ndarray:
        """1/K for each of the K arms."""
        return np.full(len(arms), 1.0 / len(arms))


@dataclass(frozen=True, kw_only=True, slots=True)
class LearningConfig:
    """The learning policy's settings (see the module docstring)."""

    floor: float = 0.01
    burn_in: float = 8.0
    burn_in_share: float = 0.25
    hold_share: float = 0.0
    half_life_days: float = 14.0
    prior_sd: float = 1.0
    between_sd: float = 0.35
    draws: int = 1000
    cost_weight: float = 0.02
    hold_arm: bool = True
    default_prior: float = 0.1
    conservative: bool = True
    confidence: tuple[float, float] = (0.8, 0.95)
    keep_exploring: float = 0.25
    reward_clip: float | None = 3.0
    day_effects: float | None = 3.0
    structure: str = "dose"

    def __post_init__(self) -> None:
        if not 0.0 <= self.floor < 0.5:
            raise InvalidInputError("floor must be in [0, 0.5)")
        if self.half_life_days <= 0 or self.prior_sd <= 0 or self.between_sd <= 0:
            raise InvalidInputError("half_life_days, prior_sd and between_sd must be positive")
        if self.draws < 10:
            raise InvalidInputError("draws must be at least 10")
        object.__setattr__(self, "confidence", tuple(float(c) for c in self.confidence))
        lo, hi = self.confidence
        if not 0.5 <= lo < hi <= 1.0:
            raise InvalidInputError("confidence must be two levels with 0.5 <= low < high <= 1")
        if not 0.0 <= self.hold_share < 1.0:
            raise InvalidInputError("hold_share must be in [0, 1)")
        if not 0.0 < self.burn_in_share <= 1.0:
            raise InvalidInputError("burn_in_share must be in (0, 1]")
        if not 0.0 <= self.keep_exploring <= 1.0:
            raise InvalidInputError("keep_exploring must be in [0, 1]")
        if self.reward_clip is not None and self.reward_clip <= 0:
            raise InvalidInputError("reward_clip must be positive (or None)")
        if self.day_effects is not None and self.day_effects < 0:
            raise InvalidInputError("day_effects must be >= 0 (or None)")
        if self.structure not in ("dose", "arms"):
            raise InvalidInputError("structure must be 'dose' or 'arms'")


@dataclass(frozen=True, kw_only=True, slots=True)
class ArmStats:
    """Decayed sufficient statistics of one arm's rewards."""

    n: float
    mean: float
    var: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Expectation:
    """What a policy version expects an arm to do against holding (see
    :meth:`ThompsonModel.effect_vs_hold`)."""

    mean: float
    lo80: float
    hi80: float
    p_helps: float
    decisions: float
    version: str


@dataclass(kw_only=True, slots=True)
class ThompsonModel:
    """A fitted learning policy: one immutable version of it.

    Attributes:
        version: the version id (logged with every decision it takes).
        cells: (group, bucket, arm) -> statistics.
        pooled: (group, arm) -> statistics over all buckets.
        noise: group -> the standard deviation of a single reward around its arm's mean.
        config: the settings it was fitted and is applied with.
        arms: acting arm -> its entry, group, dose and cost (the dose-response model's input;
            empty: the arm-by-arm model chooses).
        slopes: (group, bucket) -> the entries' slope posterior there
            (:mod:`tailguard.learning.dose`).
        group_slopes: group -> the slopes of a bucket the version has not seen.
    """

    version: str
    cells: dict[tuple[str, str, str], ArmStats] = field(default_factory=dict)
    pooled: dict[tuple[str, str], ArmStats] = field(default_factory=dict)
    noise: dict[str, float] = field(default_factory=dict)
    config: LearningConfig = field(default_factory=LearningConfig)
    arms: dict[str, ArmInfo] = field(default_factory=dict)
    slopes: dict[tuple[str, str], SlopePosterior] = field(default_factory=dict)
    group_slopes: dict[str, SlopePosterior] = field(default_factory=dict)
    _entry_n: dict[tuple[str, str], float] = field(default_factory=dict, repr=False)

    @property
    def uses_doses(self) -> bool:
        """Whether the dose-response model chooses (else the arm-by-arm cells)."""
        return self.config.structure == "dose" and bool(self.arms)

    def trust(self, group: str, arm: str) -> float:
        """The (decayed) decisions behind an arm's estimate: its own pooled count, or, under
        the dose-response model, every decision of its entry at any level."""
        if not self.uses_doses or is_hold(arm) or arm not in self.arms:
            p = self.pooled.get((group, arm))
            return p.n if p is not None else 0.0
        if not self._entry_n:  # once per version: every decision of each entry, any level
            for (g, a), s in self.pooled.items():
                key = (g, split_arm(a)[0])
                self._entry_n[key] = self._entry_n.get(key, 0.0) + s.n
        return self._entry_n.get((group, self.arms[arm].entry), 0.0)

    def _values(
        self, group: str, bucket: str, arms: Sequence[str], gen: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(means, draws) of the arms' values: dose-response slopes or arm-by-arm cells."""
        cfg = self.config
        if self.uses_doses:
            slopes = self.slopes.get((group, bucket)) or self.group_slopes.get(group)
            return arm_values(
                slopes,
                arms,
                self.arms,
                cost_weight=cfg.cost_weight,
                prior=(cfg.default_prior, cfg.prior_sd),
                gen=gen,
                draws=cfg.draws,
            )
        post = [self.posterior(group, bucket, a) for a in arms]
        mean = np.array([m for m, _, _ in post])
        sd = np.array([s for _, s, _ in post])
        return mean, gen.standard_normal((cfg.draws, len(arms))) * sd + mean

    # ----------------------------------------------------------- posterior

    def posterior(self, group: str, bucket: str, arm: str) -> tuple[float, float, float]:
        """(mean, sd, pooled n) of the arm's expected reward in the bucket."""
        cfg = self.config
        sigma2 = self.noise.get(group, 1.0) ** 2
        p = self.pooled.get((group, arm))
        n_p, m_p = (p.n, p.mean) if p is not None else (0.0, 0.0)
        # The operator's prior: the catalogue's own arguments are believed to help a little.
        m0 = cfg.default_prior if not is_hold(arm) and "@" not in arm else 0.0
        prec_p = 1.0 / cfg.prior_sd**2 + n_p / sigma2
        mean_p = (m0 / cfg.prior_sd**2 + n_p * m_p / sigma2) / prec_p
        var_prior = 1.0 / prec_p + cfg.between_sd**2
        c = self.cells.get((group, bucket, arm))
        n_b, m_b = (c.n, c.mean) if c is not None else (0.0, 0.0)
        prec = 1.0 / var_prior + n_b / sigma2
        mean = (mean_p / var_prior + n_b * m_b / sigma2) / prec
        return mean, math.sqrt(1.0 / prec), n_p

    def probabilities(
        self, group: str, bucket: str, arms: Sequence[str], rng: np.random.Generator | None
    ) -> np.ndarray:
        """Thompson probabilities with burn-in and floor (see the module docstring)."""
        k = len(arms)
        if k == 1:
            return np.ones(1)
        gen = rng if rng is not None else np.random.default_rng(_stable_seed(group, bucket, arms))
        mean, draws = self._values(group, bucket, arms, gen)
        p = np.bincount(draws.argmax(axis=1), minlength=k) / self.config.draws
        if self.config.conservative:
            p = self._guard(arms, mean, draws, p)
        untrusted = np.array([self.trust(group, a) < self.config.burn_in for a in arms])
        if untrusted.any() and not untrusted.all():
            # Burn-in: a share of the decisions goes uniformly to the u untrusted arms (u/K, at
            # most ``burn_in_share``), whatever the (still unreliable) posterior says; the rest
            # follows the guarded posterior, i.e. mostly the catalogue's own choice.
            share = min(untrusted.sum() / k, self.config.burn_in_share)
            p = share * untrusted / untrusted.sum() + (1.0 - share) * p
        elif untrusted.any():
            # Nothing is trusted yet (a new network): explore every arm with the burn-in share,
            # keep the rest on the catalogue's arms (uniform when the catalogue offers none).
            base = np.array([not is_hold(a) and split_arm(a)[1] == 0 for a in arms], dtype=float)
            if not self.config.conservative or not base.any():
                base = np.ones(k)
            share = self.config.burn_in_share
            p = share / k + (1.0 - share) * base / base.sum()
        if self.config.hold_share > 0:
            p = self._control(arms, draws, p)
        return apply_floor(p, self.config.floor)

    def _control(self, arms: Sequence[str], draws: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Keep ``hold_share`` of the decisions on holding until acting is known to beat it.

        Holding is the control group of every intervention: while the posterior is less than
        ``confidence[1]`` sure that the best acting arm beats holding in this bucket, at least
        ``hold_share`` of the decisions hold (at random, logged), so a harmful context shows up
        and the guard above can move the decisions to holding.
        """
        hold = [i for i, a in enumerate(arms) if is_hold(a)]
        if len(hold) != 1 or len(arms) < 2:
            return p
        h = hold[0]
        acting = np.delete(draws, h, axis=1).max(axis=1)
        if float((acting > draws[:, h]).mean()) >= self.config.confidence[1]:
            return p
        share = self.config.hold_share
        if p[h] >= share:
            return p
        rest = 1.0 - p[h]
        out = p * ((1.0 - share) / rest) if rest > 0 else np.full_like(p, 0.0)
        out[h] = share
        return out

    def _guard(
        self, arms: Sequence[str], mean: np.ndarray, draws: np.ndarray, p: np.ndarray
    ) -> np.ndarray:
        """Keep on the catalogue's arms the share of every other arm not credibly better."""
        base = np.array([not is_hold(a) and split_arm(a)[1] == 0 for a in arms])
        if not base.any() or base.all():
            return p
        best = int(np.flatnonzero(base)[np.argmax(mean[base])])
        confident = (draws > draws[:, [best]]).mean(axis=0)
        lo, hi = self.config.confidence
        credible = np.clip((confident - lo) / (hi - lo), 0.0, 1.0)
        gate = np.where(base, 1.0, np.maximum(credible, self.config.keep_exploring))
        kept = p * gate
        spare = 1.0 - float(kept.sum())
        on_base = p * base
        share = on_base / on_base.sum() if on_base.sum() > 0 else base / base.sum()
        out: np.ndarray = kept + spare * share
        return out

    def arm_value(self, group: str, bucket: str, arm: str) -> tuple[float, float]:
        """(mean, sd) of what the model expects of ``arm`` in the bucket: under the
        dose-response model its value against holding (holding 0), else the arm's own
        posterior reward."""
        if self.uses_doses:
            if is_hold(arm):
                return 0.0, 0.0
            found = self.effect_vs_hold(group, bucket, arm)
            if found is not None:
                return found.mean, (found.hi80 - found.mean) / 1.2816
        mean, sd, _ = self.posterior(group, bucket, arm)
        return mean, sd

    def effect_vs_hold(self, group: str, bucket: str, arm: str) -> Expectation | None:
        """What this version expects ``arm`` to do against holding, in the bucket.

        The difference of the two posterior means (reward units: the target KPI's change in
        robust spreads, better positive, net of the cost term), an 80 % interval from the two
        posterior spreads, the posterior probability that acting beats holding, and the
        (decayed) decisions behind it. None for a hold arm.
        """
        if is_hold(arm):
            return None
        post = self.slopes.get((group, bucket)) or self.group_slopes.get(group)
        info = self.arms.get(arm)
        if self.uses_doses and post is not None and info is not None and info.entry in post.entries:
            i = post.entries.index(info.entry)
            cost = self.config.cost_weight * info.cost_usd / 100.0
            diff = info.dose * post.mean[i] - cost
            sd = info.dose * math.sqrt(max(post.cov[i][i], 0.0))
        else:
            mean_a, sd_a, _ = self.posterior(group, bucket, arm)
            mean_h, sd_h, _ = self.posterior(group, bucket, f"hold:{group}")
            diff, sd = mean_a - mean_h, math.hypot(sd_a, sd_h)
        cell = self.cells.get((group, bucket, arm))
        return Expectation(
            mean=diff,
            lo80=diff - 1.2816 * sd,
            hi80=diff + 1.2816 * sd,
            p_helps=0.5 * (1.0 + math.erf(diff / (sd * math.sqrt(2.0)))) if sd > 0 else 1.0,
            decisions=cell.n if cell is not None else 0.0,
            version=self.version,
        )

    # --------------------------------------------------------- persistence

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (what a policy version stores)."""
        return {
            "version": self.version,
            "config": asdict(self.config),
            "noise": dict(sorted(self.noise.items())),
            "cells": [[g, b, a, s.n, s.mean, s.var] for (g, b, a), s in sorted(self.cells.items())],
            "pooled": [[g, a, s.n, s.mean, s.var] for (g, a), s in sorted(self.pooled.items())],
            "arms": {a: info.to_json() for a, info in sorted(self.arms.items())},
            "slopes": [[g, b, p.to_json()] for (g, b), p in sorted(self.slopes.items())],
            "group_slopes": {g: p.to_json() for g, p in sorted(self.group_slopes.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ThompsonModel:
        """The model :meth:`to_json` wrote."""
        return cls(
            version=str(data["version"]),
            config=LearningConfig(**data.get("config", {})),
            noise={str(k): float(v) for k, v in data.get("noise", {}).items()},
            cells={
                (str(g), str(b), str(a)): ArmStats(n=float(n), mean=float(m), var=float(v))
                for g, b, a, n, m, v in data.get("cells", [])
            },
            pooled={
                (str(g), str(a)): ArmStats(n=float(n), mean=float(m), var=float(v))
                for g, a, n, m, v in data.get("pooled", [])
            },
            arms={
                str(a): ArmInfo(entry=str(e), group=str(g), dose=float(d), cost_usd=float(c))
                for a, (e, g, d, c) in data.get("arms", {}).items()
            },
            slopes={
                (str(g), str(b)): SlopePosterior.from_json(p) for g, b, p in data.get("slopes", [])
            },
            group_slopes={
                str(g): SlopePosterior.from_json(p) for g, p in data.get("group_slopes", {}).items()
            },
        )


def apply_floor(p: np.ndarray, floor: float) -> np.ndarray:
    """Mix ``p`` with uniform so every arm has at least ``floor`` (when K x floor <= 1)."""
    k = p.shape[0]
    p = p / p.sum()
    if k <= 1 or floor <= 0 or p.min() >= floor:
        return p
    f = min(floor, 1.0 / k)
    out: np.ndarray = f + (1.0 - k * f) * p
    return out


def _stable_seed(group: str, bucket: str, arms: Sequence[str]) -> int:
    text = json.dumps([group, bucket, list(arms)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def learning_arm(rewarded: pl.DataFrame) -> pl.Expr:
    """The arm a measured decision teaches about: held, rejected or timed-out decisions did not
    act, so they are evidence for their group's hold arm."""
    return (
        pl.when(pl.col("acted"))
        .then(pl.col("arm"))
        .otherwise(pl.lit("hold:") + pl.col("group"))
        .alias("learn_arm")
    )


def fit_thompson(
    rewarded: pl.DataFrame,
    *,
    now: datetime,
    version: str,
    config: LearningConfig | None = None,
    arms: Mapping[str, ArmInfo] | None = None,
) -> ThompsonModel:
    """Fit the learning policy on measured decisions (:func:`~tailguard.learning.arms.rewards`).

    Only decisions taken at or before ``now`` count, each weighted by its age. With ``arms``
    (every acting arm's dose and cost) and ``structure="dose"``, the dose-response slopes are
    fitted too and choose (:mod:`tailguard.learning.dose`); the rewards should then not hold
    the cost term (the model takes it off each arm's value itself).
    """
    cfg = config or LearningConfig()
    model = ThompsonModel(version=version, config=cfg, arms=dict(arms or {}))
    if rewarded.is_empty():
        if model.uses_doses:
            _fit_doses(model, rewarded)
        return model
    age_days = (pl.lit(now) - pl.col("decided_at")).dt.total_seconds() / 86_400.0
    data = rewarded.filter(pl.col("decided_at") <= now).with_columns(
        learning_arm(rewarded),
        (0.5 ** (age_days.clip(lower_bound=0.0) / cfg.half_life_days)).alias("w"),
    )
    if data.is_empty():
        return model

    def stats(keys: list[str]) -> pl.DataFrame:
        return (
            data.group_by(keys)
            .agg(
                pl.col("w").sum().alias("n"),
                ((pl.col("w") * pl.col("reward")).sum() / pl.col("w").sum()).alias("mean"),
            )
            .join(data.select(*keys, "w", "reward"), on=keys)
            .group_by(keys)
            .agg(
                pl.col("n").first(),
                pl.col("mean").first(),
                (
                    (pl.col("w") * (pl.col("reward") - pl.col("mean")) ** 2).sum()
                    / pl.col("w").sum()
                ).alias("var"),
            )
            .sort(keys)
        )

    for g, b, a, n, m, v in stats(["group", "bucket", "learn_arm"]).iter_rows():
        model.cells[(g, b, a)] = ArmStats(n=n, mean=m, var=v)
    pooled = stats(["group", "learn_arm"])
    for g, a, n, m, v in pooled.iter_rows():
        model.pooled[(g, a)] = ArmStats(n=n, mean=m, var=v)
    noise = pooled.group_by("group").agg(
        ((pl.col("n") * pl.col("var")).sum() / pl.col("n").sum()).sqrt().alias("sd")
    )
    for g, sd in noise.iter_rows():
        model.noise[g] = float(min(max(sd if sd is not None else 1.0, 0.3), 3.0))
    if model.uses_doses:
        _fit_doses(model, data)
    return model


def _fit_doses(model: ThompsonModel, data: pl.DataFrame) -> None:
    """Fit the dose-response slopes of ``model`` on weighted, measured decisions."""
    cfg = model.config
    if data.is_empty() or "w" not in data.columns:
        data = pl.DataFrame(
            schema={
                "group": pl.String,
                "bucket": pl.String,
                "learn_arm": pl.String,
                "reward": pl.Float64,
                "w": pl.Float64,
                "decided_at": pl.Datetime("us", "UTC"),
            }
        )
    model.slopes, model.group_slopes = fit_slopes(
        data,
        model.arms,
        noise=model.noise,
        priors=DosePriors(
            entry_mean=cfg.default_prior, entry_sd=cfg.prior_sd, between_sd=cfg.between_sd
        ),
        day_effects=cfg.day_effects,
    )
