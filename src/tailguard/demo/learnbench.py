"""The learning benchmark: policies run on the simulator and judged against its hidden truth.

For each seed, the same simulated network (same warm-up, common random numbers) runs for the
same weeks under every policy: agents off, the catalogue's fixed weights, uniform choice over
every arm, the learning policy (nightly updates, guardrail) and an oracle that reads the
simulator's true expected effects (:mod:`tailguard.sim.truth`; the ceiling). Agents never see
the truth; this harness does, to score them:

* the share of area-hours inside every guard-band, week by week (and each band);
* cumulative regret: for every decision, the true effect of the best arm the policy could have
  played there (any level of the eligible entries, or holding) minus the true effect of the arm
  it played, in units of the kind's largest effect (:func:`tailguard.sim.truth.normalised`);
* harmful picks: decisions that played an arm whose true effect in its context is negative;
* spend (what the simulator charged).

Means over seeds, with paired 95 % intervals (t over seeds) for learning minus fixed per week.
Runs are spread over processes (one policy x seed each).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from tailguard.agents.catalogue import Catalogue, default_catalogue
from tailguard.agents.world import build_world, warm_up
from tailguard.learning.arms import is_hold, split_arm
from tailguard.learning.policy import LearningConfig
from tailguard.metrics import ScorecardEngine
from tailguard.rules.guardbands import GUARD_BANDS, inside_expr
from tailguard.sim import NetworkConfig, Simulator
from tailguard.sim.evaluation import Evaluation
from tailguard.sim.truth import normalised

POLICIES: Final = ("off", "fixed", "uniform", "learning", "oracle")
_BANDS = [b for b in GUARD_BANDS if b.kind == "threshold"]


@dataclass(frozen=True, kw_only=True, slots=True)
class BenchConfig:
    """What the benchmark runs."""

    areas: int = 20
    weeks: int = 3
    seeds: int = 3
    seed_base: int = 1
    warmup_days: int = 7
    policies: tuple[str, ...] = POLICIES
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    structure: str = "dose"

    def __post_init__(self) -> None:
        from tailguard.errors import InvalidInputError

        if not 1 <= self.areas <= 4000:
            raise InvalidInputError("--areas must be between 1 and 4000")
        if not 1 <= self.weeks <= 12:
            raise InvalidInputError("--weeks must be between 1 and 12")
        if not 1 <= self.warmup_days <= 28:
            raise InvalidInputError("--warmup-days must be between 1 and 28")
        if not 1 <= self.seeds <= 1000:
            raise InvalidInputError("--seeds must be between 1 and 1000")
        if self.structure not in ("dose", "arms"):
            raise InvalidInputError("--structure must be dose or arms")
        unknown = set(self.policies) - set(POLICIES)
        if unknown:
            raise InvalidInputError(f"unknown policies {sorted(unknown)} (one of {POLICIES})")


@dataclass(frozen=True, kw_only=True, slots=True)
class OraclePolicy:
    """Plays the arm with the largest true expected effect (hold when none helps).

    For evaluation only: it reads :mod:`tailguard.sim.truth`. Ties go to the cheaper arm.
    """

    catalogue: Catalogue
    version: str = "oracle"

    def probabilities(
        self, group: str, bucket: str, arms: Sequence[str], rng: np.random.Generator | None
    ) -> np.ndarray:
        """One-hot on the truly best arm."""
        values = [(truth_of(self.catalogue, a, bucket), -cost_of(self.catalogue, a)) for a in arms]
        best = max(range(len(arms)), key=lambda i: values[i])
        out = np.zeros(len(arms))
        out[best] = 1.0
        return out


def truth_of(catalogue: Catalogue, arm: str, bucket: str) -> float:
    """The normalised true effect of ``arm`` in ``bucket`` (0 for hold)."""
    if is_hold(arm):
        return 0.0
    entry_id, level = split_arm(arm)
    entry = catalogue.entry(entry_id)
    area_type, _, tenure = bucket.partition("|")
    kpi = entry.outcome.kpi if entry.outcome is not None else None
    return normalised(entry.kind, entry.level_args(level), area_type, tenure, kpi)


def cost_of(catalogue: Catalogue, arm: str) -> float:
    """The estimated cost of ``arm`` (0 for hold)."""
    if is_hold(arm):
        return 0.0
    entry_id, level = split_arm(arm)
    return catalogue.entry(entry_id).level_cost(level)


def full_arms(catalogue: Catalogue, arms: Sequence[str], group: str) -> list[str]:
    """Every arm the group could have played where ``arms`` were offered: all levels, hold."""
    out: list[str] = []
    for a in arms:
        if is_hold(a):
            continue
        entry = catalogue.entry(split_arm(a)[0])
        for level in range(len(entry.levels) + 1):
            name = entry.id if level == 0 else f"{entry.id}@{level}"
            if name not in out:
                out.append(name)
    out.append(f"hold:{group}")
    return out


def score_decisions(catalogue: Catalogue, decisions: pl.DataFrame) -> dict[str, float]:
    """Regret (sum), harmful picks (% of decisions) and counts of a run's decisions."""
    if decisions.is_empty():
        return {"decisions": 0, "regret": 0.0, "harmful_pct": 0.0, "held_pct": 0.0}
    ctx = decisions["context"].to_list()
    regret = 0.0
    harmful = 0
    held = 0
    for text, entry_id in zip(ctx, decisions["entry_id"].to_list(), strict=True):
        c = json.loads(text)
        arm = c.get("arm", entry_id)
        group = c.get("group") or catalogue.entry(entry_id).group
        bucket = c.get("bucket", "unknown|-")
        offered = c.get("arms") or [arm]
        played = truth_of(catalogue, arm, bucket)
        best = max(truth_of(catalogue, a, bucket) for a in full_arms(catalogue, offered, group))
        regret += max(0.0, best - played)
        harmful += int(not is_hold(arm) and played < 0)
        held += int(is_hold(arm))
    n = decisions.height
    return {
        "decisions": n,
        "regret": round(regret, 4),
        "harmful_pct": round(100.0 * harmful / n, 3),
        "held_pct": round(100.0 * held / n, 3),
    }


