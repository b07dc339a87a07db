"""The playbook generator: one lever per category per area, with a Monte Carlo of its lift.

For each area and each category (customer, technician, operations) the generator keeps the
levers whose preconditions hold (any condition; a lever without conditions always holds),
simulates each one's revenue lift, GP lift and cost over the uncertainty of its effects, and
picks the one with the best expected net GP (GP lift minus cost). When no lever of a category
is relevant it picks the best of them all and says so.

Monte Carlo: ``draws`` samples per lever; each effect is normal(mean, sd) in the KPI's unit (or
in percent of the area's current value when ``relative``), turned into money with the
library's value model (percent of the area's weekly revenue per unit, or per 1 % relative
change); cost is normal(usd_mean, usd_sd) truncated at 0. Reported: the mean and the 80 %
interval (10th and 90th percentiles), never a bare point. Draws are seeded from the area, the
week and the lever, so a rerun gives the same numbers.

Measured outcomes from the self-learn store update effects (:func:`learned_effects`): for a
lever intervention with a ``learn`` block, every executed decision of that intervention kind
with a measured ``outcome_delta`` on ``learn.outcome_kpi`` is one observation (delta x scale)
of the effect on ``learn.kpi``. The prior normal(mean, sd) and the observations (their sample
variance, or the prior variance with fewer than two) combine by precision weighting.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tailguard.metrics.kpis import KPIS
from tailguard.weekly.library import CATEGORIES, Effect, Lever, LeverLibrary

DRAWS: Final = 4000
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, slots=True)
class Interval:
    """A simulated quantity: mean and 80 % interval."""

    mean: float
    p10: float
    p90: float

    @staticmethod
    def of(draws: F64) -> Interval:
        """Summarise draws."""
        p10, p90 = np.quantile(draws, [0.1, 0.9])
        return Interval(mean=float(np.mean(draws)), p10=float(p10), p90=float(p90))

    def to_dict(self) -> dict[str, float]:
        """``{"mean", "p10", "p90"}`` rounded to cents."""
        return {"mean": round(self.mean, 2), "p10": round(self.p10, 2), "p90": round(self.p90, 2)}


@dataclass(frozen=True, kw_only=True, slots=True)
class LearnedEffect:
    """An effect estimate after measured outcomes: posterior mean and sd, observations used."""

    mean: float
    sd: float
    n: int
    prior_mean: float
    prior_sd: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Play:
    """One chosen lever for one area."""

    lever: Lever
    why: str
    relevant: bool
    revenue_lift: Interval
    gp_lift: Interval
    cost: Interval
    net_gp: Interval
    hours: float
    kpi_effects: Mapping[str, Interval]
    learned: Mapping[str, LearnedEffect] = field(default_factory=dict)
    draws: Mapping[str, F64] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``levers[]`` entry of ``okr.json``."""
        return {
            "lever_id": self.lever.id,
            "category": self.lever.category,
            "title": self.lever.title,
            "owner": self.lever.owner,
            "why": self.why,
            "relevant": self.relevant,
            "interventions": [
                {
                    "kind": iv.kind,
                    "args": iv.args,
                    "targets": iv.targets,
                    "max_targets": iv.max_targets,
                }
                for iv in self.lever.interventions
            ],
            "revenue_lift": self.revenue_lift.to_dict(),
            "gp_lift": self.gp_lift.to_dict(),
            "cost": {**self.cost.to_dict(), "hours": self.lever.cost.hours},
            "net_gp": self.net_gp.to_dict(),
            "kpi_effects": {k: v.to_dict() for k, v in self.kpi_effects.items()},
            "learned": {
                k: {"mean": v.mean, "sd": v.sd, "n": v.n, "prior_mean": v.prior_mean}
                for k, v in self.learned.items()
            },
        }


