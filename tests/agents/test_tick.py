"""The hourly tick through the real control plane, ledger and self-learn store.

Small simulated networks, warmed up so KPI windows are full; downstream agents are the
simulator's actuators or a real HTTP server on loopback that fails half its calls.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from tailguard.agents import RestDownstream
from tailguard.agents.approver import ApproverPolicy
from tailguard.agents.catalogue import default_catalogue
from tailguard.agents.downstream import DownstreamAgent
from tailguard.agents.signals import Signals
from tailguard.agents.testing import RecordingDownstreamServer
from tailguard.agents.world import AgentWorld, build_world
from tailguard.ledger import Ledger
from tailguard.metrics import ScorecardEngine
from tailguard.sim import NetworkConfig, Simulator
from tailguard.sim.scenarios import day_in_the_life


def _world(
    tmp_path: Path,
    *,
    areas: int = 3,
    seed: int = 11,
    warm_days: int = 7,
    downstream: Callable[[Simulator], DownstreamAgent] | None = None,
    approver: ApproverPolicy | None = None,
) -> AgentWorld:
    sim = Simulator(NetworkConfig(areas=areas, seed=seed))
    engine = ScorecardEngine()
    for _ in range(warm_days * 24):
        engine.ingest(sim.step())
    return build_world(sim, engine, tmp_path, seed=seed, downstream=downstream, approver=approver)


def _ledger_frame(ledger: Ledger, kind: str) -> pl.DataFrame:
    rows = [dict(r.fields, seq=r.seq) for r in ledger.records(kind=kind)]
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def test_a_day_of_ticks_leaves_a_governed_verified_trail(tmp_path: Path) -> None:
    world = _world(tmp_path)
    reports = [world.hour() for _ in range(30)]
    decisions = world.learning.frame()
    assert decisions.height == sum(r.decisions for r in reports) > 0
    # Every decision logged its propensity and policy version, and its context.
    assert decisions["propensity"].is_between(1e-9, 1.0).all()
    assert set(decisions["policy_version"]) == {"catalogue-1"}
    assert all(json.loads(c)["kpis"] for c in decisions["context"])
    # No high-risk step ran without an approved gate.
    steps = _ledger_frame(world.ledger, "step")
    gates = _ledger_frame(world.ledger, "gate")
    executed_high = steps.filter(
        (pl.col("risk_level") == "execute_high") & (pl.col("status") == "executed")
    )
    approved = set(gates.filter(pl.col("decision") == "approved")["gate_id"])
    assert executed_high.height > 0
    assert set(executed_high["approval_gate_id"]) <= approved
    # Each executed decision is one executed step; nothing executed twice.
    done = decisions.filter(pl.col("status") == "executed")
    assert done["step_id"].n_unique() == done.height
    assert set(done["step_id"]) <= set(steps.filter(pl.col("status") == "executed")["step_id"])
    # Every area tick that acted is a run with role area_agent.
    runs = _ledger_frame(world.ledger, "run")
    assert set(runs["role"]) == {"area_agent"}
    assert world.ledger.verify().ok
    # The pulse table has one row per area and hour.
    history = world.agents.pulse.history() if world.agents.pulse else pl.DataFrame()
    assert history.height == 3 * 30


def test_cooldowns_and_budgets_hold_per_area(tmp_path: Path) -> None:
    world = _world(tmp_path, approver=ApproverPolicy(reject_rate=0.0, no_show=0.0))
    for _ in range(48):
        world.hour()
    decisions = world.learning.frame()
    cat = default_catalogue()
    for entry in cat.entries:
        mine = decisions.filter(pl.col("entry_id") == entry.id).sort("decided_at")
        for (_area, target), part in mine.group_by("area_id", "target_id"):
            times = part["decided_at"].to_list()
            gaps = [b - a for a, b in itertools.pairwise(times)]
            key = target if entry.target.unit not in ("customers", "area") else None
            if key is not None:
                assert all(g >= entry.cooldown for g in gaps), (entry.id, target, gaps)
    per_hour = decisions.group_by("area_id", "decided_at").len()
    assert per_hour["len"].max() <= cat.max_actions_per_area_hour  # type: ignore[operator]


def test_outcomes_are_measured_after_their_horizon(tmp_path: Path) -> None:
    world = _world(tmp_path, approver=ApproverPolicy(reject_rate=0.0, no_show=0.0))
    for _ in range(80):
        world.hour()
    decisions = world.learning.frame()
    measured = decisions.filter(pl.col("measured_at").is_not_null())
    assert measured.height > 0
    assert (measured["measured_at"] >= measured["horizon_at"]).all()
    with_both = measured.filter(
        pl.col("outcome_value").is_not_null() & pl.col("baseline_value").is_not_null()
    )
    diff = (
        with_both["outcome_value"] - with_both["baseline_value"] - with_both["outcome_delta"]
    ).abs()
    assert diff.max() < 1e-9  # type: ignore[operator]


def test_rest_downstream_that_fails_half_its_calls_never_loses_or_repeats(tmp_path: Path) -> None:
    with RecordingDownstreamServer(mode="flaky") as server:
        client = RestDownstream(server.url, backoff_initial_s=0.001, backoff_max_s=0.01)
        world = _world(
            tmp_path,
            downstream=lambda _sim: client,
            approver=ApproverPolicy(reject_rate=0.0, no_show=0.0),
        )
        for _ in range(10):
            world.hour()
        executed = server.executed
        received_all = server.received
        client.close()
    decisions = world.learning.frame()
    sent = decisions.filter(pl.col("status").is_in(["executed", "failed"]))
    assert sent.height > 0
    # Every executed decision reached the agent exactly once under its step id.
    done = decisions.filter(pl.col("status") == "executed")
    assert set(done["step_id"]) <= set(executed)
    # ...and the agent acted on nothing else (no job executed behind a recorded failure).
    assert set(executed) == set(done["step_id"])
    received = Counter(r.idempotency_key for r in received_all)
    assert max(received.values()) >= 2  # the flaky agent forced retries
    # Failures carry their reason; nothing is left without a status.
    failed = decisions.filter(pl.col("status") == "failed")
    assert failed["reason"].is_not_null().all()
    assert "decided" not in set(decisions["status"])


#: Moments of the day in the life the agent still misses on this network, and why (issue 5).
#: None today: the rookie's cluster (three detractors in 48 h) is named the hour it shows, now
#: that detractor_cluster tests only rookies where hire dates are known, leaves late arrivals'
#: detractors to lateness and judges the count by its posterior predictive (docs/agents.md).
_GAPS: dict[str, str] = {}

#: The product document's four moments: the intervention kinds that answer each, and whether
#: they wait at an approval gate (money and messages do; a locker buffer does not).
_MOMENTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "surge": (("surge_pay_window", "recruiting_sms"), True),
    "low_earner": (("surge_shift_offer", "nearby_job_offer"), True),
    "parts": (("locker_buffer",), False),
    "rookie": (("master_tech_shadow",), True),
}


@dataclass(frozen=True)
class _DayInTheLife:
    start: datetime
    area: str
    targets: dict[str, str]  # moment -> the unit the matching action must name
    visible: dict[str, datetime | None]  # moment -> first tick whose events show the tail
    decisions: pl.DataFrame  # the area's decisions since the moments began


def _visible_surge(ev: pl.DataFrame, zip_: str, start: datetime) -> datetime | None:
    """First tick whose hour of bookings in the zip is >= 3x its mean of the 24 h before."""
    booked = (
        ev.filter((pl.col("type") == "job.booked") & (pl.col("zip") == zip_)).group_by("tick").len()
    )
    per_tick = dict(booked.iter_rows())
    tick = start + timedelta(hours=1)
    while tick <= max(per_tick, default=start):
        usual = sum(per_tick.get(tick - timedelta(hours=h), 0) for h in range(1, 25)) / 24
        if per_tick.get(tick, 0) >= max(6, 3 * usual):
            return tick
        tick += timedelta(hours=1)
    return None


def _visible_parts(ev: pl.DataFrame, area: str, sku: str, start: datetime) -> datetime | None:
    """First tick with a stock event of the SKU quoting >= 2x its longest lead time before."""
    quotes = ev.filter(
        (pl.col("type") == "parts.stock") & (pl.col("area_id") == area) & (pl.col("sku") == sku)
    )
    before = quotes.filter(pl.col("tick") <= start)["lead_time_days"].max()
    assert isinstance(before, float)
    spiked = quotes.filter((pl.col("tick") > start) & (pl.col("lead_time_days") >= 2 * before))
    first = spiked["tick"].min()
    assert first is None or isinstance(first, datetime)
    return first


def _visible_rookie(ev: pl.DataFrame, tech: str, start: datetime) -> datetime | None:
    """First tick at which the rookie has 3 detractor surveys (NPS <= 6) in the last 48 h."""
    times: list[datetime] = sorted(
        ev.filter(
            (pl.col("type") == "cx.survey") & (pl.col("tech_id") == tech) & (pl.col("nps") <= 6)
        )["tick"].to_list()
    )
    for a, c in zip(times, times[2:], strict=False):
        if c > start and c - a < timedelta(hours=48):
            return c
    return None


def _visible_decline(ev: pl.DataFrame, tech: str, start: datetime) -> datetime | None:
    """First midnight after which the tech's pay of their last 2 worked days is <= half their
    pay per worked day over the 5 worked days before (worked: a shift started or a job done)."""
    mine = ev.filter(pl.col("tech_id") == tech).with_columns(pl.col("ts").dt.date().alias("day"))
    pay: dict[date, float] = {}
    for day, kind, status, usd in mine.select("day", "type", "status", "tech_pay").iter_rows():
        if kind == "job.completed" or (kind == "tech.status" and status == "available"):
            pay[day] = pay.get(day, 0.0) + (usd or 0.0)
    day, last = start.date() + timedelta(days=1), ev["tick"].max()
    assert isinstance(last, datetime)
    while day <= last.date():
        worked = [pay[d] for d in sorted(pay, reverse=True) if d < day]
        recent, usual = worked[:2], worked[2:7]
        if len(usual) >= 3 and sum(recent) / 2 <= 0.5 * sum(usual) / len(usual):
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        day += timedelta(days=1)
    return None


@pytest.fixture(scope="module")
def day_in_the_life_run(tmp_path_factory: pytest.TempPathFactory) -> _DayInTheLife:
    """The four moments injected into one area of a small network, six days of agent ticks.

    The agents run with a week of memory (their signals see the warm-up week, as a running
    agent's would) and a day of their own ticks first, so the network's standing tails have
    been acted on before the moments begin on a Tuesday at 05:00.
    """
    sim = Simulator(NetworkConfig(areas=4, seed=5))
    engine = ScorecardEngine()
    memory = Signals()
    frames: list[pl.DataFrame] = []

    def keep(events: pa.Table, tick: datetime) -> None:
        frame = pl.from_arrow(events)
        assert isinstance(frame, pl.DataFrame)
        frames.append(frame.with_columns(pl.lit(tick).alias("tick")))

    for _ in range(7 * 24):
        events = sim.step()
        engine.ingest(events)
        memory.update(events, sim.now)
        keep(events, sim.now)
    world = build_world(
        sim,
        engine,
        tmp_path_factory.mktemp("day_in_the_life"),
        seed=5,
        approver=ApproverPolicy(reject_rate=0.0, no_show=0.0),
    )
    world.agents.signals = memory
    step = world.sim.step

    def recorded() -> pa.Table:
        events = step()
        keep(events, world.sim.now)
        return events

    world.sim.step = recorded  # type: ignore[method-assign]
    area = "PA-0002"
    for _ in range(24):
        world.hour()
    while world.sim.now.hour != 5:  # the product document's day starts at 06:10
        world.hour()
    surge, decline, parts, rookie = (
        world.sim.inject(sc) for sc in day_in_the_life(world.sim, area)
    )
    start = world.sim.now
    for _ in range(6 * 24):
        world.hour()
    ev = pl.concat(frames, how="vertical_relaxed")
    decisions = world.learning.frame().filter(
        (pl.col("area_id") == area) & (pl.col("decided_at") >= start)
    )
    world.close()
    return _DayInTheLife(
        start=start,
        area=area,
        targets={
            "surge": surge["zip"],
            "low_earner": decline["tech_id"],
            "parts": parts["sku"],
            "rookie": rookie["tech_id"],
        },
        visible={
            "surge": _visible_surge(ev, surge["zip"], start),
            "low_earner": _visible_decline(ev, decline["tech_id"], start),
            "parts": _visible_parts(ev, area, parts["sku"], start),
            "rookie": _visible_rookie(ev, rookie["tech_id"], start),
        },
        decisions=decisions,
    )


@pytest.mark.slow
@pytest.mark.parametrize("moment", list(_MOMENTS))
def test_the_day_in_the_life_gets_the_matching_action_through_the_right_gate(
    day_in_the_life_run: _DayInTheLife, moment: str, request: pytest.FixtureRequest
) -> None:
    """Within the hour after a moment's tail shows in the events, the agent acts on its unit.

    "Shows" is computed here from the simulator's events, not by the agent's signal code: the
    surge from the zip's bookings, the decline from the tech's pay per worked day, the spike
    from the SKU's quoted lead times, the rookie's cluster from their surveys.
    """
    if moment in _GAPS:
        request.applymarker(pytest.mark.xfail(strict=True, reason=_GAPS[moment]))
    run = day_in_the_life_run
    kinds, gated = _MOMENTS[moment]
    target = run.targets[moment]
    visible = run.visible[moment]
    assert visible is not None, f"the {moment} moment never showed in the events"
    acted = run.decisions.filter(
        pl.col("kind").is_in(kinds)
        & (pl.col("target_id") == target)
        & pl.col("decided_at").is_between(visible, visible + timedelta(hours=1))
    )
    seen = run.decisions.select("decided_at", "kind", "target_id", "trigger").rows()
    assert acted.height > 0, (moment, target, visible, seen)
    decision = acted.sort("decided_at").row(0, named=True)
    if gated:
        assert decision["gate_id"] is not None
        assert decision["status"] in ("pending_approval", "executed", "failed")
    else:
        assert decision["gate_id"] is None
        assert decision["status"] in ("executed", "failed")


def test_a_tick_governs_all_its_decisions_in_a_few_transactions(tmp_path: Path) -> None:
    """Runs, steps, gates and resumptions are batched: the ledger database sees a bounded
    number of commits per tick however many decisions it makes (one by one it was about 20
    per decision), and the chain stays valid."""
    import sqlalchemy as sa

    from tailguard.agents.world import APPROVER_POLLS

    world = _world(tmp_path, areas=12)
    commits: list[int] = []
    sa.event.listen(world.ledger.engine, "commit", lambda _conn: commits.append(1))
    seen: list[tuple[int, int]] = []
    for _ in range(8):
        events = world.sim.step()
        now = world.sim.now
        world.clock.set(now)
        before = len(commits)
        report = world.agents.tick(events)
        seen.append((report.decisions + report.executed, len(commits) - before))
        for minutes in APPROVER_POLLS:
            world.clock.set(now + timedelta(minutes=minutes))
            world.approver.poll(world.clock.now())
    assert max(work for work, _ in seen) >= 10, seen
    assert max(n for _, n in seen) <= 12, seen
    assert world.ledger.verify().ok
