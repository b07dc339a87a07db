"""The gamification programme on a real control plane: rewards and kits wait at gates, a gamed
fix bonus is withheld at once, budgets hold, and every call is in a verified ledger."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tailguard.clock import FakeClock
from tailguard.control import ApproverList, ControlPlane, ToolRegistry
from tailguard.errors import InvalidInputError
from tailguard.gamification.program import GamificationProgram, ProgramConfig
from tailguard.gamification.tools import gamification_tools
from tailguard.ledger import Ledger
from tailguard.ledger.kpis import control_plane_kpis

START = datetime(2026, 3, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


class FieldApp:
    """A recording downstream: what it was asked to do, once per idempotency key."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[str, str, dict[str, Any]]] = {}

    def __call__(self, kind: str, area: str, args: Mapping[str, Any], key: str) -> dict[str, Any]:
        self.jobs.setdefault(key, (kind, area, dict(args)))
        cost = float(args.get("value_usd", 0.0)) if kind == "kit_bonus" else 0.0
        return {"status": "executed", "detail": "done", "cost_usd": cost}


@pytest.fixture
def world(db_url: str) -> Iterator[tuple[ControlPlane, FieldApp, FakeClock, Ledger]]:
    clock = FakeClock(START)
    app = FieldApp()
    registry = ToolRegistry()
    for tool in gamification_tools(app):
        registry.register(tool)
    with Ledger.open(db_url, clock=clock) as ledger:
        control = ControlPlane(
            registry,
            ledger,
            clock=clock,
            approvers=ApproverList(approver_ids=frozenset({"ops-lead"})),
        )
        yield control, app, clock, ledger


def completed(
    tech: str,
    area: str,
    at: datetime,
    *,
    job: str,
    fix: bool = True,
    staged: int = 0,
    used: int = 0,
    recall_of: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": f"e-{job}",
        "type": "job.completed",
        "ts": at,
        "completed_at": at,
        "area_id": area,
        "job_id": job,
        "tech_id": tech,
        "job_code": "FR",
        "revenue": 100.0,
        "first_time_fix": fix,
        "recall_of_job_id": recall_of,
        "original_tech_id": None,
        "parts_prestaged": staged,
        "parts_used": used,
        "nps": None,
    }


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema_overrides={"ts": pl.Datetime("us", "UTC"), "completed_at": pl.Datetime("us", "UTC")},
    )


def approve_all(control: ControlPlane) -> int:
    pending = control.pending_gates()
    for call in pending:
        control.decide(call.gate_id, "approve", "ops-lead", reason="ok")
    return len(pending)


def test_rewards_wait_for_a_person_and_run_once_approved(world: Any) -> None:
    control, app, clock, ledger = world
    config = ProgramConfig(
        ftf_bonus_levels=(10.0,), kit_value_levels=(50.0,), coop_bonus_levels=(0.0,)
    )
    program = GamificationProgram(control, ["PA-0001", "PA-0002"], config=config, seed=1)
    program.start(START)
    assert app.jobs == {}  # execute_high: nothing happens before a person says yes
    assert approve_all(control) == 4
    clock.set(START + timedelta(days=1))
    program.night(clock.now())
    kinds = sorted((k, area, a["parameter"], a["value"]) for k, area, a in app.jobs.values())
    assert kinds == [
        ("gamification_reward", "PA-0001", "ftf_bonus_usd", 10.0),
        ("gamification_reward", "PA-0001", "kit_streak_value_usd", 50.0),
        ("gamification_reward", "PA-0002", "ftf_bonus_usd", 10.0),
        ("gamification_reward", "PA-0002", "kit_streak_value_usd", 50.0),
    ]
    assert program.summary()["rewards_set"] == 4
    assert ledger.verify().ok
    kpis = control_plane_kpis(ledger, since=START, until=START + timedelta(days=2))
    assert kpis["overall"]["approval_bypass_count"] == 0


def test_streak_kits_are_gated_and_capped_by_the_weekly_budget(world: Any) -> None:
    """Three techs finish a 2-job streak; the area's budget covers two $50 kits."""
    control, app, clock, ledger = world
    config = ProgramConfig(
        ftf_bonus_levels=(0.0,),
        kit_value_levels=(50.0,),
        coop_bonus_levels=(0.0,),
        streak_length=2,
        kit_budget_usd_week=100.0,
    )
    program = GamificationProgram(control, ["PA-0001"], config=config, seed=1)
    program.start(START)
    approve_all(control)
    rows = [
        completed(
            f"T{t}",
            "PA-0001",
            START + timedelta(hours=h + 3 * t),
            job=f"J{t}-{h}",
            staged=1,
            used=1,
        )
        for t in range(3)
        for h in range(2)
    ]
    program.ingest(frame(rows))
    clock.set(START + timedelta(days=1))
    program.night(clock.now())
    assert program.stats.kits_earned == 3
    assert program.stats.kits_requested == 2
    assert program.stats.kits_over_budget == 1
    assert not [j for j in app.jobs.values() if j[0] == "kit_bonus"]  # waiting at gates
    assert approve_all(control) == 2
    clock.set(START + timedelta(days=2))
    program.night(clock.now())
    kits = [j for j in app.jobs.values() if j[0] == "kit_bonus"]
    assert [j[2]["value_usd"] for j in kits] == [50.0, 50.0]
    assert "streak" not in kits[0][2]  # the streak is for the ledger, not the field app
    assert program.summary()["kits"]["paid_usd"] == 100.0
    assert ledger.verify().ok


