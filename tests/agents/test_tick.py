"""The hourly tick through the real control plane, ledger and self-learn store.

Small simulated networks, warmed up so KPI windows are full; downstream agents are the
simulator's actuators or a real HTTP server on loopback that fails half its calls.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from tailguard.agents import RestDownstream
from tailguard.agents.approver import ApproverPolicy
from tailguard.agents.catalogue import default_catalogue
from tailguard.agents.downstream import DownstreamAgent
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


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["surge", "parts", "rookie", "low_earner"])
def test_the_day_in_the_life_gets_the_matching_action_through_the_right_gate(
    tmp_path: Path, moment: str, request: pytest.FixtureRequest
) -> None:
    if moment != "surge":
        # Known gap (issue 5 stays open): within 72 h the area-level rules do not fire for
        # these three moments on this network, so the agent never sees them. Strict, so the
        # day they pass this marker has to go.
        request.applymarker(pytest.mark.xfail(strict=True, reason="tail not detected yet"))
    world = _world(tmp_path, areas=4, seed=5, approver=ApproverPolicy(reject_rate=0.0, no_show=0.0))
    area = "PA-0002"
    # Let the agents settle the network's standing tails first, then the four moments.
    for _ in range(24):
        world.hour()
    while world.sim.now.hour != 9:
        world.hour()
    resolved = [world.sim.inject(sc) for sc in day_in_the_life(world.sim, area)]
    surge_zip, decline_tech = resolved[0]["zip"], resolved[1]["tech_id"]
    rookie = resolved[3]["tech_id"]
    start = world.sim.now
    for _ in range(72):
        world.hour()
    d = world.learning.frame().filter((pl.col("area_id") == area) & (pl.col("decided_at") >= start))

    def first(kinds: list[str], target: str | None = None) -> dict[str, object]:
        rows = d.filter(pl.col("kind").is_in(kinds))
        if target is not None:
            rows = rows.filter(pl.col("target_id") == target)
        assert rows.height > 0, (kinds, target, d.select("kind", "target_id").to_dicts())
        return rows.sort("decided_at").row(0, named=True)

    if moment == "surge":
        # (a) a surge pay window or recruiting SMS for the zip, within the hour, gated.
        surge = first(["surge_pay_window", "recruiting_sms"], surge_zip)
        assert surge["decided_at"] - start <= timedelta(hours=2)
        assert surge["gate_id"] is not None
        return
    if moment == "parts":
        # (c) the parts spike: a locker buffer for the SKU, execute_low (no gate).
        parts = first(["locker_buffer"], "R-9923")
        assert parts["gate_id"] is None
        assert parts["status"] in ("executed", "failed")
    elif moment == "rookie":
        # (d) the rookie's detractors: a master-tech shadow for the rookie, gated.
        shadow = first(["master_tech_shadow"], rookie)
        assert shadow["gate_id"] is not None
    else:
        # (b) the low earner trending down: an offer to that tech, gated.
        offer = first(["surge_shift_offer", "nearby_job_offer"], decline_tech)
        assert offer["gate_id"] is not None
