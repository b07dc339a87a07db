"""``tailguard gamification bench``: the gaming flags and each layer against hidden truth.

Per seed: a network runs ``baseline_days`` with no reward (each tech's own history), then half
of the areas, drawn at random, get the layer under test (``layer``): a bonus on recorded
first-time fixes (``ftf_bonus``, the default), a parts-kit streak prize (``kit_streak``), a
co-op team bonus (``coop``), sprint missions for the tail (``missions``, randomised again over
the eligible techs of those areas) or peer replays recommended for weak job codes
(``replays``); :class:`~tailguard.demo.gamelayers.LayerDriver` plays the programme's part, from
the events, and pays through the simulator so it meters the spend. For the fix bonus, every
night the flags (:func:`~tailguard.gamification.gaming.gaming_flags`, fed only the events) name
suspects, and their bonus is withheld, as the programme does.

At the layer's start the world is copied (the *twin*, same seed, common random numbers) and
runs on without the layer. At the end of each week the harness reads, cumulatively from the
start:

* what the events show: each target tail (first-time fix, earnings P10, recall P90) by
  difference in differences over areas (the layer's areas' change from the baseline less the
  others'), and for missions the mission techs' first-time fix less their randomised controls';
* the truth: each tail in the layer's areas with the layer less without it (the twin), the
  mission techs' true first-time fix less their own in the twin, and the gaming flags'
  precision and recall against the simulator's gamed fixes;
* the programme's payouts per area-week (fix bonuses, kits, team bonuses) and so the spend per
  point of each tail's true improvement.

Figures are means over the seeds with a 95 % interval (t over seeds). The simulator is driven
directly (no control plane): this measures the method, not the governance, which the demo and
the tests cover.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from tailguard.demo.gamelayers import EventLog, LayerDriver, area_tails, layer_spend, per_tech_week
from tailguard.errors import InvalidInputError
from tailguard.gamification.gaming import FixLedger, gaming_flags
from tailguard.sim import NetworkConfig, Simulator
from tailguard.sim.evaluation import Evaluation
from tailguard.sim.ids import area_id
from tailguard.sim.interventions import WithholdFixBonus

Progress = Callable[[int, int], None]

#: layer -> (the simulator's area parameter, its default value in USD).
LAYERS: dict[str, tuple[str, float]] = {
    "ftf_bonus": ("ftf_bonus_usd", 10.0),
    "kit_streak": ("kit_streak_value_usd", 50.0),
    "coop": ("coop_bonus_usd", 100.0),
    "missions": ("", 0.0),
    "replays": ("", 0.0),
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
    #: Also run the twin world without the layer (the true effects on the tails).
    twin: bool = True
    #: ``coop``: the team's recorded first-time fix over a week that earns the bonus.
    coop_target_pct: float = 88.0

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise InvalidInputError(f"--layer must be one of {', '.join(LAYERS)}")
        if not 2 <= self.areas <= 400 or not 1 <= self.weeks <= 12:
            raise InvalidInputError("--areas must be 2..400 and --weeks 1..12")
        if not 0 <= self.baseline_days <= 90 or not 0 < self.bonus_usd <= 100:
            raise InvalidInputError("--baseline-days must be 0..90 and --bonus-usd in (0, 100]")
        if not 50 <= self.coop_target_pct <= 100:
            raise InvalidInputError("--coop-target-pct must be between 50 and 100")


def run_seed(config: GameBenchConfig, seed: int) -> list[dict[str, Any]]:
    """One network: a row of figures per week since the layer began."""
    sim = Simulator(NetworkConfig(areas=config.areas, seed=seed))
    fixes = FixLedger()
    rng = np.random.default_rng([seed, 31])
    on = [area_id(a) for a in range(config.areas) if rng.random() < 0.5]
    _parameter, default = LAYERS[config.layer]
    value = config.bonus_usd if config.layer == "ftf_bonus" else (config.value_usd or default)
    driver = LayerDriver(
        config.layer, sim, on, value, seed=seed, coop_target_pct=config.coop_target_pct
    )
    base = EventLog()
    for _ in range(24 * config.baseline_days):
        events = pl.from_arrow(sim.step())
        assert isinstance(events, pl.DataFrame)
        fixes.ingest(events)
        base.add(events)
        driver.hour(events)
    # The twin: the same world from here on without the layer (common random numbers), whose
    # difference from the world with it is the layer's true effect in its areas.
    twin = copy.deepcopy(sim) if config.twin else None
    driver.start()
    driver.night(0, sim.now)
    flags_on = config.layer == "ftf_bonus"
    start = sim.now
    before = Evaluation(sim).quality()
    spend0 = Evaluation(sim).spend().get("gamification_reward", 0.0)
    paid0 = layer_spend(sim)
    tails0 = area_tails(base.frame(), config.baseline_days) if config.baseline_days else None
    window, window_off = EventLog(), EventLog()
    tech0: dict[int, tuple[pl.DataFrame, pl.DataFrame | None]] = {}
    missions: list[dict[str, Any]] = []
    _snapshot(driver, tech0, 0, sim, twin)
    flagged: set[str] = set()
    rows: list[dict[str, Any]] = []
    for day in range(1, 7 * config.weeks + 1):
        for _ in range(24):
            events = pl.from_arrow(sim.step())
            assert isinstance(events, pl.DataFrame)
            fixes.ingest(events)
            window.add(events)
            driver.hour(events)
            if twin is not None:
                window_off.add(pl.from_arrow(twin.step()))  # type: ignore[arg-type]
        if flags_on:
            per_tech = fixes.frame(sim.now, since=start).filter(pl.col("area_id").is_in(on))
            flags = gaming_flags(per_tech, q=config.q)
            for tech in set(flags.filter(pl.col("flagged"))["tech_id"].to_list()) - flagged:
                sim.apply(WithholdFixBonus(tech_id=tech))
                flagged.add(tech)
        missions += _close_cohorts(driver, tech0, day, sim, twin)
        driver.night(day, sim.now)
        _snapshot(driver, tech0, day, sim, twin)
        if day % 7 == 0:
            ev = Evaluation(sim)
            truth = ev.gaming()
            gamed_any = set(truth.filter(pl.col("gamed_fixes") >= 1)["tech_id"].to_list())
            gamers = set(truth.filter(pl.col("gamed_fixes") >= config.material)["tech_id"])
            gain = _did(before, ev.quality(), on)
            spent = ev.spend().get("gamification_reward", 0.0) - spend0
            weeks = day / 7
            row: dict[str, Any] = {
                "seed": seed,
                "week": day // 7,
                "flagged": len(flagged),
                "gamers": len(gamers),
                "precision": len(flagged & gamed_any) / len(flagged) if flagged else None,
                "recall": len(flagged & gamers) / len(gamers) if gamers and flags_on else None,
                "recorded_ftf_gain": gain["recorded"],
                "true_ftf_gain": gain["true"],
                "parts_missing_change": gain["parts_missing"],
                "bonus_usd_per_area_week": spent / max(1, len(on)) / weeks,
                "spend_usd_per_area_week": (layer_spend(sim) - paid0) / max(1, len(on)) / weeks,
            }
            row.update(_tails(tails0, window, window_off, float(day), on))
            row["ftf_true_effect"] = (
                None
                if twin is None
                else _twin_ftf(before, ev.quality(), Evaluation(twin).quality(), on)
            )
            row.update(_mission_figures(missions))
            row.update({k: float(v) for k, v in driver.counts.items()})
            rows.append(row)
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
        for col in COLUMNS:
            if col in part.columns:
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
            "twin": config.twin,
            "coop_target_pct": config.coop_target_pct,
        },
        "by_week": by_week,
        "gaming_detection": {
            "precision": last["precision"]["mean"],
            "recall": last["recall"]["mean"],
        },
        "usd_per_true_ftf_point_area_week": (
            None if not true_gain or true_gain <= 0 or usd is None else round(usd / true_gain, 2)
        ),
        "spend_per_true_point": spend_per_point(last),
        "runs": rows,
    }


def _snapshot(
    driver: LayerDriver,
    tech0: dict[int, tuple[pl.DataFrame, pl.DataFrame | None]],
    day: int,
    sim: Simulator,
    twin: Simulator | None,
) -> None:
    """A mission cohort began tonight: each tech's truth now, in both worlds."""
    if driver.cohorts and driver.cohorts[-1][0] == day and day not in tech0:
        off = Evaluation(twin).gaming() if twin is not None else None
        tech0[day] = (Evaluation(sim).gaming(), off)