def score_by_week(
    catalogue: Catalogue, decisions: pl.DataFrame, start: datetime, weeks: int
) -> list[dict[str, float]]:
    """:func:`score_decisions` for each week after ``start`` (week 1 first)."""
    out: list[dict[str, float]] = []
    for w in range(weeks):
        lo, hi = start + timedelta(days=7 * w), start + timedelta(days=7 * (w + 1))
        part = (
            decisions.filter((pl.col("decided_at") >= lo) & (pl.col("decided_at") < hi))
            if not decisions.is_empty()
            else decisions
        )
        out.append(score_decisions(catalogue, part))
    return out


def _shares(scorecard: pl.DataFrame) -> dict[str, float]:
    exprs = {b.id: inside_expr(b).fill_null(True) for b in _BANDS}
    row = scorecard.select(
        pl.all_horizontal(list(exprs.values())).cast(pl.Float64).mean().alias("all"),
        *[e.cast(pl.Float64).mean().alias(k) for k, e in exprs.items()],
    ).row(0, named=True)
    return {k: 100.0 * float(v) for k, v in row.items() if v is not None}


def run_one(policy: str, seed: int, config: BenchConfig, workdir: str) -> dict[str, Any]:
    """One policy on one seed: weekly guard-band shares, regret, harmful picks, spend."""
    sim = Simulator(NetworkConfig(areas=config.areas, seed=seed))
    engine = ScorecardEngine()
    signals = warm_up(sim, engine, config.warmup_days * 24)
    start = sim.now
    hours = config.weeks * 7 * 24
    weekly: list[dict[str, float]] = []
    acc: dict[str, float] = {}
    out = Path(workdir) / f"{policy}-{seed}"
    out.mkdir(parents=True, exist_ok=True)
    catalogue = default_catalogue()
    world = None
    if policy != "off":
        choice = OraclePolicy(catalogue=catalogue) if policy == "oracle" else None
        if policy == "uniform":
            from tailguard.learning.policy import UniformPolicy

            choice = UniformPolicy()  # type: ignore[assignment]
        world = build_world(
            sim,
            engine,
            out,
            seed=seed,
            catalogue=catalogue,
            policy="learning" if policy == "learning" else "fixed",
            choice_policy=choice,
            learning_config=LearningConfig(structure=config.structure),
            pulse=False,
            signals=signals,
            durable=False,
        )
    for h in range(hours):
        if world is None:
            engine.ingest(sim.step())
            sc = engine.scorecard(sim.now)
        else:
            world.hour()
            assert world.agents.last_scorecard is not None
            sc = world.agents.last_scorecard
        for k, v in _shares(sc).items():
            acc[k] = acc.get(k, 0.0) + v
        if (h + 1) % (7 * 24) == 0:
            weekly.append({k: round(v / (7 * 24), 4) for k, v in acc.items()})
            acc = {}
    result: dict[str, Any] = {
        "policy": policy,
        "seed": seed,
        "weekly": weekly,
        "spend_usd": round(sum(Evaluation(sim).spend().values()), 2),
    }
    if world is not None:
        decisions = world.learning.frame()
        result.update(score_decisions(catalogue, decisions))
        result["by_week"] = score_by_week(catalogue, decisions, start, config.weeks)
        if policy in ("fixed", "uniform"):
            result["log"] = decisions  # for the estimators' check (:func:`ope_check`)
        if world.agents.learner is not None:
            result["versions"] = len(world.agents.updates)
            result["rollbacks"] = len(world.agents.learner.rollbacks)
        world.close()
    return result


