"""The gamification program an agent runs: rewards A/B-tested by area, streak prizes paid
through gates, gamed fixes stopped.

* **Arms.** Each area draws its reward sizes at random (the fix bonus and the parts-kit
  streak prize, each from its configured levels, independently, with the probability logged),
  so every layer's effect is measured against areas without it, not against last month. The
  draw is the area's for the whole programme; it is set through the governed
  ``set_gamification_reward`` tool (execute_high: a person approves it).
* **Every hour** :meth:`GamificationProgram.ingest` folds the events into TechPower, the kit
  streaks and the fix ledger.
* **Every night** :meth:`GamificationProgram.night` resumes the approved calls, pays the kits
  the day's streaks earned (``award_kit_bonus``, gated, within the area's weekly kit budget;
  only where the area's kit arm is on), and withholds the fix bonus of techs whose fixes look
  gamed (``withhold_fix_bonus``; :func:`~tailguard.gamification.gaming.gaming_flags` against
  each tech's own history before the bonus).
* **Every week** :meth:`GamificationProgram.week` scores TechPower and keeps the opted-in
  leaderboards.

Everything goes through the control plane: a run per night, every call a ledger record, every
payout behind a gate. The program never reads the simulator's truth.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import numpy as np
import polars as pl

from tailguard.control import ControlPlane, Run, StepResult
from tailguard.errors import InvalidInputError, TailguardError
from tailguard.gamification.gaming import FixLedger, gaming_flags
from tailguard.gamification.missions import Mission, MissionBook, MissionConfig
from tailguard.gamification.replays import ReplayLibrary
from tailguard.gamification.store import GameStore
from tailguard.gamification.streaks import KitAward, KitStreaks
from tailguard.gamification.techpower import TechPowerBook, leaderboard

INITIATOR: Final = "gamification-agent"
ROLE: Final = "gamification"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProgramConfig:
    """What the program rewards, how much, and how it judges gaming.

    Attributes:
        ftf_bonus_levels: the fix-bonus sizes areas are randomised over (USD per recorded
            first-time fix; 0 is the control arm).
        kit_value_levels: the parts-kit streak prize sizes (USD; 0: no streak prizes).
        coop_bonus_levels: the co-op bonus per team member for a week the area's team meets
            its goal (USD; 0: no co-op goal).
        coop_target_ftf_pct: the team goal: the area's recorded first-time fix share of the
            week's first visits at least this (and, for the badge, no member withheld).
        kit_budget_usd_week: at most this much in kit prizes per area and week.
        streak_length: fully used pre-staged kits in a row that earn a prize.
        gaming_q: the false discovery rate of the gaming flags.
        leaderboard_top: techs shown per area board.
        missions: who gets a sprint mission and what it asks (None: no missions).
    """

    ftf_bonus_levels: tuple[float, ...] = (0.0, 10.0)
    kit_value_levels: tuple[float, ...] = (0.0, 50.0)
    coop_bonus_levels: tuple[float, ...] = (0.0, 25.0)
    coop_target_ftf_pct: float = 88.0
    kit_budget_usd_week: float = 300.0
    streak_length: int = 10
    gaming_q: float = 0.1
    leaderboard_top: int = 10
    missions: MissionConfig | None = field(default_factory=MissionConfig)

    def __post_init__(self) -> None:
        if not 50 <= self.coop_target_ftf_pct <= 100:
            raise InvalidInputError("coop_target_ftf_pct must be between 50 and 100")
        for name in ("ftf_bonus_levels", "kit_value_levels", "coop_bonus_levels"):
            levels = getattr(self, name)
            if not levels or any(not 0 <= v <= 500 for v in levels):
                raise InvalidInputError(f"{name}: one or more levels between 0 and 500 USD")
        if self.kit_budget_usd_week < 0 or self.streak_length < 2:
            raise InvalidInputError("the kit budget must be >= 0 and a streak at least 2 jobs")


@dataclass(frozen=True, slots=True)
class Arm:
    """An area's reward sizes and the probability each was drawn with."""

    ftf_bonus_usd: float
    kit_value_usd: float
    propensity: float
    coop_bonus_usd: float = 0.0