def test_a_tech_whose_fixes_come_back_after_the_bonus_loses_it_at_once(world: Any) -> None:
    """Ten techs with the same month before the bonus; after it, T0 leaves nothing unfixed
    and half its fixes come back: its fix bonus is withheld (execute_low, no gate), once."""
    control, app, clock, _ledger = world
    config = ProgramConfig(
        ftf_bonus_levels=(10.0,), kit_value_levels=(0.0,), coop_bonus_levels=(0.0,)
    )
    program = GamificationProgram(control, ["PA-0001"], config=config, seed=1)
    bonus_at = START + timedelta(days=30)
    rows, recalls = [], []
    for t in range(10):
        for k in range(30):
            at = START + timedelta(hours=20 * k)
            rows.append(completed(f"T{t}", "PA-0001", at, job=f"pre-{t}-{k}", fix=k >= 6))
            if k == 10:
                recalls.append(
                    completed(
                        "T99",
                        "PA-0001",
                        at + timedelta(days=3),
                        job=f"r-pre-{t}",
                        fix=False,
                        recall_of=f"pre-{t}-{k}",
                    )
                )
            at = bonus_at + timedelta(hours=12 * k)
            gamer = t == 0
            rows.append(completed(f"T{t}", "PA-0001", at, job=f"post-{t}-{k}", fix=gamer or k >= 6))
            if (gamer and k % 2 == 0) or (not gamer and k == 10):
                recalls.append(
                    completed(
                        "T99",
                        "PA-0001",
                        at + timedelta(days=3),
                        job=f"r-post-{t}-{k}",
                        fix=False,
                        recall_of=f"post-{t}-{k}",
                    )
                )
    program.ingest(frame(rows))
    program.start(bonus_at)
    approve_all(control)
    program.ingest(frame(recalls))
    clock.set(bonus_at + timedelta(days=25))
    program.night(clock.now())
    withheld = [j for j in app.jobs.values() if j[0] == "withhold_fix_bonus"]
    assert [j[2]["tech_id"] for j in withheld] == ["T0"]
    program.night(clock.now() + timedelta(days=1))
    assert len([j for j in app.jobs.values() if j[0] == "withhold_fix_bonus"]) == 1


def test_arms_are_drawn_per_area_with_their_probability() -> None:
    config = ProgramConfig(
        ftf_bonus_levels=(0.0, 5.0, 10.0), kit_value_levels=(0.0, 50.0), coop_bonus_levels=(0.0,)
    )
    areas = [f"PA-{i:04d}" for i in range(1, 301)]
    registry = ToolRegistry()
    with Ledger.open("sqlite://", clock=FakeClock(START)) as ledger:
        program = GamificationProgram(ControlPlane(registry, ledger), areas, config=config, seed=3)
    bonuses = [arm.ftf_bonus_usd for arm in program.arms.values()]
    assert [arm.propensity for arm in program.arms.values()] == [pytest.approx(1 / 6)] * 300
    assert all(60 <= bonuses.count(level) <= 140 for level in (0.0, 5.0, 10.0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ftf_bonus_levels": ()},
        {"kit_value_levels": (-1.0,)},
        {"ftf_bonus_levels": (501.0,)},
        {"streak_length": 1},
        {"kit_budget_usd_week": -5.0},
        {"coop_bonus_levels": (600.0,)},
        {"coop_target_ftf_pct": 120.0},
    ],
)
def test_bad_programme_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        ProgramConfig(**kwargs)


def test_a_team_that_meets_its_goal_gets_its_bonus_through_a_gate(world: Any) -> None:
    """PA-0001's team fixes 9 of 10 first visits in the week (goal 88 %): two members paid
    $25 each once a person approves; PA-0002's team fixes 5 of 10: nothing."""
    control, app, clock, ledger = world
    config = ProgramConfig(
        ftf_bonus_levels=(0.0,), kit_value_levels=(0.0,), coop_bonus_levels=(25.0,), missions=None
    )
    program = GamificationProgram(control, ["PA-0001", "PA-0002"], config=config, seed=1)
    program.start(START)
    assert approve_all(control) == 2  # each area's co-op parameter
    rows = [
        completed(
            f"T{k % 2}-{area}",
            area,
            START + timedelta(hours=5 + k),
            job=f"{area}-{k}",
            fix=k < (9 if area == "PA-0001" else 5),
        )
        for area in ("PA-0001", "PA-0002")
        for k in range(10)
    ]
    program.ingest(frame(rows))
    clock.set(START + timedelta(days=7))
    program.night(clock.now())
    program.week(START.date())
    assert program.stats.teams_checked == 2
    assert program.stats.teams_met == 1
    assert approve_all(control) == 1
    clock.set(START + timedelta(days=8))
    program.night(clock.now())
    teams = [j for j in app.jobs.values() if j[0] == "team_bonus"]
    assert teams == [
        ("team_bonus", "PA-0001", {"area_id": "PA-0001", "usd_per_member": 25.0, "members": 2})
    ]
    assert ledger.verify().ok
