"""The crowd exchange against hidden truth (``tailguard crowd bench``).

For each seed: a synthetic network (:mod:`tailguard.crowd.synth`) of areas of three types and
tactics whose true effects differ by type (helpful, null or harmful), adopted at staggered
weeks. The exchange looks every week end from week 4 on (each look is a night on which new
weekly values landed) and keeps what it discovered. Then:

* ``top3_precision``: the share of the final top-3 lists' entries whose true lift in that
  cluster is positive (mean over seeds of each seed's pooled share);
* ``fdr``: the realised false discovery proportion of everything discovered on any night
  (a discovery is false when the tactic's true lift in that cluster is not positive), mean
  over seeds; ``q`` is the nominal level;
* ``bias_pct`` and ``twfe_bias_pct``: over every (tactic, cluster) estimated on the last
  night, 100 x sum of sign(true) x (estimate - true ATT) / sum of |true ATT|, for the
  Callaway-Sant'Anna estimator and the TWFE canary: negative means estimates shrunk towards
  zero, positive exaggerated (signing by the truth keeps helpful and harmful tactics' errors
  from cancelling);
* ``spread_pct_with_exchange`` / ``spread_pct_without``: for truly helpful (tactic, cluster)
  pairs, the share of the cluster's area-weeks (weeks 1..12) in which areas use the tactic,
  with the exchange's local tests and with the areas' own adoptions only;
* ``spread_after_proof_pct_with_exchange`` / ``..._without``: the same share, but only for
  the truly helpful pairs the exchange discovered and only over the weeks after the first
  night that discovered them (the exchange cannot act earlier: counting the weeks before
  dilutes the comparison); ``uptake_pct_with_exchange`` / ``..._without``: the share of the
  cluster's areas using such a tactic at the horizon; ``proven_helpful_pairs`` counts them;
* ``harmful_adoption_pct``: of the local A/B tests of a tactic that truly harms the testing
  area, the share that ended in adoption (``local_tests``, ``harmful_tests`` give the counts).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from tailguard.crowd.abtest import ABSettings, run_test
from tailguard.crowd.cluster import cluster_areas
from tailguard.crowd.did import callaway_santanna, twfe
from tailguard.crowd.exchange import ExchangeSettings, direction, estimate_lifts
from tailguard.crowd.synth import Network, make_network
from tailguard.errors import InvalidInputError

FIRST_LOOK = 4


@dataclass(frozen=True, kw_only=True, slots=True)
class SeedFigures:
    """One seed's raw counts and sums."""

    top_listed: int
    top_true: int
    discoveries: int
    false_discoveries: int
    est_minus_true: float
    twfe_minus_true: float
    abs_true: float
    local_tests: int
    harmful_tests: int
    harmful_adopted: int
    adopted: int
    spread_with: list[float]
    spread_without: list[float]
    after_with: list[float]
    after_without: list[float]
    uptake_with: list[float]
    uptake_without: list[float]
    seconds: float


def _truth(
    net: Network, clusters: dict[str, str], tactic: str, kpi: str, cluster: str, upto: int
) -> float:
    areas = [a for a, c in clusters.items() if c == cluster]
    value = net.true_lift(tactic, kpi, areas, upto)
    return 0.0 if value is None else value


