"""``tailguard demo``: the network with the area agents on, against the same seed with them off.

1. Build the network and warm it up for ``warmup_days`` with no one acting, feeding the
   scorecards and the agents' memory (the roster's hire dates), so every KPI window is full
   and every tech's tenure known before anyone acts.
2. Fork the world (a copy: common random numbers, the two arms are identical until the
   agents act) into the agents-on and agents-off arms.
3. Agents-on: every hour, the simulator steps, the area agents tick (scorecard, pulse, rules,
   choices, governed execution through the control plane into ``ledger.db``), and a simulated
   approver decides gates through the same API a person uses, at 20, 40 and 59 minutes past.
   At each week's end the week is snapshotted and the weekly cycle (packs and OKRs into
   ``weeks/``) runs in another process while the agents go on; it reads nothing written after
   the week's end, so its pages do not depend on how far the agents got meanwhile.
   Every midnight the areas publish to the crowd exchange, which runs and starts local A/B
   tests of tactics proven elsewhere (:mod:`tailguard.demo.crowd`).
4. Agents-off: the same hours with no agents; only the scorecard. It runs in a separate
   process at the same time as the agents-on arm (the machine's second core).

Where the areas' scorecard state lives is the engine's (:mod:`tailguard.engine`): this
process (``--engine local``, the default), worker processes (``--shards N``) or Ray actors
(``--engine ray``). The figures are the same whichever; only the wall times differ.
5. Write ``summary.json`` and ``report.html``; verify the ledger.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.process
import multiprocessing.synchronize
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from tailguard.agents.approver import ApproverPolicy
from tailguard.agents.catalogue import Catalogue
from tailguard.agents.world import build_world, warm_up
from tailguard.clock import format_ts
from tailguard.control.approval_policies import ApprovalPolicy
from tailguard.demo.approvals import approval_summary, approvals_frame
from tailguard.demo.business import business_figures, net_gross_profit
from tailguard.demo.compare import compare_arms, paired_difference
from tailguard.demo.compendium import curate_week
from tailguard.demo.crowd import DemoCrowd
from tailguard.demo.decisions import intervention_summary, report_interventions
from tailguard.demo.gamification import DemoGamification
from tailguard.demo.harm import harmful_interventions
from tailguard.demo.levers import DemoLevers, lever_overview, okr_levers
from tailguard.demo.money import MoneyMeter, committed_spend
from tailguard.demo.yoy import demo_baseline, measure_yoy, yoy_figures
from tailguard.engine import ENGINES, detach, open_engine
from tailguard.errors import InvalidInputError
from tailguard.gamification import FixLedger
from tailguard.ledger.kpis import control_plane_kpis
from tailguard.metrics.state import Scorecards
from tailguard.rules import GUARD_BANDS
from tailguard.rules.guardbands import inside_expr
from tailguard.sim import NetworkConfig, Simulator

_THRESHOLD_BANDS = [b for b in GUARD_BANDS if b.kind == "threshold"]


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoConfig:
    """What ``tailguard demo`` runs."""

    areas: int = 400
    weeks: int = 2
    seed: int = 7
    out: Path = Path("tailguard-demo")
    warmup_days: int = 7
    catalogue: Catalogue | None = None
    approver: ApproverPolicy = field(default_factory=ApproverPolicy)
    weekly: bool = True
    policy: str = "learning"
    approval_policies: tuple[ApprovalPolicy, ...] = ()
    gamification: bool = False
    #: Where the areas' scorecard state lives: ``local`` or ``ray`` (tailguard.engine).
    engine: str = "local"
    #: Parts the areas are split into (``local``: 1 is this process, more are processes).
    shards: int = 1
    #: With ``ray``: a cluster to join (None: a local Ray).
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InvalidInputError("--engine must be local or ray")
        if not 1 <= self.shards <= 64:
            raise InvalidInputError("--shards must be between 1 and 64")
        if self.policy not in ("learning", "fixed"):
            raise InvalidInputError("--policy must be learning or fixed")
        if not 1 <= self.areas <= 5000:
            raise InvalidInputError("--areas must be between 1 and 5000")
        if not 1 <= self.weeks <= 12:
            raise InvalidInputError("--weeks must be between 1 and 12")
        if not 1 <= self.warmup_days <= 28:
            raise InvalidInputError("the warm-up must be between 1 and 28 days")


Progress = Callable[[str, int, int], None]


def hourly_rows(scorecard: pl.DataFrame, arm: str, hour: datetime) -> pl.DataFrame:
    """One row per area: the guard-band KPIs, ``inside_<band>`` and ``inside_all``.

    A KPI without data is neither inside nor outside (null); ``inside_all`` holds when no band
    with data is broken. The jobs/week year-on-year band needs last year's figure, which a
    simulated network has only as a seeded baseline: its ``inside_`` column is null here and
    filled afterwards (:func:`tailguard.demo.yoy.measure_yoy`).
    """
    cols = list(dict.fromkeys(b.kpi for b in GUARD_BANDS))
    inside = [
        (inside_expr(b) if b.kind == "threshold" else pl.lit(None, pl.Boolean)).alias(
            f"inside_{b.id}"
        )
        for b in GUARD_BANDS
    ]
    frame = scorecard.select("area_id", *[pl.col(c).cast(pl.Float64) for c in cols]).with_columns(
        inside
    )
    return frame.with_columns(
        pl.all_horizontal(
            [pl.col(f"inside_{b.id}").fill_null(True) for b in _THRESHOLD_BANDS]
        ).alias("inside_all"),
        pl.lit(arm).alias("arm"),
        pl.lit(hour).cast(pl.Datetime("us", "UTC")).alias("hour"),
    ).select(
        "arm", "hour", "area_id", *cols, *[f"inside_{b.id}" for b in GUARD_BANDS], "inside_all"
    )


def _arm_summary(hourly: pl.DataFrame, last: pl.DataFrame) -> dict[str, Any]:
    band = {b.id: _pct(hourly[f"inside_{b.id}"].drop_nulls()) for b in _THRESHOLD_BANDS}
    # Rounded to 6 decimals: the medians are sums of hourly partials, whose last bits depend on
    # the order the engine merged them in (one process or shards), not on what happened.
    kpis = {
        c: (None if last[c].drop_nulls().is_empty() else round(float(last[c].median()), 6))  # type: ignore[arg-type]
        for c in last.columns
        if c != "area_id"
    }
    held = hourly.select(
        pl.mean_horizontal(
            [pl.col(f"inside_{b.id}").cast(pl.Float64) for b in _THRESHOLD_BANDS]
        ).mean()
    ).item()
    # jobs/week +12 % YoY against last year's figures (demo/yoy.py); null when unknown.
    yoy = yoy_figures(hourly)
    band["jobs_yoy"] = yoy["jobs_yoy"]
    return {
        "guardband_pass_pct": _pct(hourly["inside_all"]),
        "guardband_pass_pct_with_yoy": yoy["guardband_pass_pct_with_yoy"],
        "bands_held_pct": None if held is None else round(100.0 * float(held), 3),
        "band_pass_pct": band,
        "kpis": kpis,
        "area_hours": hourly.height,
    }


def _pct(series: pl.Series) -> float | None:
    if series.is_empty():
        return None
    return round(100.0 * float(series.cast(pl.Float64).mean()), 3)  # type: ignore[arg-type]


def run_demo(config: DemoConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run the demo (see the module docstring); returns the summary it wrote."""
    areas_engine = open_engine(config.engine, shards=config.shards, address=config.ray_address)
    try:
        return _run(config, progress, areas_engine.scorecards(prefetch=("tech", "zip", "sku")))
    finally:
        areas_engine.close()


