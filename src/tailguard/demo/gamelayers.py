"""The gamification bench's layer drivers and its tail figures.

A driver plays the programme's part for one layer in the bench's simulated world, from the
events alone (never the truth): it turns the layer on in its areas, and pays or hands out what
the programme would, through the simulator's interventions, so the simulator meters the spend:

* ``ftf_bonus``, ``kit_streak``, ``coop``: the area's reward parameter; the kit streak's prizes
  (:class:`~tailguard.gamification.streaks.KitStreaks`, ten fully used pre-staged kits in a row,
  within the programme's $300 a week per area) and the co-op bonus (a week the area's team
  recorded at least 88 % first-time fix on first visits: the bonus to every member who worked).
* ``missions``: every week the bottom quarter of each mission area's techs by TechPower gets a
  sprint mission aimed at their weakest part, half of them drawn at random
  (:class:`~tailguard.gamification.missions.MissionBook`); the rest are the control techs.
* ``replays``: every week each scored tech of a replay area is recommended peer replays of
  their three weakest job codes (net-fix z-score within the code,
  :meth:`~tailguard.gamification.techpower.TechPowerBook.code_scores`) where a tech at or above
  the network's P90 TechPower worked that code (the library's publishers); the tech may watch.

:func:`area_tails` reads the tails each layer targets from an event frame the way the
simulator's yardstick (:func:`tailguard.sim.measure.area_kpis`) does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Final

import polars as pl

from tailguard.gamification.gaming import FixLedger
from tailguard.gamification.missions import MissionBook, MissionConfig
from tailguard.gamification.streaks import KitAward, KitStreaks
from tailguard.gamification.techpower import TechPowerBook
from tailguard.sim import Simulator
from tailguard.sim.evaluation import Evaluation
from tailguard.sim.interventions import (
    GamificationReward,
    KitBonus,
    ReplayRecommendation,
    TeamBonus,
    TechMission,
)
from tailguard.sim.measure import area_kpis

#: Spend kinds of the simulator that are gamification payouts.
SPEND_KINDS: Final = ("gamification_reward", "kit_bonus", "team_bonus")
#: The programme's defaults (ProgramConfig): kit budget per area-week, co-op team goal.
KIT_BUDGET_USD_WEEK: Final = 300.0
COOP_TARGET_FTF_PCT: Final = 88.0
#: Weakest job codes recommended per tech and week (the replay library's WEAKEST).
REPLAY_CODES: Final = 3
_KEEP: Final = (
    "type", "area_id", "tech_id", "status", "nps", "lead_time_days", "first_time_fix",
    "recall_of_job_id", "original_tech_id", "revenue", "parts_cost", "tech_pay",
    "arrived_at", "window_end", "completed_at",
)  # fmt: skip


class EventLog:
    """The job and status events of a run, enough for :func:`area_tails`."""

    def __init__(self) -> None:
        self._parts: list[pl.DataFrame] = []

    def add(self, events: pl.DataFrame) -> None:
        """Keep an hour's job completions and status changes."""
        self._parts.append(
            events.filter(pl.col("type").is_in(["job.completed", "tech.status"])).select(_KEEP)
        )

    @property
    def empty(self) -> bool:
        """Nothing kept yet."""
        return not self._parts

    def frame(self) -> pl.DataFrame:
        """Everything kept so far."""
        if len(self._parts) > 1:
            self._parts = [pl.concat(self._parts)]
        return self._parts[0]


def area_tails(events: pl.DataFrame, days: float) -> pl.DataFrame:
    """Per area over ``events`` (a window of ``days``): the techs' weekly earnings P10 (USD)
    and their recall rate P90 (%, techs with at least 5 jobs), as ``area_kpis`` reads them."""
    return area_kpis(events, days).select("area_id", "earnings_p10_week", "recall_pct_p90")


def layer_spend(sim: Simulator) -> float:
    """The gamification payouts the simulator has metered so far (USD)."""
    spend = Evaluation(sim).spend()
    return float(sum(spend.get(k, 0.0) for k in SPEND_KINDS))