def ope_check(
    runs: Sequence[Mapping[str, Any]], catalogue: Catalogue, *, bootstrap: int = 200
) -> dict[str, Any]:
    """The estimators against on-policy truth: the fixed weights' value estimated off-policy from
    the uniform run's log, against the mean reward the fixed run actually got, seed by seed.

    Both logs' rewards are computed together (one robust spread and baseline slope per KPI), so
    the two values are in the same units. The uniform log covers every arm, so the estimate is
    identifiable; it is still a different world (the fixed run's own actions change which tails
    fire later), which is part of what this check measures.
    """
    from tailguard.learning.arms import decision_frame, rewards
    from tailguard.learning.ope import evaluate
    from tailguard.learning.policy import FixedPolicy

    by_seed: dict[int, dict[str, pl.DataFrame]] = {}
    for r in runs:
        if "log" in r:
            by_seed.setdefault(int(r["seed"]), {})[str(r["policy"])] = r["log"]
    groups = catalogue.groups()
    fixed = FixedPolicy(weights={e.id: e.weight for e in catalogue.entries}, version="fixed")
    rows: list[dict[str, Any]] = []
    for seed, logs in sorted(by_seed.items()):
        if not {"fixed", "uniform"} <= set(logs):
            continue
        both = pl.concat(
            [
                decision_frame(logs[p], groups).with_columns(pl.lit(p).alias("run"))
                for p in ("fixed", "uniform")
            ],
            how="diagonal_relaxed",
        )
        rewarded = rewards(both)
        on_policy = rewarded.filter(pl.col("run") == "fixed")["reward"].mean()
        logged = rewarded.filter(pl.col("run") == "uniform")
        if on_policy is None or logged.is_empty():
            continue
        result = evaluate(logged, fixed, name="fixed", bootstrap=bootstrap, seed=seed)
        row: dict[str, Any] = {"seed": seed, "on_policy": round(float(on_policy), 4)}  # type: ignore[arg-type]
        for est in ("snips", "dr"):
            value = result.estimators[est]
            row[est] = value["value"]
            row[f"{est}_ci95"] = value["ci95"]
        rows.append(row)
    out: dict[str, Any] = {"seeds": rows}
    for est in ("snips", "dr"):
        got = [r for r in rows if r[est] is not None and None not in r[f"{est}_ci95"]]
        if got:
            out[f"{est}_coverage"] = round(
                sum(r[f"{est}_ci95"][0] <= r["on_policy"] <= r[f"{est}_ci95"][1] for r in got)
                / len(got),
                3,
            )
            out[f"{est}_mean_abs_error"] = round(
                float(np.mean([abs(r[est] - r["on_policy"]) for r in got])), 4
            )
    return out


