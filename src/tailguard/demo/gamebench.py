"""``tailguard gamification bench``: the gaming flags and each reward layer against hidden truth.

Per seed: a network runs ``baseline_days`` with no reward (each tech's own history), then half
of the areas, drawn at random, get the layer under test (``layer``): a bonus on recorded
first-time fixes (``ftf_bonus``, the default), a parts-kit streak prize (``kit_streak``: it
targets parts missing at the visit) or a co-op team bonus (``coop``). For the fix bonus: Every night the flags
(:func:`~tailguard.gamification.gaming.gaming_flags`, fed only the events) name suspects, and
their bonus is withheld, as the programme does. At the end of each week the harness reads the
simulator's truth: precision (flagged techs who gamed at all) and recall (techs who gamed at
least ``material`` times and were flagged), and the bonus's effect on first-time fix as the
events record it against its true effect (difference in differences by area), with the bonus
paid per point of true gain. For every layer, its effect on first-time fix (recorded and true)
and on the share of visits with parts missing (true), by difference in differences. Figures
are means over the seeds with a 95 % interval (t over seeds). The kit and co-op prizes are
paid by the programme (the demo), not here: their spend is not measured by this harness.

The simulator is driven directly (no control plane): this measures the method, not the
governance, which the demo and the tests cover.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from tailguard.errors import InvalidInputError
from tailguard.gamification.gaming import FixLedger, gaming_flags
from tailguard.sim import NetworkConfig, Simulator
from tailguard.sim.evaluation import Evaluation
from tailguard.sim.ids import area_id
from tailguard.sim.interventions import GamificationReward, WithholdFixBonus

Progress = Callable[[int, int], None]

#: layer -> (the simulator's area parameter, its default value in USD).
LAYERS: dict[str, tuple[str, float]] = {
    "ftf_bonus": ("ftf_bonus_usd", 10.0),
    "kit_streak": ("kit_streak_value_usd", 50.0),
    "coop": ("coop_bonus_usd", 100.0),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class GameBenchConfig:
    """What one run simulates."""

    areas: int = 12
    baseline_days: int = 28
    weeks: int = 6
    bonus_usd: float = 10.0
    q: float = 0.1
    material: int = 3
    layer: str = "ftf_bonus"
    #: The layer's reward setting (``None``: the bonus for ``ftf_bonus``, a $50 kit for
    #: ``kit_streak``, a $100 team bonus for ``coop``).
    value_usd: float | None = None

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise InvalidInputError(f"--layer must be one of {', '.join(LAYERS)}")
        if not 2 <= self.areas <= 400 or not 1 <= self.weeks <= 12:
            raise InvalidInputError("--areas must be 2..400 and --weeks 1..12")
        if not 0 <= self.baseline_days <= 90 or not 0 < self.bonus_usd <= 100:
            raise InvalidInputError("--baseline-days must be 0..90 and --bonus-usd in (0, 100]")


def run_seed(config: GameBenchConfig, seed: int) -> list[dict[str, Any]]:
    """One network: a row of figures per week since the bonus began."""
    sim = Simulator(NetworkConfig(areas=config.areas, seed=seed))
    fixes = FixLedger()
    for _ in range(24 * config.baseline_days):
        fixes.ingest(pl.from_arrow(sim.step()))  # type: ignore[arg-type]
    rng = np.random.default_rng([seed, 31])
    on = [area_id(a) for a in range(config.areas) if rng.random() < 0.5]
    parameter, default = LAYERS[config.layer]
    value = config.bonus_usd if config.layer == "ftf_bonus" else (config.value_usd or default)
    for area in on:
        sim.apply(GamificationReward(area_id=area, parameter=parameter, value=value))
    flags_on = config.layer == "ftf_bonus"
    start = sim.now
    before = Evaluation(sim).quality()
    spend0 = Evaluation(sim).spend().get("gamification_reward", 0.0)
    flagged: set[str] = set()
    rows: list[dict[str, Any]] = []
    for day in range(1, 7 * config.weeks + 1):
        for _ in range(24):
            fixes.ingest(pl.from_arrow(sim.step()))  # type: ignore[arg-type]
        if flags_on:
            per_tech = fixes.frame(sim.now, since=start).filter(pl.col("area_id").is_in(on))
            flags = gaming_flags(per_tech, q=config.q)
            for tech in set(flags.filter(pl.col("flagged"))["tech_id"].to_list()) - flagged:
                sim.apply(WithholdFixBonus(tech_id=tech))
                flagged.add(tech)
        if day % 7 == 0:
            ev = Evaluation(sim)
            truth = ev.gaming()
            gamed_any = set(truth.filter(pl.col("gamed_fixes") >= 1)["tech_id"].to_list())
            gamers = set(truth.filter(pl.col("gamed_fixes") >= config.material)["tech_id"])
            gain = _did(before, ev.quality(), on)
            spent = ev.spend().get("gamification_reward", 0.0) - spend0
            rows.append(
                {
                    "seed": seed,
                    "week": day // 7,
                    "flagged": len(flagged),
                    "gamers": len(gamers),
                    "precision": len(flagged & gamed_any) / len(flagged) if flagged else None,
                    "recall": len(flagged & gamers) / len(gamers) if gamers and flags_on else None,
                    "recorded_ftf_gain": gain["recorded"],
                    "true_ftf_gain": gain["true"],
                    "parts_missing_change": gain["parts_missing"],
                    "bonus_usd_per_area_week": spent / max(1, len(on)) / (day / 7),
                }
            )
    return rows


def bench(
    seeds: Sequence[int],
    config: GameBenchConfig,
    *,
    workers: int = 1,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Every seed's weeks, and per week the mean with its 95 % interval over the seeds."""
    rows: list[dict[str, Any]] = []
    if workers <= 1:
        for i, seed in enumerate(seeds):
            rows += run_seed(config, seed)
            if progress is not None:
                progress(i + 1, len(seeds))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, os.cpu_count() or 1)) as pool:
            for i, seed_rows in enumerate(pool.map(run_seed, [config] * len(seeds), seeds)):
                rows += seed_rows
                if progress is not None:
                    progress(i + 1, len(seeds))
    frame = pl.DataFrame(rows)
    by_week: list[dict[str, Any]] = []
    for week in range(1, config.weeks + 1):
        part = frame.filter(pl.col("week") == week)
        row: dict[str, Any] = {"week": week}
        for col in (
            "precision",
            "recall",
            "recorded_ftf_gain",
            "true_ftf_gain",
            "bonus_usd_per_area_week",
            "parts_missing_change",
            "flagged",
            "gamers",
        ):
            row[col] = _mean_ci(part[col].drop_nulls().to_numpy())
        by_week.append(row)
    last = by_week[-1]
    true_gain = last["true_ftf_gain"]["mean"]
    usd = last["bonus_usd_per_area_week"]["mean"]
    return {
        "seeds": list(seeds),
        "config": {
            "areas": config.areas,
            "baseline_days": config.baseline_days,
            "weeks": config.weeks,
            "bonus_usd": config.bonus_usd,
            "q": config.q,
            "material": config.material,
            "layer": config.layer,
            "value_usd": config.bonus_usd
            if config.layer == "ftf_bonus"
            else (config.value_usd or LAYERS[config.layer][1]),
        },
        "by_week": by_week,
        "gaming_detection": {
            "precision": last["precision"]["mean"],
            "recall": last["recall"]["mean"],
        },
        "usd_per_true_ftf_point_area_week": (
            None if not true_gain or true_gain <= 0 or usd is None else round(usd / true_gain, 2)
        ),
        "runs": rows,
    }