def posterior(prior_mean: float, prior_sd: float, obs: Iterable[float]) -> LearnedEffect:
    """Normal-normal update of an effect by observations (see the module docstring)."""
    xs = np.asarray([x for x in obs if math.isfinite(x)], dtype=np.float64)
    n = int(xs.size)
    if n == 0:
        return LearnedEffect(
            mean=prior_mean, sd=prior_sd, n=0, prior_mean=prior_mean, prior_sd=prior_sd
        )
    var0 = max(prior_sd, 1e-9) ** 2
    obs_var = float(np.var(xs, ddof=1)) if n >= 2 else var0
    obs_var = max(obs_var, 1e-9)
    precision = 1.0 / var0 + n / obs_var
    mean = (prior_mean / var0 + float(np.sum(xs)) / obs_var) / precision
    return LearnedEffect(
        mean=float(mean),
        sd=float(math.sqrt(1.0 / precision)),
        n=n,
        prior_mean=prior_mean,
        prior_sd=prior_sd,
    )


def learned_effects(
    library: LeverLibrary, rows: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, LearnedEffect]]:
    """``{lever_id: {kpi: LearnedEffect}}`` from self-learn rows (kind, status, outcome_kpi,
    outcome_delta); rows that are not executed or not measured are ignored."""
    obs: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        delta = row.get("outcome_delta")
        if row.get("status") != "executed" or delta is None:
            continue
        obs.setdefault((str(row.get("kind")), str(row.get("outcome_kpi"))), []).append(float(delta))
    out: dict[str, dict[str, LearnedEffect]] = {}
    for lever in library.levers.values():
        for iv in lever.interventions:
            if iv.learn is None:
                continue
            found = obs.get((iv.kind, iv.learn.outcome_kpi), [])
            if not found:
                continue
            effect = next((e for e in lever.effects if e.kpi == iv.learn.kpi), None)
            if effect is None or effect.relative:
                continue
            out.setdefault(lever.id, {})[effect.kpi] = posterior(
                effect.mean, effect.sd, (x * iv.learn.scale for x in found)
            )
    return out


def _rng(*parts: str) -> np.random.Generator:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True, kw_only=True, slots=True)
class AreaContext:
    """What the generator knows of one area: its benchmark rows and weekly money."""

    area_id: str
    week_of: str
    bench: Mapping[str, Mapping[str, Any]]
    revenue_week: float
    gp_week: float


def _holds(lever: Lever, ctx: AreaContext) -> list[str]:
    reasons = []
    for cond in lever.preconditions.any:
        row = ctx.bench.get(cond.kpi, {})
        value, pct = row.get("value"), row.get("percentile")
        title = KPIS[cond.kpi].title
        if cond.percentile_below is not None and pct is not None and pct < cond.percentile_below:
            reasons.append(
                f"{title} {value:,.1f} ranks {row.get('rank')}/{row.get('n')} "
                f"(percentile {pct:.0f} < {cond.percentile_below:g})"
            )
        elif cond.above is not None and value is not None and value > cond.above:
            reasons.append(f"{title} {value:,.1f} > {cond.above:g}")
        elif cond.below is not None and value is not None and value < cond.below:
            reasons.append(f"{title} {value:,.1f} < {cond.below:g}")
    return reasons


def simulate_lever(
    lever: Lever,
    ctx: AreaContext,
    library: LeverLibrary,
    learned: Mapping[str, LearnedEffect] | None = None,
    draws: int = DRAWS,
) -> dict[str, Any]:
    """Monte Carlo of one lever in one area: intervals of revenue, GP, cost, net GP, KPIs."""
    rng = _rng(ctx.area_id, ctx.week_of, lever.id)
    revenue = np.zeros(draws)
    gp = np.zeros(draws)
    effect_draws: dict[str, F64] = {}
    learned = learned or {}
    for eff in lever.effects:
        mean, sd = eff.mean, eff.sd
        if eff.kpi in learned and not eff.relative:
            mean, sd = learned[eff.kpi].mean, learned[eff.kpi].sd
        d = rng.normal(mean, sd, draws) if sd > 0 else np.full(draws, mean)
        base = ctx.bench.get(eff.kpi, {}).get("value")
        absolute, rel = _convert(eff, d, base)
        if absolute is not None:
            effect_draws[eff.kpi] = absolute
        vm = library.value_model.get(eff.kpi)
        if vm is None:
            continue
        change = rel if vm.per == "percent" else absolute
        if change is None:
            continue
        revenue += change * vm.revenue_pct_per_unit / 100.0 * ctx.revenue_week
        gp += change * vm.gp_pct_per_unit / 100.0 * ctx.revenue_week
    c = lever.cost
    cost = (
        np.maximum(rng.normal(c.usd_mean, c.usd_sd, draws), 0.0)
        if c.usd_sd > 0
        else np.full(draws, c.usd_mean)
    )
    named = {"revenue_lift": revenue, "gp_lift": gp, "cost": cost, "net_gp": gp - cost}
    # One quantile call over every series of the lever (a call per series cost 4x as much).
    names = [*named, *effect_draws]
    stack = np.vstack([*named.values(), *effect_draws.values()])
    p10, p90 = np.quantile(stack, [0.1, 0.9], axis=1)
    means = stack.mean(axis=1)
    summary = {
        n: Interval(mean=float(means[i]), p10=float(p10[i]), p90=float(p90[i]))
        for i, n in enumerate(names)
    }
    return {
        **{n: summary[n] for n in named},
        "kpi_effects": {k: summary[k] for k in effect_draws},
        "draws": named,
    }