def _close_cohorts(
    driver: LayerDriver,
    tech0: dict[int, tuple[pl.DataFrame, pl.DataFrame | None]],
    day: int,
    sim: Simulator,
    twin: Simulator | None,
) -> list[dict[str, Any]]:
    """Mission cohorts whose week ended today: per treated and control tech, first-time fix
    over the week as recorded and as true, and (twin) as it truly was without the mission."""
    out: list[dict[str, Any]] = []
    for began, treated, control in driver.cohorts:
        if day - began != 7 or began not in tech0:
            continue
        on0, off0 = tech0.pop(began)
        week = per_tech_week(on0, Evaluation(sim).gaming())
        if twin is not None and off0 is not None:
            alt = per_tech_week(off0, Evaluation(twin).gaming()).select(
                "tech_id", pl.col("n").alias("n_off"), pl.col("true").alias("true_off")
            )
            week = week.join(alt, on="tech_id", how="left")
        for row in week.filter(pl.col("n") > 0).iter_rows(named=True):
            tech = row["tech_id"]
            group = "mission" if tech in treated else ("control" if tech in control else None)
            if group is not None:
                out.append({**row, "group": group})
    return out


def _mission_figures(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Missions so far: the first-time fix gain of mission techs over their randomised
    controls as the events record it, and the mission techs' true gain (against the twin)."""
    mission = [r for r in rows if r["group"] == "mission"]
    control = [r for r in rows if r["group"] == "control"]
    if not mission or not control:
        return {"mission_ftf_measured": None, "mission_ftf_true": None}
    rec = np.mean([100 * r["recorded"] / r["n"] for r in mission]) - np.mean(
        [100 * r["recorded"] / r["n"] for r in control]
    )
    paired = [r for r in mission if r.get("n_off")]
    true = (
        float(
            np.mean([100 * r["true"] / r["n"] - 100 * r["true_off"] / r["n_off"] for r in paired])
        )
        if paired
        else None
    )
    return {"mission_ftf_measured": float(rec), "mission_ftf_true": true}


def _tails(
    tails0: pl.DataFrame | None,
    window: EventLog,
    window_off: EventLog,
    days: float,
    on: Sequence[str],
) -> dict[str, float | None]:
    """Earnings P10 and recall P90 of the layer's window: the layer areas' change from the
    baseline less the other areas' (what the events show), and (with the twin) the layer
    areas' value with the layer less without it (the true effect)."""
    now = area_tails(window.frame(), days)
    out: dict[str, float | None] = {}
    inside = pl.col("area_id").is_in(list(on))
    for col, name in (("earnings_p10_week", "earnings_p10"), ("recall_pct_p90", "recall_p90")):
        out[f"{name}_measured"] = None
        out[f"{name}_true_effect"] = None
        if tails0 is not None:
            d = (
                now.join(tails0, on="area_id", suffix="_0")
                .select("area_id", (pl.col(col) - pl.col(f"{col}_0")).alias("d"))
                .drop_nulls()
            )
            a, b = d.filter(inside)["d"], d.filter(~inside)["d"]
            if a.len() and b.len():
                out[f"{name}_measured"] = float(a.mean()) - float(b.mean())  # type: ignore[arg-type]
        if not window_off.empty:
            off = area_tails(window_off.frame(), days)
            d = (
                now.join(off, on="area_id", suffix="_off")
                .filter(inside)
                .select((pl.col(col) - pl.col(f"{col}_off")).alias("d"))
                .drop_nulls()
            )
            if d.height:
                out[f"{name}_true_effect"] = float(d["d"].mean())  # type: ignore[arg-type]
    return out


def _twin_ftf(
    before: pl.DataFrame, after: pl.DataFrame, off: pl.DataFrame, on: Sequence[str]
) -> float | None:
    """True first-time fix % of the layer's areas over the window with the layer less
    without it (the twin), in points, averaged over the layer's areas."""

    def pct(q: pl.DataFrame) -> pl.DataFrame:
        return q.join(before, on="area_id", suffix="_0").select(
            "area_id",
            (
                100.0
                * (pl.col("true_fixes") - pl.col("true_fixes_0"))
                / (pl.col("first_visits") - pl.col("first_visits_0"))
            ).alias("ftf"),
        )

    d = (
        pct(after)
        .join(pct(off), on="area_id", suffix="_off")
        .filter(pl.col("area_id").is_in(list(on)))
        .select((pl.col("ftf") - pl.col("ftf_off")).alias("d"))
        .drop_nulls()
        .filter(pl.col("d").is_finite())
    )
    return float(d["d"].mean()) if d.height else None  # type: ignore[arg-type]


#: Per-week figures of a seed, averaged over the seeds.
COLUMNS: tuple[str, ...] = (
    "precision", "recall", "recorded_ftf_gain", "true_ftf_gain", "bonus_usd_per_area_week",
    "parts_missing_change", "flagged", "gamers", "spend_usd_per_area_week", "ftf_true_effect",
    "earnings_p10_measured", "earnings_p10_true_effect", "recall_p90_measured",
    "recall_p90_true_effect", "mission_ftf_measured", "mission_ftf_true", "kits_paid",
    "kits_over_budget", "teams_paid", "missions", "replays_recommended", "replays_viewed",
)  # fmt: skip
#: Each tail: (its measured column, its true-effect column, +1 if up is better, -1 if down).
TAILS: dict[str, tuple[str, str, int]] = {
    "ftf_pts": ("recorded_ftf_gain", "ftf_true_effect", 1),
    "earnings_p10_usd_week": ("earnings_p10_measured", "earnings_p10_true_effect", 1),
    "recall_p90_pts": ("recall_p90_measured", "recall_p90_true_effect", -1),
}


def spend_per_point(last: Mapping[str, Any]) -> dict[str, Any]:
    """The layer's payouts per area-week over the whole run, per point of each tail's true
    improvement (None where the layer did not improve it: no price buys a worsening)."""
    usd = (last.get("spend_usd_per_area_week") or {}).get("mean")
    out: dict[str, Any] = {"spend_usd_per_area_week": usd}
    for tail, (_measured, true, sign) in TAILS.items():
        effect = (last.get(true) or {}).get("mean")
        better = None if effect is None else sign * effect
        out[tail] = {
            "true_improvement": better,
            "usd_per_point_area_week": (
                None if usd is None or better is None or better <= 0 else round(usd / better, 2)
            ),
        }
    return out


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