def run_seed(
    seed: int,
    *,
    areas: int = 120,
    weeks: int = 12,
    tactics: int = 10,
    settings: ExchangeSettings | None = None,
    ab: ABSettings | None = None,
) -> SeedFigures:
    """Run one seed of the benchmark."""
    start = time.perf_counter()
    cfg = settings or ExchangeSettings()
    abcfg = ab or ABSettings()
    net = make_network(seed, areas=areas, weeks=weeks, tactics=tactics)
    clusters = cluster_areas(net.kpis, net.area_types, seed=cfg.seed)
    discovered: set[tuple[str, str, str]] = set()
    first_found: dict[tuple[str, str, str], int] = {}
    tested: set[tuple[str, str]] = set()
    rng = np.random.default_rng(seed + 10_007)
    local = harmful = harmful_adopted = adopted = 0
    effects = {
        (t, a): e for t, a, e in net.effects.select("tactic", "area_id", "effect").iter_rows()
    }
    last: list[Any] = []
    imported: dict[tuple[str, str], int] = {}
    for week in range(FIRST_LOOK, weeks + 1):
        kpis = net.kpis.filter(pl.col("period") <= week)
        adoptions = net.adoptions.filter(pl.col("adopted_period") <= week)
        lifts = estimate_lifts(kpis, adoptions, clusters, cfg)
        last = lifts
        for x in lifts:
            if x.discovered:
                discovered.add((x.tactic, x.kpi, x.cluster))
                first_found.setdefault((x.tactic, x.kpi, x.cluster), week)
        # Local A/B tests: areas that see a confident discovery they have not adopted.
        alpha = 1.0 - abcfg.confidence
        for x in lifts:
            if not (x.discovered and x.lift > 0 and x.p_uplift <= alpha):
                continue
            for area, cluster in clusters.items():
                if cluster != x.cluster or area in x.adopter_areas or (area, x.tactic) in tested:
                    continue
                tested.add((area, x.tactic))
                true_effect = effects[(x.tactic, area)]
                verdict, days = _simulate_local_test(rng, true_effect, abcfg, seed=len(tested))
                local += 1
                adopted += verdict == "adopt"
                if verdict == "adopt":
                    # The B cell had it from the start; the whole area from the decision on.
                    imported[(x.tactic, area)] = week + 1 + (days - 1) // 7
                if true_effect < 0:
                    harmful += 1
                    harmful_adopted += verdict == "adopt"
    top_listed = top_true = 0
    for cluster in sorted(set(clusters.values())):
        best = sorted(
            (x for x in last if x.cluster == cluster and x.discovered and x.lift > 0),
            key=lambda x: -x.lift,
        )[: cfg.top_n]
        for x in best:
            top_listed += 1
            top_true += _truth(net, clusters, x.tactic, x.kpi, cluster, weeks) > 0
    false = sum(_truth(net, clusters, t, k, c, weeks) <= 0 for t, k, c in discovered)
    with_x, without_x = _spread(net, clusters, imported)
    after = _after_proof(net, clusters, imported, first_found)
    est_minus = tw_minus = abs_true = 0.0
    for x in last:
        truth = _truth(net, clusters, x.tactic, x.kpi, x.cluster, weeks)
        panel = _panel(net, clusters, x.tactic, x.kpi, x.cluster)
        sign = direction(x.kpi)
        try:
            cs = sign * callaway_santanna(panel).att
            tw = sign * twfe(panel).att
        except InvalidInputError:
            continue
        # Signed by the truth: negative means shrunk towards zero (nulls do not count).
        towards = float(np.sign(truth))
        est_minus += towards * (cs - truth)
        tw_minus += towards * (tw - truth)
        abs_true += abs(truth)
    return SeedFigures(
        top_listed=top_listed,
        top_true=top_true,
        discoveries=len(discovered),
        false_discoveries=false,
        est_minus_true=est_minus,
        twfe_minus_true=tw_minus,
        abs_true=abs_true,
        local_tests=local,
        harmful_tests=harmful,
        harmful_adopted=harmful_adopted,
        adopted=adopted,
        spread_with=with_x,
        spread_without=without_x,
        after_with=after[0],
        after_without=after[1],
        uptake_with=after[2],
        uptake_without=after[3],
        seconds=time.perf_counter() - start,
    )


def _spread(
    net: Network, clusters: dict[str, str], imported: dict[tuple[str, str], int]
) -> tuple[list[float], list[float]]:
    """Per truly helpful (tactic, cluster): the share of the cluster's area-weeks using it.

    Without the exchange only the areas' own adoptions count; with it, also the adoptions that
    followed a local test (from the week the test decided).
    """
    with_x: list[float] = []
    without_x: list[float] = []
    weeks = net.weeks
    own = {(t, a): g for a, t, _, g in net.adoptions.iter_rows()}
    for tactic, kpi in net.adoptions.select("tactic", "kpi").unique().sort("tactic").iter_rows():
        for cluster in sorted(set(clusters.values())):
            if _truth(net, clusters, tactic, kpi, cluster, weeks) <= 0:
                continue
            members = [a for a, c in clusters.items() if c == cluster]
            base = both = 0
            for a in members:
                g = own.get((tactic, a))
                h = imported.get((tactic, a))
                start_own = g if g is not None else weeks + 1
                start_any = min(start_own, h if h is not None else weeks + 1)
                base += max(0, weeks + 1 - start_own)
                both += max(0, weeks + 1 - start_any)
            without_x.append(base / (len(members) * weeks))
            with_x.append(both / (len(members) * weeks))
    return with_x, without_x


def _after_proof(
    net: Network,
    clusters: dict[str, str],
    imported: dict[tuple[str, str], int],
    first_found: dict[tuple[str, str, str], int],
) -> tuple[list[float], list[float], list[float], list[float]]:
    """For each truly helpful (tactic, cluster) the exchange discovered on night ``d`` (the
    end of week ``d``): the share of the cluster's area-weeks ``d+1 .. weeks`` in which the
    tactic is in use, and the share of the cluster's areas using it at the horizon, with the
    exchange's adoptions and with the areas' own only."""
    weeks = net.weeks
    own = {(t, a): g for a, t, _, g in net.adoptions.iter_rows()}
    after_with: list[float] = []
    after_without: list[float] = []
    up_with: list[float] = []
    up_without: list[float] = []
    for (tactic, kpi, cluster), found in sorted(first_found.items()):
        if found >= weeks or _truth(net, clusters, tactic, kpi, cluster, weeks) <= 0:
            continue
        members = [a for a, c in clusters.items() if c == cluster]
        base = both = base_end = both_end = 0
        for a in members:
            g = own.get((tactic, a)) or weeks + 1
            h = imported.get((tactic, a)) or weeks + 1
            first_any = min(g, h)
            base += sum(1 for w in range(found + 1, weeks + 1) if w >= g)
            both += sum(1 for w in range(found + 1, weeks + 1) if w >= first_any)
            base_end += g <= weeks
            both_end += first_any <= weeks
        span = len(members) * (weeks - found)
        after_without.append(base / span)
        after_with.append(both / span)
        up_without.append(base_end / len(members))
        up_with.append(both_end / len(members))
    return after_with, after_without, up_with, up_without