def _t95(values: Sequence[float]) -> tuple[float, list[float | None]]:
    n = len(values)
    mean = float(np.mean(values)) if n else math.nan
    if n < 2:
        return mean, [None, None]
    from scipy import stats

    se = float(np.std(values, ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf(0.975, n - 1)) * se
    return mean, [round(mean - half, 4), round(mean + half, 4)]


def summarise(runs: Sequence[Mapping[str, Any]], config: BenchConfig) -> dict[str, Any]:
    """Means over seeds per policy, and paired learning-minus-fixed differences per week."""
    by: dict[str, list[Mapping[str, Any]]] = {}
    for r in runs:
        by.setdefault(str(r["policy"]), []).append(r)
    policies: dict[str, Any] = {}
    for name in config.policies:
        rs = sorted(by.get(name, []), key=lambda r: int(r["seed"]))
        if not rs:
            continue
        weeks = [
            round(float(np.mean([r["weekly"][w]["all"] for r in rs])), 3)
            for w in range(config.weeks)
        ]
        bands = {
            b.id: [
                round(float(np.mean([r["weekly"][w][b.id] for r in rs])), 3)
                for w in range(config.weeks)
            ]
            for b in _BANDS
        }
        entry: dict[str, Any] = {
            "guardband_pass_pct_by_week": weeks,
            "band_pass_pct_by_week": bands,
            "spend_usd": round(float(np.mean([r["spend_usd"] for r in rs])), 2),
            "seeds": len(rs),
        }
        entry["harmful_pct"] = 0.0  # agents off pick nothing (overwritten below for the rest)
        if name != "off":
            entry["regret"] = round(float(np.mean([r["regret"] for r in rs])), 3)
            entry["harmful_pct"] = round(float(np.mean([r["harmful_pct"] for r in rs])), 3)
            entry["held_pct"] = round(float(np.mean([r["held_pct"] for r in rs])), 3)
            entry["decisions"] = round(float(np.mean([r["decisions"] for r in rs])), 1)
            if all("by_week" in r for r in rs):
                for key in ("regret", "harmful_pct", "held_pct"):
                    entry[f"{key}_by_week"] = [
                        round(float(np.mean([r["by_week"][w][key] for r in rs])), 3)
                        for w in range(config.weeks)
                    ]
        policies[name] = entry
    paired: dict[str, Any] = {}
    for a, b in (("learning", "fixed"), ("learning", "off"), ("fixed", "off")):
        ra = {int(r["seed"]): r for r in by.get(a, [])}
        rb = {int(r["seed"]): r for r in by.get(b, [])}
        common = sorted(set(ra) & set(rb))
        if not common:
            continue
        rows = []
        for w in range(config.weeks):
            diffs = [ra[s]["weekly"][w]["all"] - rb[s]["weekly"][w]["all"] for s in common]
            mean, ci = _t95(diffs)
            rows.append({"week": w + 1, "diff_points": round(mean, 4), "ci95": ci})
        paired[f"{a}_minus_{b}"] = rows
    regrets = {k: v.get("regret") for k, v in policies.items() if "regret" in v}
    return {
        "areas": config.areas,
        "weeks": config.weeks,
        "structure": config.structure,
        "seeds": list(range(config.seed_base, config.seed_base + config.seeds)),
        "policies": policies,
        "paired": paired,
        "regret_reduction_vs_uniform_pct": _reduction(regrets, "uniform"),
        "regret_reduction_vs_fixed_pct": _reduction(regrets, "fixed"),
    }


def _reduction(regrets: Mapping[str, float | None], base: str) -> float | None:
    mine, theirs = regrets.get("learning"), regrets.get(base)
    if mine is None or not theirs:
        return None
    return round(100.0 * (1.0 - mine / theirs), 2)


def run_bench(
    config: BenchConfig, progress: Callable[[str, int, int], None] | None = None
) -> dict[str, Any]:
    """Run every policy on every seed (in parallel processes) and summarise."""
    say = progress or (lambda _s, _d, _t: None)
    jobs = [
        (p, s)
        for s in range(config.seed_base, config.seed_base + config.seeds)
        for p in config.policies
    ]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tailguard-learnbench-") as tmp:
        if config.workers <= 1:
            for i, (p, s) in enumerate(jobs):
                runs.append(run_one(p, s, config, tmp))
                say(f"{p} seed {s}", i + 1, len(jobs))
        else:
            with ProcessPoolExecutor(max_workers=config.workers) as pool:
                futures = {pool.submit(run_one, p, s, config, tmp): (p, s) for p, s in jobs}
                for i, fut in enumerate(as_completed(futures)):
                    runs.append(fut.result())
                    p, s = futures[fut]
                    say(f"{p} seed {s}", i + 1, len(jobs))
    summary = summarise(runs, config)
    summary["ope_check"] = ope_check(runs, default_catalogue())
    summary["runs"] = sorted(
        ({k: v for k, v in r.items() if k != "log"} for r in runs),
        key=lambda r: (r["seed"], r["policy"]),
    )
    return summary