@dataclass
class ProgramStats:
    """What the program did (counts for the summary)."""

    kits_earned: int = 0
    kits_over_budget: int = 0
    kits_requested: int = 0
    kits_paid: int = 0
    kits_paid_usd: float = 0.0
    teams_checked: int = 0
    teams_met: int = 0
    teams_paid: int = 0
    teams_paid_usd: float = 0.0
    rewards_set: int = 0
    withheld: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)


class GamificationProgram:
    """The programme for a set of areas, run through ``control`` (see the module docstring).

    Args:
        control: the control plane; the program's tools (:func:`gamification_tools`) must be
            registered in its registry.
        areas: the areas in the programme.
        config: reward levels, budgets and the gaming test's settings.
        seed: the arms' draw.
        opted_in: techs who chose to be shown on leaderboards (all others are scored only).
        fixes: a fix ledger already fed with history (each tech's baseline before the bonus);
            None: a new one (techs are then judged against the network until they have one).
        store: where the scores, streaks, arms and actions are kept for the technician's page
            and the operator's view (None: in memory only).
    """

    def __init__(
        self,
        control: ControlPlane,
        areas: Sequence[str],
        *,
        config: ProgramConfig | None = None,
        seed: int = 0,
        opted_in: Collection[str] = (),
        fixes: FixLedger | None = None,
        store: GameStore | None = None,
    ) -> None:
        self.control = control
        self.config = cfg = config or ProgramConfig()
        self.opted_in = set(opted_in)
        rng = np.random.default_rng([seed, 23])
        p = 1.0 / (
            len(cfg.ftf_bonus_levels) * len(cfg.kit_value_levels) * len(cfg.coop_bonus_levels)
        )
        self.arms: dict[str, Arm] = {}
        for a in sorted(areas):
            ftf, kit = (
                float(rng.choice(cfg.ftf_bonus_levels)),
                float(rng.choice(cfg.kit_value_levels)),
            )
            self.arms[a] = Arm(ftf, kit, p, float(rng.choice(cfg.coop_bonus_levels)))
        self.techpower = TechPowerBook()
        self.streaks = KitStreaks(length=cfg.streak_length)
        self.fixes = fixes if fixes is not None else FixLedger()
        self.started: dict[str, datetime] = {}
        self.stats = ProgramStats()
        self.boards: dict[date, pl.DataFrame] = {}
        self.scores: dict[date, pl.DataFrame] = {}
        self._due: list[KitAward] = []
        self._kit_spent: dict[tuple[str, date], float] = {}
        self._open: list[Run] = []
        self.store = store
        self._tech_area: dict[str, str] = {}
        self._actions: dict[str, dict[str, Any]] = {}
        self.missions = MissionBook(config=cfg.missions or MissionConfig(), seed=seed)
        self._ended: list[Mission] = []

    # ------------------------------------------------------------------ hourly
    def ingest(self, events: pl.DataFrame) -> None:
        """Fold an hour of events into the scores, the streaks and the fix ledger."""
        self.techpower.ingest(events)
        self.fixes.ingest(events)
        if self.store is not None and events.height:
            done = events.filter(pl.col("tech_id").is_not_null() & pl.col("area_id").is_not_null())
            self._tech_area.update(done.select("tech_id", "area_id").unique("tech_id").iter_rows())
        if self.config.missions is not None:
            self._ended.extend(self.missions.ingest(events))
        earned = self.streaks.ingest(events)
        self.stats.kits_earned += len(earned)
        self._due.extend(a for a in earned if self.arms.get(a.area_id, _OFF).kit_value_usd > 0)

    # ------------------------------------------------------------------ nightly
    def start(self, now: datetime) -> None:
        """Ask (through gates) for every area's reward sizes; the bonus starts once approved."""
        run = self._run(now, "set each area's gamification rewards")
        for area, arm in self.arms.items():
            for parameter, value in (
                ("ftf_bonus_usd", arm.ftf_bonus_usd),
                ("kit_streak_value_usd", arm.kit_value_usd),
                ("coop_bonus_usd", arm.coop_bonus_usd),
            ):
                if value > 0:
                    args = {"area_id": area, "parameter": parameter, "value": value}
                    self._count(self.control.execute(run, "set_gamification_reward", args))
            self.started[area] = now
        if self.store is not None:
            self.store.put_arms(
                {
                    a: {
                        "ftf_bonus_usd": m.ftf_bonus_usd,
                        "kit_value_usd": m.kit_value_usd,
                        "coop_bonus_usd": m.coop_bonus_usd,
                        "propensity": m.propensity,
                    }
                    for a, m in self.arms.items()
                }
            )
            self.store.seed_opt_ins(sorted(self.opted_in), by="field-app", now=now)

    def night(self, now: datetime) -> None:
        """Resume approved calls, pay earned kits, withhold gamed fix bonuses (module doc)."""
        self._resume()
        run = self._run(now, "nightly gamification: kit prizes and gaming checks")
        for award in self._take_due():
            arm = self.arms[award.area_id]
            week = award.at.date() - timedelta(days=award.at.weekday())
            spent = self._kit_spent.get((award.area_id, week), 0.0)
            if spent + arm.kit_value_usd > self.config.kit_budget_usd_week:
                self.stats.kits_over_budget += 1
                continue
            self._kit_spent[(award.area_id, week)] = spent + arm.kit_value_usd
            args = {
                "tech_id": award.tech_id,
                "value_usd": arm.kit_value_usd,
                "streak": award.streak,
            }
            self.stats.kits_requested += 1
            result = self.control.execute(run, "award_kit_bonus", args)
            self._count(result)
            self._keep(result, now, area=award.area_id, tech=award.tech_id, usd=arm.kit_value_usd)
        self.missions.expire(now)
        for m in self._take_ended():
            if m.status == "completed" and m.xp > 0:
                args_xp = {"tech_id": m.tech_id, "xp": m.xp, "mission_id": m.mission_id}
                result = self.control.execute(run, "grant_xp", args_xp)
                self._count(result)
                self._keep(result, now, area=m.area_id, tech=m.tech_id, detail=m.text)
        for tech, q in self.gaming_suspects(now):
            evidence = f"fixes since the bonus come back beyond the tech's own past (q={q:.3f})"
            result = self.control.execute(
                run, "withhold_fix_bonus", {"tech_id": tech, "evidence": evidence}
            )
            self._count(result)
            self._keep(result, now, area=None, tech=tech, usd=0.0, detail=evidence)
            if result.outcome == "executed":
                self.stats.withheld.append(tech)
        if self.store is not None:
            length = self.streaks.length
            self.store.put_streaks(
                {
                    "tech_id": t,
                    "area_id": self._tech_area.get(t, ""),
                    "current": n,
                    "length": length,
                    "awarded": self.streaks.awarded.get(t, 0),
                }
                for t, n in self.streaks.current.items()
            )

    def gaming_suspects(self, now: datetime) -> list[tuple[str, float]]:
        """Techs of fix-bonus areas flagged tonight and not yet withheld, with their q-value."""
        bonus = {a for a, arm in self.arms.items() if arm.ftf_bonus_usd > 0 and a in self.started}
        if not bonus:
            return []
        per_tech = self.fixes.frame(now, since=self.started)
        flags = gaming_flags(
            per_tech.filter(pl.col("area_id").is_in(list(bonus))), q=self.config.gaming_q
        )
        done = set(self.stats.withheld)
        return [
            (tech, float(q))
            for tech, q in flags.filter(pl.col("flagged")).select("tech_id", "q_value").iter_rows()
            if tech not in done
        ]

    # ------------------------------------------------------------------ weekly
    def week(self, week: date) -> pl.DataFrame:
        """TechPower of ``week`` (a Monday); keeps every area's opted-in leaderboard."""
        scores = self.techpower.scores(week)
        self.scores[week] = scores
        if self.store is not None:
            self.store.put_week(week, scores)
            ReplayLibrary(self.store).put_weak(week, self.techpower.code_scores(week))
        if self.config.missions is not None:
            self._assign(self.missions.propose(scores, self.control.clock.now()))
        self._coop(week)
        boards = [
            leaderboard(scores, area, self.opted_in, top=self.config.leaderboard_top)
            for area in self.arms
        ]
        self.boards[week] = pl.concat(boards) if boards else scores.clear()
        return scores

    def summary(self) -> dict[str, Any]:
        """Counts, arms and the latest week's leaderboards (JSON-ready)."""
        s = self.stats
        last = max(self.scores) if self.scores else None
        board = self.boards.get(last) if last else None
        return {
            "areas": len(self.arms),
            "arms": {
                a: {
                    "ftf_bonus_usd": arm.ftf_bonus_usd,
                    "kit_value_usd": arm.kit_value_usd,
                    "coop_bonus_usd": arm.coop_bonus_usd,
                    "propensity": arm.propensity,
                }
                for a, arm in self.arms.items()
            },
            "rewards_set": s.rewards_set,
            "kits": {
                "earned": s.kits_earned,
                "requested": s.kits_requested,
                "paid": s.kits_paid,
                "paid_usd": round(s.kits_paid_usd, 2),
                "over_budget": s.kits_over_budget,
            },
            "withheld": len(s.withheld),
            "missions": self.missions.counts(),
            "coop": {
                "checked": s.teams_checked,
                "met": s.teams_met,
                "paid": s.teams_paid,
                "paid_usd": round(s.teams_paid_usd, 2),
            },
            "calls": dict(sorted(s.outcomes.items())),
            "refused": s.refused[:20],
            "techpower": {
                "week": None if last is None else last.isoformat(),
                "scored": 0 if last is None else self.scores[last].height,
                "opted_in": len(self.opted_in),
                "network_p50": _first(self.scores[last], "network_p50") if last else None,
                "network_p90": _first(self.scores[last], "network_p90") if last else None,
                "leaderboard_rows": 0 if board is None else board.height,
                "boards": _sample_boards(board),
            },
        }

    # ------------------------------------------------------------------ helpers
    def _run(self, now: datetime, goal: str) -> Run:
        run = self.control.start_run(ROLE, INITIATOR, f"{goal} ({now:%Y-%m-%d})")
        self._open.append(run)
        return run

    def _coop(self, week: date) -> None:
        """Teams of co-op areas that met the goal in ``week`` get the bonus (gated)."""
        areas = [a for a, arm in self.arms.items() if arm.coop_bonus_usd > 0 and a in self.started]
        if not areas:
            return
        lo = datetime(week.year, week.month, week.day, tzinfo=UTC)
        visits = self.fixes.visits().filter(
            (pl.col("ts") >= lo)
            & (pl.col("ts") < lo + timedelta(days=7))
            & pl.col("area_id").is_in(areas)
        )
        teams = visits.group_by("area_id").agg(
            (100.0 * pl.col("fixed").mean()).alias("ftf"), pl.col("tech_id").n_unique().alias("n")
        )
        run = None
        for area, ftf, members in teams.sort("area_id").iter_rows():
            self.stats.teams_checked += 1
            if ftf < self.config.coop_target_ftf_pct:
                continue
            self.stats.teams_met += 1
            run = run or self._run(self.control.clock.now(), "co-op goals of the week")
            usd = self.arms[area].coop_bonus_usd
            args = {
                "area_id": area,
                "usd_per_member": usd,
                "members": int(members),
                "week": week.isoformat(),
                "team_ftf_pct": round(float(ftf), 2),
            }
            result = self.control.execute(run, "award_team_bonus", args)
            self._count(result)
            self._keep(
                result,
                self.control.clock.now(),
                area=area,
                usd=usd * int(members),
                detail=f"team FTF {ftf:.1f} % in the week of {week}",
            )

    def _assign(self, missions: list[Mission]) -> None:
        if not missions:
            return
        run = self._run(self.control.clock.now(), "weekly sprint missions for the tail")
        for m in missions:
            args = {"tech_id": m.tech_id, "metric": m.metric, "jobs": m.needed, "text": m.text}
            result = self.control.execute(run, "assign_mission", args)
            self._count(result)
            self._keep(result, m.started_at, area=m.area_id, tech=m.tech_id, detail=m.text)
            if result.outcome != "executed":
                m.status = "expired"  # never reached the tech: not counted as a mission

    def _take_ended(self) -> list[Mission]:
        ended, self._ended = self._ended, []
        return ended

    def _take_due(self) -> list[KitAward]:
        due, self._due = self._due, []
        return due

    def _resume(self) -> None:
        still: list[Run] = []
        for run in self._open:
            ready = [c.gate_id for c in self.control.awaiting_execution(run_id=run.run_id)]
            if ready:
                for gate, result in self.control.resume_batch(ready).items():
                    if isinstance(result, TailguardError):
                        self.stats.refused.append(f"{gate}: {result.message}")
                    else:
                        self._count(result, resumed=True)
                        self._keep(result, self.control.clock.now())
            if self.control.pending_gates(run.run_id):
                still.append(run)
            else:
                self.control.finish_run(run)
        self._open = still

    def _keep(
        self,
        result: StepResult,
        now: datetime,
        *,
        area: str | None = None,
        tech: str | None = None,
        usd: float = 0.0,
        detail: str | None = None,
    ) -> None:
        """Keep a kit or withholding call (and, when resumed, its new status) in the store."""
        if self.store is None or result.tool_name == "set_gamification_reward":
            return
        known = self._actions.setdefault(
            result.step_id,
            {
                "at": now,
                "kind": result.tool_name,
                "area_id": area,
                "tech_id": tech,
                "usd": usd,
                "detail": detail,
            },
        )
        self.store.put_action(result.step_id, status=result.outcome, **known)

    def _count(self, result: StepResult, *, resumed: bool = False) -> None:
        key = f"{result.tool_name}:{result.outcome}"
        self.stats.outcomes[key] = self.stats.outcomes.get(key, 0) + 1
        if result.outcome != "executed":
            if result.outcome not in ("pending_approval",):
                self.stats.refused.append(f"{result.tool_name}: {result.reason}")
            return
        if result.tool_name == "set_gamification_reward":
            self.stats.rewards_set += 1
        elif result.tool_name == "award_team_bonus":
            self.stats.teams_paid += 1
            value = result.value if isinstance(result.value, Mapping) else {}
            self.stats.teams_paid_usd += float(value.get("cost_usd") or 0.0)
        elif result.tool_name == "award_kit_bonus":
            self.stats.kits_paid += 1
            value = result.value if isinstance(result.value, Mapping) else {}
            self.stats.kits_paid_usd += float(value.get("cost_usd") or 0.0)


_OFF: Final = Arm(0.0, 0.0, 1.0)


def _first(frame: pl.DataFrame, col: str) -> float | None:
    if frame.is_empty() or frame[col].is_null().all():
        return None
    return round(float(frame[col][0]), 2)


def _sample_boards(board: pl.DataFrame | None, areas: int = 3, top: int = 5) -> dict[str, Any]:
    """The first ``areas`` areas' boards, ``top`` rows each (for the report)."""
    if board is None or board.is_empty():
        return {}
    out: dict[str, Any] = {}
    for area in sorted(set(board["area_id"].to_list()))[:areas]:
        rows = board.filter(pl.col("area_id") == area).sort("board_rank").head(top)
        out[area] = [
            {
                "rank": int(r["board_rank"]),
                "tech_id": r["tech_id"],
                "techpower": round(float(r["techpower"]), 1),
                "jobs": int(r["jobs"]),
            }
            for r in rows.iter_rows(named=True)
        ]
    return out
