"""``tailguard demo --gamification on``: the gamification programme in the agents-on arm, and
its evaluation against the simulator's hidden truth.

The programme (:class:`~tailguard.gamification.program.GamificationProgram`) runs like any
agent: its tools go into the world's control plane, its calls are governed and gated, the
simulated approver decides its payouts, and the jobs reach the simulator through the same
downstream contract as the area agents' interventions. This module is the harness around it:
it feeds the hour's events, calls the nightly and weekly steps, and at the end reads the
simulator's evaluation API (which agents never see) to say how good the gaming flags were
and what each reward layer truly did against what it appeared to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from tailguard.agents.downstream import InterventionJob
from tailguard.agents.simdownstream import SimulatorDownstream
from tailguard.agents.world import AgentWorld
from tailguard.gamification.gaming import FixLedger
from tailguard.gamification.program import GamificationProgram, ProgramConfig
from tailguard.gamification.store import GameStore
from tailguard.gamification.tools import gamification_tools
from tailguard.sim.evaluation import Evaluation
from tailguard.sim.ids import area_id, tech_id

#: Share of technicians who opt in to be shown on their area's leaderboard.
OPT_IN_SHARE = 0.6
#: Spend kinds of the simulator that are gamification's (fix bonuses paid, kits, team bonuses).
_SPEND_KINDS = ("gamification_reward", "kit_bonus", "team_bonus")


class DemoGamification:
    """The programme wired into a demo world (see the module docstring)."""

    def __init__(
        self,
        world: AgentWorld,
        *,
        seed: int,
        config: ProgramConfig | None = None,
        fixes: FixLedger | None = None,
    ) -> None:
        self.world = world
        sim = world.sim
        downstream = SimulatorDownstream(sim)

        def act(kind: str, area: str, args: Mapping[str, Any], key: str) -> dict[str, Any]:
            if kind == "xp_grant":  # the field app's points: nothing in the simulated world
                return {"status": "executed", "detail": f"{args.get('xp')} XP", "cost_usd": 0.0}
            job = InterventionJob(
                job_id=key,
                kind=kind,
                agent="field_app",
                area_id=area,
                params=dict(args),
                requested_at=world.clock.now(),
            )
            done = downstream.send(job)
            return {
                "status": done.status,
                "detail": done.detail,
                "cost_usd": done.cost_usd,
                "ref": done.external_ref,
            }

        for tool in gamification_tools(act):
            world.control.registry.register(tool)
        rng = np.random.default_rng([seed, 29])
        techs = [tech_id(i) for i in range(sim.net.n_techs)]
        opted = [t for t, u in zip(techs, rng.random(len(techs)), strict=True) if u < OPT_IN_SHARE]
        areas = [area_id(i) for i in range(sim.net.n_areas)]
        self.program = GamificationProgram(
            world.control,
            areas,
            config=config,
            seed=seed,
            opted_in=opted,
            fixes=fixes,
            store=GameStore(world.ledger),
        )
        self._truth0 = Evaluation(sim).quality()
        self._spend0 = _spend(Evaluation(sim).spend())
        self._nights = 0
        # Each week's mission cohort: (night it began, treated, control, truth then).
        self._cohorts: list[tuple[int, set[str], set[str], pl.DataFrame]] = []
        self._mission_rows: list[dict[str, Any]] = []

    def start(self, now: datetime) -> None:
        """Ask for every area's reward sizes (gated)."""
        self.program.start(now)

    def hour(self) -> None:
        """Feed the hour's events (call after :meth:`AgentWorld.hour`)."""
        events = self.world.last_events
        if events is not None and events.num_rows:
            self.program.ingest(pl.from_arrow(events))  # type: ignore[arg-type]

    def night(self, now: datetime) -> None:
        """The nightly step; at a week's end also the week's TechPower and leaderboards."""
        self.program.night(now)
        self._nights += 1
        self._close_cohorts()
        if self._nights % 7 == 0:
            last_monday = (now - timedelta(days=1)).date()
            before = set(self.program.missions.missions)
            self.program.week(last_monday - timedelta(days=last_monday.weekday()))
            book = self.program.missions
            treated = {book.missions[m].tech_id for m in set(book.missions) - before}
            control = {
                t for t, (_a, _m, at) in book.control.items() if at == self.world.clock.now()
            }
            if treated and control:
                truth = Evaluation(self.world.sim).gaming()
                self._cohorts.append((self._nights, treated, control, truth))

    def _close_cohorts(self) -> None:
        """A cohort's week is over: each tech's recorded and true first-time fix % over it."""
        keep = []
        for start, treated, control, before in self._cohorts:
            if self._nights - start < 7:
                keep.append((start, treated, control, before))
                continue
            after = Evaluation(self.world.sim).gaming()
            week = after.join(before, on="tech_id", suffix="_0").select(
                "tech_id",
                (pl.col("first_visits") - pl.col("first_visits_0")).alias("n"),
                (pl.col("recorded_fixes") - pl.col("recorded_fixes_0")).alias("recorded"),
                (pl.col("true_fixes") - pl.col("true_fixes_0")).alias("true"),
            )
            for row in week.filter(pl.col("n") > 0).iter_rows(named=True):
                group = "mission" if row["tech_id"] in treated else None
                group = group or ("control" if row["tech_id"] in control else None)
                if group:
                    self._mission_rows.append({**row, "group": group})
        self._cohorts = keep

    def summary(self) -> dict[str, Any]:
        """The programme's counts and its judgement against the hidden truth (JSON-ready)."""
        ev = Evaluation(self.world.sim)
        spend = _spend(ev.spend())
        by_kind = {k: round(spend.get(k, 0.0) - self._spend0.get(k, 0.0), 2) for k in _SPEND_KINDS}
        out = self.program.summary()
        out["enabled"] = True
        out["gaming_detection"] = detection_quality(ev.gaming(), set(self.program.stats.withheld))
        out["spend_usd"] = round(sum(by_kind.values()), 2)
        out["spend_by_kind_usd"] = by_kind
        out["layers"] = layer_effects(self._truth0, ev.quality(), self.program.arms)
        out["layers"]["missions"] = mission_effect(self._mission_rows)
        return out


