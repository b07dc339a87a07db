"""A small simulated deployment for the self-healing drill: real parts, a few areas.

What is real: the ledger and the control plane on the given database (SQLite or PostgreSQL),
the intervention catalogue's governed tools sending jobs over HTTP to downstream agents
(:class:`~tailguard.agents.downstream.RestDownstream` with its timeout, retries and circuit
breaker), approval gates decided by an approvals worker, policy versions in
:class:`~tailguard.learning.versions.PolicyStore`, and the tick duration in the process's
Prometheus registry (``tailguard_tick_duration_seconds``).

What is simulated: the hour's work. Each hour every area's agent asks for one routing boost
(``roster_routing``, execute_low), one locker buffer (``parts``, execute_low, the money) and
one surge-shift offer (``technician_assistant``, execute_high: gated); and the network answers
the active policy version with a guard-band share (the guardrail's metric), drawn from the
deployment's seed with each version's hidden effect. The reliability agent never reads the
hidden effects: it sees the ``guardrail`` ledger records the deployment writes each hour, as it
would see the learning loop's.

The deployment is durable: its clock, switches and the simulated world's state live in the
database, so a deployment reopened on the same URL carries on where the last one stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np

from tailguard.agents.catalogue import Catalogue, Entry, default_catalogue
from tailguard.agents.downstream import DownstreamAgent
from tailguard.agents.routing import DownstreamRoutes, RoutedDownstream
from tailguard.agents.tick import ROLE, initiator_of, intervention_handler
from tailguard.clock import FakeClock, SystemClock, format_ts, parse_ts
from tailguard.compendium import Compendium, register_tools
from tailguard.control import (
    ApproverList,
    ControlPlane,
    DecisionRequest,
    StepOutcome,
    ToolContext,
    ToolOutput,
    ToolRegistry,
    Usage,
)
from tailguard.control import queries as control_queries
from tailguard.errors import TailguardError
from tailguard.learning.guardrail import start_watch
from tailguard.learning.policy import ThompsonModel
from tailguard.learning.versions import PolicyStore
from tailguard.ledger import Ledger
from tailguard.ledger.queries import latest_entities
from tailguard.ops.remedies import (
    RemedyContext,
    breaker_key,
    budget_key,
    paused_key,
    register_remedies,
    worker_key,
)
from tailguard.ops.store import OpsStore
from tailguard.telemetry import TICK_SECONDS

#: The catalogue tools each area calls every hour, and the argument they are given.
WORKLOAD: Final = ("boost_routing_weight", "buffer_locker_stock", "offer_surge_shift")
#: The daily budget the parts work draws on, and the tool that spends it.
PARTS_BUDGET: Final = "parts"
BUDGETED_TOOL: Final = "buffer_locker_stock"
#: Who decides the area agents' gates (the approvals worker).
WORKER_APPROVER: Final = "ops-lead"
GUARDRAIL_KIND: Final = "guardrail"
_FIRST_VERSION: Final = "drill-v1"


@dataclass(frozen=True, kw_only=True, slots=True)
class DeploymentConfig:
    """The deployment's shape.

    Attributes:
        db: ledger URL (``sqlite:///x.db`` or ``postgresql://...``).
        downstream: base URL of each downstream agent (roster_routing, parts,
            technician_assistant).
        compendium_dir: the compendium directory incidents are written to.
        areas: planning areas.
        seed: the simulated network's seed.
        start: the deployment's first hour when the database is new (default: today's
            midnight on the system clock).
        approvers: who may decide the reliability agent's remedy gates.
        parts_daily_usd: the parts budget per day; ``parts_cap_usd`` is its hard cap.
        timeout_s, max_attempts, breaker_fail_max: the REST client's settings.
        guard_threshold: how many points of guard-band share a version may cost.
    """

    db: str
    downstream: Mapping[str, str]
    compendium_dir: str
    areas: int = 3
    seed: int = 7
    start: datetime | None = None
    approvers: frozenset[str] = frozenset({"oncall-anna"})
    parts_daily_usd: float = 2400.0
    parts_cap_usd: float = 4800.0
    timeout_s: float = 0.2
    max_attempts: int = 2
    breaker_fail_max: int = 3
    guard_threshold: float = 2.0


@dataclass(slots=True)
class HourReport:
    """What one hour of the deployment did."""

    at: datetime
    calls: int = 0
    executed: int = 0
    failed: int = 0
    held: int = 0
    gated: int = 0
    approved: int = 0
    expired: int = 0
    spend_usd: float = 0.0
    guard_value: float = math.nan
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def _paying(entry: Entry, downstream: DownstreamAgent, clock: FakeClock) -> Any:
    """The catalogue handler, also reporting the downstream's charge as the step's usage."""
    inner = intervention_handler(entry, lambda: downstream, clock)

    def handle(args: Mapping[str, Any], ctx: ToolContext) -> ToolOutput:
        out = inner(args, ctx)
        cost = float(out.value.get("cost_usd") or 0.0)
        return ToolOutput(value=out.value, usage=Usage(cost_usd=cost), summary=out.summary)

    return handle


def step_details(ledger: Ledger, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """The final ``step_detail`` of every step first recorded in [since, until)."""
    rows = latest_entities(ledger, "step_detail", limit=100_000, since=since, until=until)
    return [dict(r.record.fields) for r in rows]


def spend_by_tool(ledger: Ledger, since: datetime, until: datetime) -> dict[str, float]:
    """Money the steps of [since, until) reported, per tool."""
    out: dict[str, float] = {}
    for d in step_details(ledger, since, until):
        out[d["tool_name"]] = out.get(d["tool_name"], 0.0) + float(d.get("cost_usd") or 0.0)
    return out


class Deployment:
    """The drill's deployment (see the module docstring); close it when done."""

    def __init__(self, config: DeploymentConfig) -> None:
        self.config = config
        self.catalogue: Catalogue = default_catalogue()
        if config.start is not None:
            start = config.start
        else:
            now = SystemClock().now()
            start = datetime(now.year, now.month, now.day, tzinfo=UTC)
        self.clock = FakeClock(start)
        self.ledger = Ledger.open(config.db, clock=self.clock)
        try:
            self.ops = OpsStore(self.ledger.engine)
            stored = self.ops.switch("clock")
            if stored is not None:
                self.clock.set(parse_ts(stored))
            else:
                self.ops.set_switch("clock", format_ts(self.clock.now()), now=self.clock.now())
            # The simulation's draws count hours from the deployment's first hour, not from
            # the epoch: the same seed gives the same deployment whatever day it starts.
            epoch = self.ops.switch("sim:epoch")
            if epoch is None:
                epoch = format_ts(self.clock.now())
                self.ops.set_switch("sim:epoch", epoch, now=self.clock.now())
            self._epoch = parse_ts(str(epoch))
            self.policies = PolicyStore(self.ledger)
            self.entries = {e.tool: e for e in self.catalogue.entries if e.tool in WORKLOAD}
            self.downstream = RoutedDownstream(
                DownstreamRoutes(by_name=dict(config.downstream)),
                timeout_s=config.timeout_s,
                max_attempts=config.max_attempts,
                backoff_initial_s=0.01,
                backoff_max_s=0.05,
                breaker_fail_max=config.breaker_fail_max,
            )
            registry = ToolRegistry()
            for tool in self.catalogue.tools(lambda e: _paying(e, self.downstream, self.clock)):
                if tool.name in WORKLOAD:
                    registry.register(tool)
            register_remedies(
                registry, RemedyContext(ops=self.ops, policies=self.policies, clock=self.clock)
            )
            self.control = ControlPlane(
                registry,
                self.ledger,
                clock=self.clock,
                approvers=ApproverList(
                    approver_ids=frozenset({WORKER_APPROVER}) | config.approvers
                ),
            )
            self.compendium = Compendium(config.compendium_dir)
            register_tools(self.control, self.compendium, self.ledger)
            self._first_setup()
        except BaseException:
            self.ledger.close()
            raise

    # ----------------------------------------------------------------- setup

    def _first_setup(self) -> None:
        now = self.clock.now()
        if self.ops.switch(budget_key(PARTS_BUDGET)) is None:
            self.ops.set_switch(
                budget_key(PARTS_BUDGET),
                {"daily_usd": self.config.parts_daily_usd, "cap_usd": self.config.parts_cap_usd},
                now=now,
            )
        if self.ops.switch(worker_key("approvals")) is None:
            self.ops.set_switch(
                worker_key("approvals"), {"state": "running", "restarts": 0}, now=now
            )
        if self.policies.state().active is None:
            self.add_policy_version(_FIRST_VERSION, effect=0.0)

    def add_policy_version(self, version_id: str, *, effect: float) -> None:
        """Publish a policy version (it becomes active); ``effect`` is its hidden effect on
        the guard-band share, known to the simulated network only."""
        previous = self.policies.state().active
        self.ops.set_switch(f"sim:effect:{version_id}", effect, now=self.clock.now())
        self.policies.add(
            ThompsonModel(version=version_id),
            previous=previous,
            now=self.clock.now(),
            decisions_used=0,
            data_digest="0" * 64,
            changes=[],
        )

    @property
    def areas(self) -> list[str]:
        """The planning areas."""
        return [f"PA-{k + 1:04d}" for k in range(self.config.areas)]

    def hour_index(self) -> int:
        """Hours since the deployment's first hour (seeds each hour's draws)."""
        return int((self.clock.now() - self._epoch).total_seconds() // 3600)

    # ---------------------------------------------------------------- an hour

    def run_hours(self, n: int) -> list[HourReport]:
        """Run ``n`` hours."""
        return [self.hour() for _ in range(n)]

    def hour(self) -> HourReport:
        """One hour: the approvals worker, every area's work, the network's answer."""
        started = time.perf_counter()
        now = self.clock.now()
        report = HourReport(at=now)
        report.expired = len(self.control.expire_gates(now))
        self._approvals_worker(report)
        self._work(now, report)
        self._guardrail(now, report)
        report.seconds = time.perf_counter() - started
        TICK_SECONDS.observe(report.seconds)
        self.ops.set_switch("tick:last_seconds", report.seconds, now=now)
        self.clock.set(now + timedelta(hours=1))
        self.ops.set_switch("clock", format_ts(self.clock.now()), now=self.clock.now())
        return report

    def _held(self, entry: Entry) -> bool:
        if self.ops.switch(paused_key(entry.kind), False):
            return True
        breaker = self.ops.switch(breaker_key(entry.downstream)) or {}
        return bool(breaker.get("state") == "open")

    def spent_today(self, now: datetime) -> float:
        """Money the budgeted work (``buffer_locker_stock``) spent since midnight."""
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return spend_by_tool(self.ledger, midnight, now).get(BUDGETED_TOOL, 0.0)

    def _work(self, now: datetime, report: HourReport) -> None:
        budget = self.ops.switch(budget_key(PARTS_BUDGET))
        spent = self.spent_today(now)
        rng = np.random.default_rng([self.config.seed, self.hour_index()])
        for area in self.areas:
            run = self.control.start_run(ROLE, initiator_of(area), f"{area} hour {format_ts(now)}")
            gated_run = None
            failed = False
            for tool in WORKLOAD:
                entry = self.entries[tool]
                if self._held(entry):
                    report.held += 1
                    continue
                if entry.policy.requires_approval:
                    gated_run = self.control.start_run(
                        ROLE, initiator_of(area), f"{area} {entry.kind} {format_ts(now)}"
                    )
                if tool == BUDGETED_TOOL and spent >= float(budget["daily_usd"]):
                    report.held += 1
                    continue
                args = self._args(entry, area, rng)
                report.calls += 1
                result = self.control.execute(gated_run or run, tool, args)
                if result.outcome is StepOutcome.EXECUTED:
                    report.executed += 1
                    cost = float((result.value or {}).get("cost_usd") or 0.0)
                    report.spend_usd += cost
                    if tool == BUDGETED_TOOL:
                        spent += cost
                elif result.outcome is StepOutcome.PENDING_APPROVAL:
                    report.gated += 1
                else:
                    report.failed += 1
                    failed = True
                    report.errors.append(result.reason or result.outcome.value)
            self.control.finish_run(run, "failed" if failed else "completed")

    def _args(self, entry: Entry, area: str, rng: np.random.Generator) -> dict[str, Any]:
        k = int(rng.integers(0, 20))
        args = dict(entry.args)
        if entry.kind == "routing_weight_boost":
            args["zip"] = f"{area[-2:]}{k:03d}"
        elif entry.kind == "locker_buffer":
            args.update(sku=f"SKU-{k:03d}", locker_id=f"L-{area}-01")
        else:
            args["tech_id"] = f"T-{area[-4:]}-{k:04d}"
        return args

    def _approvals_worker(self, report: HourReport) -> None:
        """The worker that decides the area agents' gates: approves them and runs them.

        A wedged worker (its switch says so) does nothing: gates pile up.
        """
        state = self.ops.switch(worker_key("approvals")) or {}
        if state.get("state") != "running":
            return
        work = {e.tool for e in self.entries.values()}
        pending = [g for g in self.control.pending_gates() if g.tool_name in work]
        decided = self.control.decide_many(
            [
                DecisionRequest(
                    gate_id=g.gate_id,
                    decision="approve",
                    approver_id=WORKER_APPROVER,
                    reason="routine surge offer",
                )
                for g in pending
            ]
        )
        ok = [d.gate_id for d in decided if not isinstance(d, TailguardError)]
        report.approved = len(ok)
        results = self.control.resume_batch(ok) if ok else {}
        run_of = {g.gate_id: g.run_id for g in pending}
        for gate_id, result in results.items():
            status = (
                "completed"
                if not isinstance(result, TailguardError) and result.outcome is StepOutcome.EXECUTED
                else "failed"
            )
            run = self.control.get_run(run_of[gate_id])
            try:
                self.control.finish_run(run, status)
            except TailguardError as exc:
                report.errors.append(str(exc))

    # -------------------------------------------------------------- guardrail

    def _guardrail(self, now: datetime, report: HourReport) -> None:
        """The network's answer to the active version, and the guardrail's verdict on it."""
        active = self.policies.state().active or _FIRST_VERSION
        effect = float(self.ops.switch(f"sim:effect:{active}", 0.0))
        rng = np.random.default_rng([self.config.seed, self.hour_index(), 1])
        value = round(85.0 + effect + float(rng.normal(0.0, 1.5)), 3)
        report.guard_value = value
        mine = self.guard_values(active)
        previous = next(
            (v.previous for v in self.policies.history() if v.version_id == active), None
        )
        history = self.guard_values(previous) if previous else []
        watch = start_watch(active, history, threshold=self.config.guard_threshold, min_sigma=1.0)
        for v in [*mine, value]:
            watch.add(v)
        # With no earlier version there is nothing to compare against: never harmful.
        verdict: dict[str, Any] = (
            watch.to_json()
            if history
            else {"version": active, "baseline": None, "ci": [None, None], "harmful": False}
        )
        self.ledger.append(
            GUARDRAIL_KIND,
            {
                "guardrail_id": f"{active}@{format_ts(now)}",
                "version": active,
                "value": value,
                "at": format_ts(now),
                "harmful": bool(verdict["harmful"]),
                "watch": verdict,
            },
        )

    def guard_values(self, version: str) -> list[float]:
        """The hourly guard-band shares recorded under ``version``, oldest first."""
        rows = latest_entities(self.ledger, GUARDRAIL_KIND, limit=500, equals={"version": version})
        return [float(r.record.fields["value"]) for r in sorted(rows, key=lambda r: r.first_seq)]

    # ------------------------------------------------------------------ reads

    def pending_work_gates(self) -> int:
        """Gates of the area agents waiting for a decision."""
        return control_queries.count_pending_gates(self.ledger.engine, now=self.clock.now())

    def close(self) -> None:
        """Close the HTTP clients and the ledger's connections."""
        self.downstream.close()
        self.ledger.close()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
