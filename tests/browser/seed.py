"""A small, real world for the dashboard: keys, a fortnight of runs, pending gates, pulse rows.

Everything is written through the library (ledger, control plane, key store, pulse store,
self-learn store) into the same database files the service then opens, so the pages show what
the product would show. The service process builds the same tool registry with
:func:`make_registry` so it can resume the gates seeded here.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from tailguard.clock import FakeClock, format_ts
from tailguard.control import (
    ControlPlane,
    Policy,
    RiskLevel,
    RunBudget,
    Tool,
    ToolContext,
    ToolRegistry,
    Usage,
)
from tailguard.crowd.exchange import run_exchange
from tailguard.crowd.store import CrowdStore, LocalTest
from tailguard.crowd.synth import load_network, make_network
from tailguard.learning import Decision, SelfLearnStore, StatusUpdate
from tailguard.ledger import Ledger
from tailguard.metrics.kpis import KPI_IDS
from tailguard.pulse import PulseStore
from tailguard.service.auth import KeyStore

#: People and their roles; each gets one API key.
PEOPLE: dict[str, str] = {
    "alice": "approver",
    "bob": "approver",
    "olga": "operator",
    "victor": "viewer",
    "root": "admin",
}

_ACCOUNT_SCHEMA = {
    "type": "object",
    "properties": {"account_id": {"type": "string"}, "note": {"type": "string"}},
    "required": ["account_id"],
    "additionalProperties": False,
}
_CREDIT_SCHEMA = {
    "type": "object",
    "properties": {
        "customer_id": {"type": "string"},
        "amount_usd": {"type": "number", "minimum": 0, "maximum": 1000},
        "message": {"type": "string"},
    },
    "required": ["customer_id", "amount_usd"],
    "additionalProperties": False,
}


def _handler(name: str, log: Path | None) -> Any:
    def handle(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        if log is not None:  # the side effect a test can observe from outside the service
            with log.open("a") as fh:
                fh.write(json.dumps({"tool": name, "args": dict(args), "step": ctx.step_id}) + "\n")
        return {"tool": name, "ok": True, **{k: v for k, v in args.items() if k != "note"}}

    return handle


def make_registry(side_effects: Path | None = None) -> ToolRegistry:
    """A read tool, two approval-gated tools (``close_account``, ``apology_credit``) and a
    reversible one (``flag_account``, undone by ``unflag_account``)."""
    registry = ToolRegistry()
    registry.register(
        Tool(
            name="lookup_account",
            description="Look an account up.",
            parameters=_ACCOUNT_SCHEMA,
            handler=_handler("lookup_account", None),
            policy=Policy(risk_level=RiskLevel.READ),
        )
    )
    registry.register(
        Tool(
            name="close_account",
            description="Close a customer account (irreversible).",
            parameters=_ACCOUNT_SCHEMA,
            handler=_handler("close_account", side_effects),
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_HIGH,
                requires_approval=True,
                audit_fields=("account_id",),
                approval_timeout=4 * 3600.0,
            ),
        )
    )
    registry.register(
        Tool(
            name="apology_credit",
            description="Credit a customer after a bad visit.",
            parameters=_CREDIT_SCHEMA,
            handler=_handler("apology_credit", side_effects),
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_HIGH,
                requires_approval=True,
                audit_fields=("customer_id", "amount_usd"),
                approval_timeout=8 * 3600.0,
            ),
        )
    )
    # A reversible tool: its steps can be rolled back by people (the run page's button).
    registry.register(
        Tool(
            name="flag_account",
            description="Flag an account for review (reversible).",
            parameters=_ACCOUNT_SCHEMA,
            handler=_handler("flag_account", side_effects),
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_LOW,
                rollback_strategy="unflag_account",
                audit_fields=("account_id",),
            ),
        )
    )
    registry.register(
        Tool(
            name="unflag_account",
            description="Remove an account's review flag (flag_account's compensating tool).",
            parameters=_ACCOUNT_SCHEMA,
            handler=_handler("unflag_account", side_effects),
            policy=Policy(risk_level=RiskLevel.EXECUTE_LOW, audit_fields=("account_id",)),
        )
    )
    return registry


@dataclass(frozen=True, kw_only=True)
class Seeded:
    """What :func:`seed` wrote: the keys by person and the pending gates by purpose."""

    keys: dict[str, str]
    gates: dict[str, str]
    runs: dict[str, str]
    crowd_imports: tuple[tuple[str, str, str], ...] = ()


def _pulse(pulse_url: str, now: datetime, n_areas: int, rng: random.Random) -> None:
    store = PulseStore.open(pulse_url)
    try:
        for hours_ago in (3, 2, 1, 0):
            as_of = (now - timedelta(hours=hours_ago)).replace(minute=0, second=0, microsecond=0)
            rows: dict[str, list[Any]] = {"area_id": [f"PA-{i:04d}" for i in range(1, n_areas + 1)]}
            for kpi in KPI_IDS:
                rows[kpi] = []
            for i in range(1, n_areas + 1):
                bad = rng.random()
                late = 12 + rng.random() * 10 + (18 if bad < 0.12 else 0) + hours_ago
                rows["lateness_p90_min"].append(late if i != 7 else 36.0 + hours_ago)
                rows["nps_p10"].append(7.5 + rng.random() * 1.5 - (3 if bad > 0.9 else 0))
                rows["nps_p90"].append(10.0)
                rows["earnings_p10_week"].append(
                    720 + rng.random() * 200 - (160 if bad < 0.05 else 0)
                )
                rows["earnings_p90_week"].append(1500 + rng.random() * 300)
                rows["recall_pct_p90"].append(4 + rng.random() * 5 + (7 if i == 7 else 0))
                rows["ftf_pct"].append(70 + rng.random() * 18)
                rows["parts_cost_delta_p90_pct"].append(5 + rng.random() * 8)
                rows["jobs_per_week"].append(300 + rng.random() * 100)
                rows["gp_pct"].append(18 + rng.random() * 10)
                rows["eta_adherence_pct"].append(80 + rng.random() * 15)
                rows["parts_lead_time_p95_days"].append(2 + rng.random() * 2 + (4 if i == 7 else 0))
                rows["churn_90d_pct"].append(3 + rng.random() * 4 if i % 37 else None)
            store.write(as_of, pl.DataFrame(rows))
    finally:
        store.close()


def seed(
    ledger_url: str,
    pulse_url: str,
    *,
    now: datetime | None = None,
    n_areas: int = 120,
    history_days: int = 14,
) -> Seeded:
    """Write keys, history, pending gates, an OKR, interventions and the pulse.

    Args:
        ledger_url: the service's ledger (its keys, control tables and self-learn table too).
        pulse_url: the service's pulse store.
        now: the present (default: the wall clock, so ages and timeouts look right).
        n_areas: planning areas in the pulse.
        history_days: days of finished runs before today (six runs a day).
    """
    rng = random.Random(7)
    now = now or datetime.now(UTC)
    clock = FakeClock(now - timedelta(days=15))
    ledger = Ledger.open(ledger_url, clock=clock)
    try:
        keys_store = KeyStore(ledger.engine, clock=clock)
        keys = {name: keys_store.create(name, role)[1] for name, role in PEOPLE.items()}
        plane = ControlPlane(make_registry(), ledger, clock=clock, approvers=keys_store)
        roles = ("area_agent", "recruiter", "driver", "carrier")
        for day in range(history_days, 0, -1):
            starts = sorted(
                now - timedelta(days=day, hours=rng.randint(0, 20), minutes=k) for k in range(6)
            )
            for k, start in enumerate(starts):
                clock.set(max(start, clock.now() + timedelta(seconds=1)))
                role = roles[(day + k) % len(roles)]
                area = rng.randint(1, 12)
                who = f"area-{area:04d}" if role == "area_agent" else f"{role[:3]}-{k:03d}"
                goal = f"hourly tick for PA-{area:04d}" if role == "area_agent" else "answer a user"
                run = plane.start_run(role, who, goal, budget=RunBudget(alert_cost_usd=0.5))
                plane.execute(run, "lookup_account", {"account_id": f"acc-{day}-{k}"})
                # Two runs pass the $0.50 alert threshold (budget alerts on the cost page).
                spike = {(9, 2): 0.81, (1, 0): 0.64}.get((day, k))
                cost = spike if spike is not None else rng.uniform(0.002, 0.09)
                with plane.model_call(run, Usage(input_tokens=800)) as call:
                    call.record(
                        Usage(
                            input_tokens=rng.randint(600, 2500),
                            output_tokens=rng.randint(80, 500),
                            cost_usd=cost,
                        )
                    )
                clock.advance(rng.uniform(2, 40))
                status = "failed" if rng.random() < 0.12 else "completed"
                plane.finish_run(run, status, follow_up=rng.random() < 0.6)
        # Decided gates for the audit log.
        for i, (decider, verdict) in enumerate(
            (("alice", "approve"), ("bob", "reject"), ("alice", "approve"))
        ):
            clock.set(now - timedelta(hours=20 - i * 5))
            run = plane.start_run(
                "area_agent", f"area-{i + 3:04d}", f"credit detractors in PA-{i + 3:04d}"
            )
            res = plane.execute(
                run, "apology_credit", {"customer_id": f"cust-{100 + i}", "amount_usd": 25.0 + i}
            )
            assert res.gate_id is not None
            clock.advance(600)
            plane.decide(
                res.gate_id,
                verdict,
                decider,
                reason=(
                    "visit notes confirm the late arrival"
                    if verdict == "approve"
                    else "credit already given last week"
                ),
            )
            if verdict == "approve":
                plane.resume(res.gate_id)
            plane.finish_run(run, "completed")
        clock.set(now - timedelta(hours=9))
        # An OKR as the weekly cycle writes it: committed last week, then scored.
        okr = {
            "okr_id": "okr-PA-0007-2026-11-16",
            "area_id": "PA-0007",
            "week_of": "2026-11-16",
            "as_of": format_ts(clock.now()),
            "status": "committed",
            "owner": "area-agent:PA-0007",
            "objective": "Squeeze the Customer lateness P90 tail this week",
            "key_results": [
                {
                    "kr_id": "kr1",
                    "kpi": "lateness_p90_min",
                    "baseline": 36.0,
                    "target": 24.0,
                    "text": "Cut Customer lateness P90 from 36.0 to 24.0 min with 'traffic weight +15 %'",
                },
                {
                    "kr_id": "kr2",
                    "kpi": "recall_pct_p90",
                    "baseline": 11.7,
                    "target": 9.5,
                    "text": "Cut Tech recall % P90 from 11.7 to 9.5 % with 'master-tech shadow'",
                },
            ],
            "levers": [{"lever_id": "traffic_weight_boost"}, {"lever_id": "master_tech_shadow"}],
            "expected": {},
        }
        ledger.append("okr", okr)
        ledger.append(
            "okr",
            {
                "okr_id": okr["okr_id"],
                "area_id": "PA-0007",
                "week_of": okr["week_of"],
                "status": "scored",
                "overall": "partly",
                "key_results": [
                    {"kr_id": "kr1", "realised": 31.5, "status": "partly"},
                    {"kr_id": "kr2", "realised": 9.1, "status": "met"},
                ],
            },
        )
        # Pending gates, presented a little while ago.
        gates: dict[str, str] = {}
        runs: dict[str, str] = {}
        for purpose, who, tool, args, ago in (
            ("approve", "olga", "close_account", {"account_id": "acc-17", "note": "churned"}, 95),
            ("reject", "olga", "close_account", {"account_id": "acc-99", "note": "typo?"}, 40),
            (
                "own",
                "alice",
                "apology_credit",
                {
                    "customer_id": "cust-7",
                    "amount_usd": 40.0,
                    "message": "Sorry for the late visit",
                },
                12,
            ),
            (
                "area",
                "area-0007",
                "apology_credit",
                {"customer_id": "cust-3012", "amount_usd": 30.0},
                5,
            ),
        ):
            clock.set(now - timedelta(minutes=ago))
            run = plane.start_run(
                "ops" if who != "area-0007" else "area_agent",
                who,
                f"{tool} for {next(iter(args.values()))}",
            )
            res = plane.execute(run, tool, args)
            assert res.gate_id is not None, res
            gates[purpose] = res.gate_id
            runs[purpose] = run.run_id
        learn = SelfLearnStore(ledger.engine)
        decisions = [
            Decision(
                decision_id=f"dec-{i}",
                area_id="PA-0007",
                entry_id=entry,
                kind=entry,
                tool_name=tool,
                trigger=trigger,
                target_type=target_type,
                target_id=target,
                args={"boost_pct": 15} if tool == "routing_boost" else {"sku": "WPW10321304"},
                context={"lateness_p90_min": 36.0},
                propensity=0.8,
                policy_version="catalogue-1",
                decided_at=now - timedelta(hours=30 - i * 5),
                outcome_kpi="lateness_p90_min",
                baseline_value=36.0,
                horizon_at=now - timedelta(hours=20 - i * 5),
            )
            for i, (entry, tool, trigger, target_type, target) in enumerate(
                (
                    ("traffic_weight_boost", "routing_boost", "late_tail", "zip", "75001"),
                    (
                        "locker_buffer",
                        "parts_buffer",
                        "parts_lead_time_spike",
                        "sku",
                        "WPW10321304",
                    ),
                    ("traffic_weight_boost", "routing_boost", "late_tail", "zip", "75002"),
                )
            )
        ]
        learn.record_decisions(decisions)
        learn.update_status(
            [
                StatusUpdate(
                    decision_id="dec-0", status="executed", executed_at=now - timedelta(hours=29)
                ),
                StatusUpdate(decision_id="dec-1", status="pending_approval"),
            ]
        )
        learn.record_outcomes([("dec-0", 31.5)], measured_at=now - timedelta(hours=19))
        crowd_imports = seed_crowd(CrowdStore(ledger.engine))
    finally:
        ledger.close()
    _pulse(pulse_url, now, n_areas, rng)
    return Seeded(keys=keys, gates=gates, runs=runs, crowd_imports=crowd_imports)


def seed_crowd(store: CrowdStore) -> tuple[tuple[str, str, str], ...]:
    """A published synthetic network (:func:`tailguard.crowd.synth.make_network`) and two
    local tests that adopted a proven tactic, so the coaches' page has exporters, importers
    and laggards. Written to the exchange's tables only (publishing's ledger records are the
    crowd tests' business), so the other pages' figures do not change.

    Returns:
        ``(area, tactic, kpi)`` of each adopted local test (the importers).
    """
    net = make_network(1, areas=240)
    load_network(store, net)
    result = run_exchange(store)
    picked = [(a, x) for a in sorted(result.clusters) for x in result.proven_elsewhere(a)][:2]
    imports = []
    for k, (area, lift) in enumerate(picked):
        store.put_test(
            LocalTest(
                test_id=f"ct-seed-{k}",
                area_id=area,
                tactic=lift.tactic,
                kpi=lift.kpi,
                cluster=lift.cluster,
                source_areas=lift.adopters,
                started_period=net.weeks + 1,
                b_share=0.2,
                seed=k,
                units_a=80,
                units_b=20,
                status="adopted",
                decided_period=net.weeks + 3,
                lift=1.2,
                lift_lo=0.5,
                lift_hi=1.9,
            )
        )
        imports.append((area, lift.tactic, lift.kpi))
    return tuple(imports)