def detection_quality(
    truth: pl.DataFrame, flagged: set[str], *, material: int = 3
) -> dict[str, Any]:
    """Precision and recall of the gaming flags against the simulator's gamed fixes.

    A flag is right when the tech gamed at least once; recall is over the techs who gamed
    at least ``material`` times (a single gamed fix is not something any test can see).
    """
    gamed_any = set(truth.filter(pl.col("gamed_fixes") >= 1)["tech_id"].to_list())
    gamed = set(truth.filter(pl.col("gamed_fixes") >= material)["tech_id"].to_list())
    right = len(flagged & gamed_any)
    return {
        "precision": None if not flagged else round(right / len(flagged), 3),
        "recall": None if not gamed else round(len(flagged & gamed) / len(gamed), 3),
        "flagged": len(flagged),
        "gamers": len(gamed),
        "gamed_fixes": int(truth["gamed_fixes"].sum()),
        "material": material,
    }


def layer_effects(
    before: pl.DataFrame, after: pl.DataFrame, arms: Mapping[str, Any]
) -> dict[str, Any]:
    """Each layer's effect on first-time fix, as the events record it and as it truly was:
    difference in differences (each area's change from before the programme to during it,
    areas with the layer against areas without), in points with a 95 % Welch interval."""
    window = (
        after.join(before, on="area_id", suffix="_0")
        .with_columns(
            (pl.col("first_visits") - pl.col("first_visits_0")).alias("n"),
            (pl.col("true_fixes") - pl.col("true_fixes_0")).alias("true"),
            (pl.col("recorded_fixes") - pl.col("recorded_fixes_0")).alias("recorded"),
        )
        .filter((pl.col("n") > 0) & (pl.col("first_visits_0") > 0))
    )
    window = window.select(
        "area_id",
        (
            100.0 * pl.col("recorded") / pl.col("n")
            - 100.0 * pl.col("recorded_fixes_0") / pl.col("first_visits_0")
        ).alias("recorded_ftf"),
        (
            100.0 * pl.col("true") / pl.col("n")
            - 100.0 * pl.col("true_fixes_0") / pl.col("first_visits_0")
        ).alias("true_ftf"),
    )
    out: dict[str, Any] = {}
    for layer, attr in (
        ("ftf_bonus", "ftf_bonus_usd"),
        ("kit_streak", "kit_value_usd"),
        ("coop", "coop_bonus_usd"),
    ):
        on = {a for a, arm in arms.items() if getattr(arm, attr) > 0}
        flag = pl.col("area_id").is_in(list(on))
        out[layer] = {
            "areas_on": len(on),
            "areas_off": len(arms) - len(on),
            "recorded_ftf_gain_points": _welch(window, "recorded_ftf", flag),
            "true_ftf_gain_points": _welch(window, "true_ftf", flag),
        }
    return out


def mission_effect(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Missions against the randomised control techs: first-time fix % over the mission's
    week, as recorded and as true (points, 95 % Welch interval). Techs are the unit."""
    if not rows:
        return {
            "techs_mission": 0,
            "techs_control": 0,
            "recorded_ftf_gain_points": {"mean": None, "ci95": None},
            "true_ftf_gain_points": {"mean": None, "ci95": None},
        }
    frame = pl.DataFrame(rows).with_columns(
        (100.0 * pl.col("recorded") / pl.col("n")).alias("recorded_ftf"),
        (100.0 * pl.col("true") / pl.col("n")).alias("true_ftf"),
    )
    on = pl.col("group") == "mission"
    return {
        "techs_mission": frame.filter(on).height,
        "techs_control": frame.filter(~on).height,
        "recorded_ftf_gain_points": _welch(frame, "recorded_ftf", on),
        "true_ftf_gain_points": _welch(frame, "true_ftf", on),
    }


def _welch(frame: pl.DataFrame, col: str, on: pl.Expr) -> dict[str, Any]:
    a = frame.filter(on)[col].to_numpy()
    b = frame.filter(~on)[col].to_numpy()
    if a.size < 2 or b.size < 2:
        return {"mean": None, "ci95": None}
    diff = float(a.mean() - b.mean())
    se = float(np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size))
    return {
        "mean": round(diff, 3),
        "ci95": [round(diff - 1.96 * se, 3), round(diff + 1.96 * se, 3)],
    }


def _spend(spend: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in spend.items()}