def _run(config: DemoConfig, progress: Progress | None, engine: Scorecards) -> dict[str, Any]:
    say = progress or (lambda _stage, _done, _total: None)
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm", "pulse.db", "summary.json"):
        (out / name).unlink(missing_ok=True)
    walls: dict[str, float] = {}
    t0 = time.perf_counter()

    sim = Simulator(NetworkConfig(areas=config.areas, seed=config.seed))
    # With gamification, the fix ledger also watches the warm-up: each tech's own baseline.
    history = FixLedger() if config.gamification else None
    signals = warm_up(
        sim,
        engine,
        config.warmup_days * 24,
        lambda d, t: say("warm-up", d, t),
        observe=None if history is None else lambda ev: history.ingest(pl.from_arrow(ev)),  # type: ignore[arg-type]
    )
    engine.scorecard(sim.now)
    start = sim.now
    hours = config.weeks * 7 * 24
    walls["warmup"] = time.perf_counter() - t0

    # The agents-off arm runs in another process while this one runs the agents: the world is
    # copied (pickled, as deepcopy would) before either arm steps, so both arms start from the
    # same state and the same random streams (common random numbers).
    off_dir = tempfile.TemporaryDirectory(prefix="tailguard-demo-off-")
    off_arm = _start_off_arm(sim, detach(engine), hours, Path(off_dir.name))

    # ------------------------------------------------------------ agents on
    t1 = time.perf_counter()
    world = build_world(
        sim,
        engine,
        out,
        seed=config.seed,
        catalogue=config.catalogue,
        approver=config.approver,
        policy=config.policy,
        signals=signals,
        approval_policies=config.approval_policies,
    )
    agents, ledger, control, learning = world.agents, world.ledger, world.control, world.learning
    catalogue = agents.catalogue
    ledger_url = f"sqlite:///{out / 'ledger.db'}"
    on_rows: list[pl.DataFrame] = []
    ticks: list[float] = []
    phases: dict[str, float] = {}
    weeks: list[_Week] = []
    weekly_wait = 0.0
    week_versions: list[str] = []
    crowd = DemoCrowd.for_world(world, seed=config.seed)
    game = None if history is None else DemoGamification(world, seed=config.seed, fixes=history)
    if game is not None:
        game.start(sim.now)  # gamification (demo/gamification.py): rewards A/B-tested by area
    levers = DemoLevers(world)  # the weekly OKR levers as actions (demo/levers.py)
    money_on = MoneyMeter()  # gross profit in dollars (demo/money.py)
    for h in range(hours):
        a = time.perf_counter()
        report = world.hour()
        now = sim.now
        levers.hour()
        money_on.ingest(world.last_events)
        if game is not None:
            game.hour()
        ticks.append(time.perf_counter() - a)
        for k, v in report.seconds.items():
            phases[k] = phases.get(k, 0.0) + v
        assert agents.last_scorecard is not None
        on_rows.append(hourly_rows(agents.last_scorecard, "on", now))
        if (h + 1) % 24 == 0:
            crowd.night(now)  # publishing, the exchange, local tests (demo/crowd.py)
            if game is not None:
                game.night(now)
        if (h + 1) % (7 * 24) == 0:
            week_versions.append(agents.chooser.policy.version)
            curate_week(world, out)  # the compendium's curator (demo/compendium.py)
        if config.weekly and (h + 1) % (7 * 24) == 0:
            levers.close_week()
            weekly_wait += _weekly(engine, now, out, ledger_url, weeks, last=h + 1 == hours)
            if h + 1 < hours:  # next week's levers run from its first hour
                tw = time.perf_counter()
                _wait_for_okrs(weeks)
                weekly_wait += time.perf_counter() - tw
                levers.apply(weeks[-1].as_of)
        say("agents on", h + 1, hours)
    walls["agents_on"] = time.perf_counter() - t1
    on_last = agents.last_scorecard

    # ----------------------------------------------------------- agents off
    t2 = time.perf_counter()
    off_rows, off_last, money_off, walls["agents_off"] = _join_off_arm(off_arm, Path(off_dir.name))
    off_dir.cleanup()
    say("agents off", hours, hours)
    walls["agents_off_wait"] = time.perf_counter() - t2
    assert on_last is not None

    # -------------------------------------------------------------- results
    t3 = time.perf_counter()
    hourly = pl.concat([*on_rows, off_rows])
    baseline = demo_baseline(off_rows, start, config.weeks * 7, seed=config.seed, out=out)
    hourly = measure_yoy(hourly, baseline)
    hourly.write_parquet(out / "hourly.parquet")
    decisions = learning.frame()
    approvals = approvals_frame(control)
    end = sim.now
    cp_kpis = control_plane_kpis(ledger, since=start, until=end + timedelta(days=1))
    # The last week's cycle has gone on meanwhile; its OKR records are verified and counted.
    tw = time.perf_counter()
    _wait_for_okrs(weeks)
    walls["weekly_wait_loop"], walls["weekly_wait_okrs"] = weekly_wait, time.perf_counter() - tw
    verify = ledger.verify()
    interventions = intervention_summary(decisions)
    summary: dict[str, Any] = {
        "areas": config.areas,
        "weeks": config.weeks,
        "seed": config.seed,
        "start": format_ts(start),
        "end": format_ts(end),
        "agents_on": _arm_summary(hourly.filter(pl.col("arm") == "on"), on_last),
        "agents_off": _arm_summary(hourly.filter(pl.col("arm") == "off"), off_last),
        "comparison": compare_arms(hourly, [b.id for b in _THRESHOLD_BANDS]),
        "policy": config.policy,
        "learning_curve": learning_curve(hourly, start, week_versions),
        "policy_versions": _policy_versions(agents),
        "interventions": interventions,
        "approvals": approval_summary(approvals, cp_kpis, control, delegated=bool(world.decider)),
        "ledger": {"records": ledger.count(), "verified": bool(verify.ok)},
        "catalogue": {"source": catalogue.source, "policy_version": catalogue.policy_version},
        "tick_seconds": {
            "p50": _q(ticks, 0.5),
            "p95": _q(ticks, 0.95),
            "max": max(ticks) if ticks else None,
            "phases_total": {k: round(v, 3) for k, v in sorted(phases.items())},
        },
        "wall_seconds": walls,
        "crowd": crowd.summary(start=start, weeks=config.weeks),
        "gamification": game.summary() if game is not None else {"enabled": False},
        "okr_levers": okr_levers(ledger, start),
    }
    summary["okr_levers_overview"] = lever_overview(summary["okr_levers"])
    net_gp = net_gross_profit(
        money_on.frame(), money_off, committed_spend(decisions), weeks=config.weeks
    )
    summary["business"] = business_figures(
        hourly, spend_usd=summary["interventions"]["cost_usd"], net_gp=net_gp
    )
    summary["business"]["harmful_interventions"] = harmful_interventions(
        decisions, catalogue.groups(), start=start, end=end
    )
    from tailguard.demo.report import render_report

    tw = time.perf_counter()
    week_links = _join_weeks(weeks, out)
    walls["weekly_wait_pages"] = time.perf_counter() - tw
    render_report(
        out,
        summary=summary,
        hourly=hourly,
        interventions=report_interventions(decisions),
        approvals=approvals,
        control_kpis=cp_kpis,
        week_links=week_links,
    )
    walls["results"] = time.perf_counter() - t3
    walls["total"] = time.perf_counter() - t0
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    ledger.close()
    return summary