def _panel(
    net: Network, clusters: dict[str, str], tactic: str, kpi: str, cluster: str
) -> pl.DataFrame:
    members = [a for a, c in clusters.items() if c == cluster]
    ad = net.adoptions.filter((pl.col("tactic") == tactic) & (pl.col("kpi") == kpi))
    return (
        net.kpis.filter((pl.col("kpi") == kpi) & pl.col("area_id").is_in(members))
        .join(ad.select("area_id", "adopted_period"), on="area_id", how="left")
        .select(
            pl.col("area_id").alias("unit"),
            "period",
            pl.col("value").alias("y"),
            pl.col("adopted_period").fill_null(0).alias("first_treated"),
        )
    )


def _simulate_local_test(
    rng: np.random.Generator, true_effect: float, settings: ABSettings, *, seed: int
) -> tuple[str, int]:
    """A local test on 60-120 units: daily unit outcomes, the B cell shifted by the true effect.

    Outcomes are in units of the area-level noise (``true_effect`` is in KPI units, signed so
    that positive is better); units are noisier than area means. A fifth of the harmful
    tactics also hurt a guard-band KPI.
    """
    n = int(rng.integers(60, 121))
    days = settings.max_days
    units = [f"u{i:04d}" for i in range(n)]
    unit_fe = rng.normal(0, 1.0, size=(n, 1))
    daily = unit_fe + rng.normal(0, 2.0, size=(n, days))
    guard = rng.normal(0, 1.0, size=(n, 1)) + rng.normal(0, 2.0, size=(n, days))
    alloc_rng = np.random.default_rng(seed)
    in_b = alloc_rng.random(n) < settings.b_share
    daily[in_b] += true_effect
    if true_effect < 0 and rng.random() < 0.2:
        guard[in_b] -= 1.0
    run = run_test(daily, guard, units, seed=seed, settings=settings, in_b=in_b)
    return run.verdict, len(run.looks)


def bench(
    seeds: int,
    *,
    seed_base: int = 0,
    areas: int = 240,
    weeks: int = 12,
    tactics: int = 10,
    settings: ExchangeSettings | None = None,
) -> dict[str, Any]:
    """The benchmark's figures over seeds ``seed_base .. seed_base + seeds - 1``."""
    if seeds < 1:
        raise InvalidInputError("--seeds must be at least 1")
    if areas < 9 or weeks < FIRST_LOOK or tactics < 1:
        raise InvalidInputError(f"need at least 9 areas, {FIRST_LOOK} weeks and 1 tactic")
    cfg = settings or ExchangeSettings()
    runs = [
        run_seed(s, areas=areas, weeks=weeks, tactics=tactics, settings=cfg)
        for s in range(seed_base, seed_base + seeds)
    ]
    precision = [r.top_true / r.top_listed for r in runs if r.top_listed]
    fdp = [r.false_discoveries / max(r.discoveries, 1) for r in runs]
    abs_true = sum(r.abs_true for r in runs) or 1.0
    harmful = sum(r.harmful_tests for r in runs)
    return {
        "top3_precision": float(np.mean(precision)) if precision else None,
        "fdr": float(np.mean(fdp)),
        "q": cfg.q,
        "bias_pct": 100.0 * sum(r.est_minus_true for r in runs) / abs_true,
        "twfe_bias_pct": 100.0 * sum(r.twfe_minus_true for r in runs) / abs_true,
        "harmful_adoption_pct": (
            100.0 * sum(r.harmful_adopted for r in runs) / harmful if harmful else 0.0
        ),
        "seeds": seeds,
        "seed_base": seed_base,
        "areas": areas,
        "weeks": weeks,
        "tactics": tactics,
        "discoveries": sum(r.discoveries for r in runs),
        "local_tests": sum(r.local_tests for r in runs),
        "local_adopted": sum(r.adopted for r in runs),
        "harmful_tests": harmful,
        "spread_pct_with_exchange": 100.0
        * float(np.mean([v for r in runs for v in r.spread_with])),
        "spread_pct_without": 100.0 * float(np.mean([v for r in runs for v in r.spread_without])),
        "proven_helpful_pairs": sum(len(r.after_with) for r in runs),
        "spread_after_proof_pct_with_exchange": _pct(v for r in runs for v in r.after_with),
        "spread_after_proof_pct_without": _pct(v for r in runs for v in r.after_without),
        "uptake_pct_with_exchange": _pct(v for r in runs for v in r.uptake_with),
        "uptake_pct_without": _pct(v for r in runs for v in r.uptake_without),
        "seconds_per_seed": float(np.mean([r.seconds for r in runs])),
    }


def _pct(values: Iterable[float]) -> float | None:
    """100 x the mean, None when there is nothing to average."""
    seen = list(values)
    return 100.0 * float(np.mean(seen)) if seen else None