def _convert(eff: Effect, d: F64, base: Any) -> tuple[F64 | None, F64 | None]:
    """(absolute change, relative change in %) of the KPI; None where the baseline is missing."""
    if base is None or not math.isfinite(float(base)):
        return (None, d) if eff.relative else (d, None)
    base = float(base)
    if eff.relative:
        return base * d / 100.0, d
    return d, (100.0 * d / base if base != 0 else None)


def choose(
    library: LeverLibrary,
    ctx: AreaContext,
    learned: Mapping[str, Mapping[str, LearnedEffect]] | None = None,
    *,
    copy_hint: Mapping[str, str] | None = None,
    draws: int = DRAWS,
) -> list[Play]:
    """Exactly one lever per category for one area (see the module docstring)."""
    learned = learned or {}
    plays: list[Play] = []
    for category in CATEGORIES:
        options = library.by_category(category)
        scored = []
        for lever in options:
            reasons = _holds(lever, ctx) if lever.preconditions.any else ["always relevant"]
            sim = simulate_lever(lever, ctx, library, learned.get(lever.id), draws)
            scored.append((bool(reasons), sim["net_gp"].mean, lever, reasons, sim))
        relevant = [s for s in scored if s[0]]
        pool = relevant or scored
        ok, _, lever, reasons, sim = max(pool, key=lambda s: (s[1], s[2].id))
        why = _why(lever, ok, reasons, sim, learned.get(lever.id, {}), copy_hint or {})
        plays.append(
            Play(
                lever=lever,
                why=why,
                relevant=ok,
                revenue_lift=sim["revenue_lift"],
                gp_lift=sim["gp_lift"],
                cost=sim["cost"],
                net_gp=sim["net_gp"],
                hours=lever.cost.hours,
                kpi_effects=sim["kpi_effects"],
                learned=learned.get(lever.id, {}),
                draws=sim["draws"],
            )
        )
    return plays


def totals(plays: Iterable[Play]) -> dict[str, Interval]:
    """Intervals of the sum over plays (levers taken as independent, draws added)."""
    plays = list(plays)
    out: dict[str, Interval] = {}
    for name in ("revenue_lift", "gp_lift", "cost", "net_gp"):
        arrays = [p.draws[name] for p in plays if name in p.draws]
        if arrays:
            out[name] = Interval.of(np.sum(arrays, axis=0))
    return out


def _why(
    lever: Lever,
    relevant: bool,
    reasons: list[str],
    sim: Mapping[str, Any],
    learned: Mapping[str, LearnedEffect],
    copy_hint: Mapping[str, str],
) -> str:
    net: Interval = sim["net_gp"]
    head = (
        "; ".join(reasons[:2])
        if relevant
        else f"no {lever.category} lever's precondition holds; this one has the best expected net GP"
    )
    text = (
        f"{head}. Expected net GP {net.mean:+,.0f} USD/week "
        f"(80 % interval {net.p10:+,.0f} to {net.p90:+,.0f}) after {sim['cost'].mean:,.0f} USD cost."
    )
    for kpi, le in learned.items():
        text += (
            f" Effect on {kpi} updated from {le.n} measured outcome(s): "
            f"{le.prior_mean:+.2f} -> {le.mean:+.2f}."
        )
    for eff in lever.effects:
        if eff.kpi in copy_hint:
            text += f" Copy from {copy_hint[eff.kpi]}, best on {KPIS[eff.kpi].title}."
            break
    return text