def learning_curve(
    hourly: pl.DataFrame, start: datetime, versions: list[str]
) -> list[dict[str, Any]]:
    """Week by week: the paired gain of agents on over off in area-hours inside every band."""
    out: list[dict[str, Any]] = []
    for w, version in enumerate(versions):
        lo, hi = start + timedelta(days=7 * w), start + timedelta(days=7 * (w + 1))
        week = hourly.filter((pl.col("hour") > lo) & (pl.col("hour") <= hi))
        diff = paired_difference(week, "inside_all")
        out.append(
            {
                "week": w + 1,
                "guardband_gain_points": diff["points"],
                "ci95": diff["ci95"],
                "policy_version": version,
            }
        )
    return out


def _policy_versions(agents: Any) -> dict[str, Any]:
    learner = agents.learner
    if learner is None:
        return {"count": 0, "rollbacks": []}
    return {
        "count": len(agents.updates) + 1,
        "last": agents.chooser.policy.version,
        "rollbacks": learner.rollbacks,
    }


def _off_arm(sim: Simulator, engine: Scorecards, hours: int, into: str) -> None:
    """The agents-off arm (run in its own process): the same hours, scorecards only."""
    # The agents-on arm is the demo's critical path; this arm has slack, so it gives way.
    os.nice(10)
    t = time.perf_counter()
    rows: list[pl.DataFrame] = []
    last: pl.DataFrame | None = None
    money = MoneyMeter()
    for _ in range(hours):
        events = sim.step()
        engine.ingest(events)
        money.ingest(events)
        last = engine.scorecard(sim.now)
        rows.append(hourly_rows(last, "off", sim.now))
    assert last is not None
    folder = Path(into)
    pl.concat(rows).write_parquet(folder / "off.parquet")
    last.write_parquet(folder / "off_last.parquet")
    money.frame().write_parquet(folder / "off_money.parquet")
    (folder / "off.json").write_text(json.dumps({"wall": time.perf_counter() - t}))