class LayerDriver:
    """Turns a layer on in ``on`` areas and does the programme's part for it (module doc)."""

    def __init__(
        self,
        layer: str,
        sim: Simulator,
        on: Sequence[str],
        value: float,
        *,
        seed: int,
        coop_target_pct: float = COOP_TARGET_FTF_PCT,
    ) -> None:
        self.layer, self.sim, self.on, self.value = layer, sim, list(on), value
        self.coop_target_pct = coop_target_pct
        self.fixes = FixLedger()
        self.techpower = TechPowerBook()
        self.streaks = KitStreaks(length=10)
        self.missions = MissionBook(config=MissionConfig(), seed=seed)
        self._due: list[KitAward] = []
        self._kit_spent: dict[tuple[str, date], float] = {}
        #: Mission cohorts: (day it began, treated techs, control techs).
        self.cohorts: list[tuple[int, set[str], set[str]]] = []
        self.counts: dict[str, int] = {
            "kits_paid": 0, "kits_over_budget": 0, "teams_paid": 0, "missions": 0,
            "replays_recommended": 0, "replays_viewed": 0,
        }  # fmt: skip
        self._started = False

    def start(self) -> None:
        """Switch the layer on in its areas (the area parameter where the layer has one)."""
        self._started = True
        parameter = {
            "ftf_bonus": "ftf_bonus_usd",
            "kit_streak": "kit_streak_value_usd",
            "coop": "coop_bonus_usd",
        }.get(self.layer)
        if parameter is not None:
            for area in self.on:
                self.sim.apply(
                    GamificationReward(area_id=area, parameter=parameter, value=self.value)
                )

    def hour(self, events: pl.DataFrame) -> None:
        """Fold an hour of the world's events into what the layer reads."""
        if self.layer in ("missions", "replays"):
            self.techpower.ingest(events)
        if not self._started:
            return
        if self.layer == "coop":
            self.fixes.ingest(events)
        elif self.layer == "kit_streak":
            earned = self.streaks.ingest(events)
            self._due.extend(a for a in earned if a.area_id in self.on)
        elif self.layer == "missions":
            self.missions.ingest(events)

    def night(self, day: int, now: datetime) -> None:
        """The nightly and (every 7th day from the start, and at it) the weekly steps."""
        if self.layer == "kit_streak":
            self._pay_kits()
        if self.layer == "missions":
            self.missions.expire(now)
        if day % 7 != 0:
            return
        if self.layer == "coop" and day > 0:
            self._coop(now)
        last = (now - timedelta(days=1)).date()
        week = last - timedelta(days=last.weekday())
        if self.layer == "missions":
            self._missions(day, week, now)
        elif self.layer == "replays":
            self._replays(week)

    def _pay_kits(self) -> None:
        due, self._due = self._due, []
        for award in due:
            week = award.at.date() - timedelta(days=award.at.weekday())
            spent = self._kit_spent.get((award.area_id, week), 0.0)
            if spent + self.value > KIT_BUDGET_USD_WEEK:
                self.counts["kits_over_budget"] += 1
                continue
            if self.sim.apply(KitBonus(tech_id=award.tech_id, value_usd=self.value)).accepted:
                self._kit_spent[(award.area_id, week)] = spent + self.value
                self.counts["kits_paid"] += 1

    def _coop(self, now: datetime) -> None:
        visits = self.fixes.visits().filter(
            (pl.col("ts") >= now - timedelta(days=7))
            & (pl.col("ts") < now)
            & pl.col("area_id").is_in(self.on)
        )
        teams = visits.group_by("area_id").agg(
            (100.0 * pl.col("fixed").mean()).alias("ftf"), pl.col("tech_id").n_unique().alias("n")
        )
        for area, ftf, members in teams.sort("area_id").iter_rows():
            if ftf >= self.coop_target_pct:
                bonus = TeamBonus(area_id=area, usd_per_member=self.value, members=int(members))
                if self.sim.apply(bonus).accepted:
                    self.counts["teams_paid"] += 1

    def _missions(self, day: int, week: date, now: datetime) -> None:
        scores = self.techpower.scores(week).filter(pl.col("area_id").is_in(self.on))
        new = self.missions.propose(scores, now)
        treated: set[str] = set()
        for m in new:
            result = self.sim.apply(TechMission(tech_id=m.tech_id, metric=m.metric, jobs=m.needed))
            if result.accepted:
                treated.add(m.tech_id)
            else:
                m.status = "expired"
        self.counts["missions"] += len(treated)
        control = {t for t, (_a, _m, at) in self.missions.control.items() if at == now}
        if treated and control:
            self.cohorts.append((day, treated, control))

    def _replays(self, week: date) -> None:
        scores = self.techpower.scores(week)
        if scores.is_empty():
            return
        codes = self.techpower.code_scores(week)
        p90 = float(scores["network_p90"][0])
        top = scores.filter(pl.col("techpower") >= p90)["tech_id"].to_list()
        published = codes.filter(pl.col("tech_id").is_in(top))
        weak = (
            codes.filter(pl.col("area_id").is_in(self.on) & pl.col("fix_z").is_not_null())
            .sort("tech_id", "fix_z", "job_code")
            .group_by("tech_id", maintain_order=True)
            .head(REPLAY_CODES)
        )
        for tech, code in weak.select("tech_id", "job_code").iter_rows():
            authors = published.filter(pl.col("job_code") == code)["tech_id"].to_list()
            if not [a for a in authors if a != tech]:
                continue
            result = self.sim.apply(ReplayRecommendation(tech_id=tech, job_code=code))
            if result.accepted:
                self.counts["replays_recommended"] += 1
                self.counts["replays_viewed"] += int(result.details.get("viewed", 0))


def per_tech_week(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Per tech between two :meth:`Evaluation.gaming` snapshots: first visits ``n``, and the
    ``recorded`` and ``true`` first-time fixes among them."""
    return after.join(before, on="tech_id", suffix="_0").select(
        "tech_id",
        (pl.col("first_visits") - pl.col("first_visits_0")).alias("n"),
        (pl.col("recorded_fixes") - pl.col("recorded_fixes_0")).alias("recorded"),
        (pl.col("true_fixes") - pl.col("true_fixes_0")).alias("true"),
    )