def _did(before: pl.DataFrame, after: pl.DataFrame, on: Sequence[str]) -> dict[str, float | None]:
    """The layer's areas' change in first-time fix % minus the other areas' (recorded and
    true), and the same for visits with parts missing per 100 visits (true)."""
    joined = (
        after.join(before, on="area_id", suffix="_0")
        .with_columns((pl.col("first_visits") - pl.col("first_visits_0")).alias("n"))
        .filter((pl.col("n") > 0) & (pl.col("first_visits_0") > 0))
    )
    out: dict[str, float | None] = {}
    for name, col in (("recorded", "recorded_fixes"), ("true", "true_fixes")):
        change = 100.0 * (pl.col(col) - pl.col(f"{col}_0")) / pl.col("n") - 100.0 * pl.col(
            f"{col}_0"
        ) / pl.col("first_visits_0")
        per_area = joined.select("area_id", change.alias("d"))
        inside = per_area.filter(pl.col("area_id").is_in(list(on)))["d"]
        outside = per_area.filter(~pl.col("area_id").is_in(list(on)))["d"]
        out[name] = (
            None
            if inside.is_empty() or outside.is_empty()
            else float(inside.mean()) - float(outside.mean())  # type: ignore[arg-type]
        )
    # Visits with parts missing, per 100 visits (what the kit streak targets), the same way.
    visits = (
        after.join(before, on="area_id", suffix="_0")
        .with_columns((pl.col("visits") - pl.col("visits_0")).alias("v"))
        .filter((pl.col("v") > 0) & (pl.col("visits_0") > 0))
        .select(
            "area_id",
            (
                100.0 * (pl.col("parts_missing") - pl.col("parts_missing_0")) / pl.col("v")
                - 100.0 * pl.col("parts_missing_0") / pl.col("visits_0")
            ).alias("d"),
        )
    )
    inside = visits.filter(pl.col("area_id").is_in(list(on)))["d"]
    outside = visits.filter(~pl.col("area_id").is_in(list(on)))["d"]
    out["parts_missing"] = (
        None
        if inside.is_empty() or outside.is_empty()
        else float(inside.mean()) - float(outside.mean())  # type: ignore[arg-type]
    )
    return out


def _mean_ci(values: np.ndarray) -> dict[str, Any]:
    values = values.astype(float)
    if values.size == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean = float(values.mean())
    if values.size < 2:
        return {"mean": round(mean, 4), "ci95": None, "n": 1}
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return {
        "mean": round(mean, 4),
        "ci95": [round(mean - half, 4), round(mean + half, 4)],
        "n": int(values.size),
    }