def _start_off_arm(
    sim: Simulator, engine: Scorecards, hours: int, into: Path
) -> multiprocessing.process.BaseProcess:
    # spawn, not fork: Polars' thread pool does not survive a fork.
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_off_arm, args=(sim, engine, hours, str(into)), daemon=True)
    # One Polars thread in the child (read when it imports Polars): the two arms would
    # otherwise each run a pool as wide as the machine.
    before = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"
    try:
        proc.start()
    finally:
        if before is None:
            del os.environ["POLARS_MAX_THREADS"]
        else:
            os.environ["POLARS_MAX_THREADS"] = before
    return proc


def _join_off_arm(
    proc: multiprocessing.process.BaseProcess, into: Path
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, float]:
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"the agents-off arm failed (exit code {proc.exitcode})")
    wall = float(json.loads((into / "off.json").read_text())["wall"])
    return (
        pl.read_parquet(into / "off.parquet"),
        pl.read_parquet(into / "off_last.parquet"),
        pl.read_parquet(into / "off_money.parquet"),
        wall,
    )


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)


@dataclass(frozen=True, slots=True)
class _Week:
    """A weekly cycle running in its own process; ``committed`` is set once its OKR records
    are in the ledger (or it failed before writing any)."""

    as_of: datetime
    proc: multiprocessing.process.BaseProcess
    committed: multiprocessing.synchronize.Event


def _weekly(
    engine: Scorecards,
    now: datetime,
    out: Path,
    ledger_url: str,
    weeks: list[_Week],
    *,
    last: bool,
) -> float:
    """Snapshot the week here (it needs the engine's state; it is cheap) and start the weekly
    cycle in another process, so the agents go on meanwhile (see :func:`_week_cycle`).

    Returns the seconds spent waiting for last week's cycle to commit its OKRs, which this
    week's scores (it commits them early, before rendering, so the wait is usually nil).
    """
    from tailguard.weekly import snapshot_week

    as_of = now.replace(hour=0, minute=0, second=0, microsecond=0)
    snapshot_week(engine, as_of, out)
    t = time.perf_counter()
    _wait_for_okrs(weeks)
    waited = time.perf_counter() - t
    weeks.append(_start_week(ledger_url, as_of, out, last=last))
    return waited


def _start_week(ledger_url: str, as_of: datetime, out: Path, *, last: bool) -> _Week:
    """Start a week's cycle. Beside the agents it gives way (nice, one Polars thread, rendering
    in its own process); the last week's has no agents to give way to, and renders in two."""
    ctx = multiprocessing.get_context("spawn")  # as for the agents-off arm: Polars and fork
    week_dir = out / "weeks" / as_of.strftime("%Y-%m-%d")
    committed = ctx.Event()
    proc = ctx.Process(
        target=_week_cycle,
        args=(ledger_url, as_of, str(week_dir), committed, last),
        daemon=not last,  # a daemonic process may not start the render processes
    )
    before = os.environ.get("POLARS_MAX_THREADS")
    if not last:
        os.environ["POLARS_MAX_THREADS"] = "1"
    try:
        proc.start()
    finally:
        if before is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = before
    return _Week(as_of, proc, committed)


_WEEK_FAILED = 3


def _week_cycle(
    ledger_url: str,
    as_of: datetime,
    week_dir: str,
    committed: multiprocessing.synchronize.Event,
    last: bool,
) -> None:
    """The weekly cycle of one week, in its own process (HTML only: PDFs are `tailguard
    week`'s). It reads nothing the agents write after ``as_of``, so its pages are the same
    however far the agents have got meanwhile. A failure is written to ERROR.txt."""
    if not last:
        os.nice(10)  # the agents-on arm is the demo's critical path
    from tailguard.weekly import run_week

    def tell(stage: str, _done: int, _total: int) -> None:
        if stage == "commit":
            committed.set()

    try:
        workers = min(2, os.cpu_count() or 1) if last else 1
        run_week(ledger_url, as_of, Path(week_dir), workers=workers, pdf=False, progress=tell)
    except Exception as exc:  # the demo goes on; the report says what happened
        Path(week_dir).mkdir(parents=True, exist_ok=True)
        (Path(week_dir) / "ERROR.txt").write_text(f"weekly cycle failed: {exc}\n")
        raise SystemExit(_WEEK_FAILED) from None
    finally:
        committed.set()


def _wait_for_okrs(weeks: list[_Week]) -> None:
    """Until every weekly cycle has written its OKR records (or ended)."""
    for week in weeks:
        while not week.committed.wait(0.2) and week.proc.is_alive():
            pass


def _join_weeks(weeks: list[_Week], out: Path) -> list[tuple[str, str]]:
    """Wait for every weekly cycle; the report's link to each week's pages or its ERROR.txt."""
    links: list[tuple[str, str]] = []
    for week in weeks:
        week.proc.join()
        day = f"{week.as_of:%Y-%m-%d}"
        if week.proc.exitcode == 0:
            links.append((f"weekly packs, week ending {day}", f"weeks/{day}/index.html"))
            continue
        if week.proc.exitcode != _WEEK_FAILED:  # it died without saying why
            (out / "weeks" / day).mkdir(parents=True, exist_ok=True)
            (out / "weeks" / day / "ERROR.txt").write_text(
                f"weekly cycle failed: its process ended with exit code {week.proc.exitcode}\n"
            )
        links.append((f"week of {day} (failed: see ERROR.txt)", f"weeks/{day}/ERROR.txt"))
    return links
