"""The hourly tick of every planning-area agent, as one batched computation.

One call of :meth:`AreaAgents.tick` with the hour's events does, for all areas at once:

1. ingest the events into the scorecard engine and compute every area's scorecard;
2. write it to the pulse store (latest + hourly history);
3. evaluate the tail rules (stateful, per area) and the agent's own signals;
4. reconcile earlier decisions waiting at approval gates (decided -> resumed -> recorded) and
   time out gates nobody decided;
5. measure the outcome of decisions whose horizon has passed;
6. choose interventions (:mod:`.choose`) and record them in the self-learn store;
7. execute them through the control plane: each acting area's tick is a run in the ledger,
   each intervention a step, money and messages wait at approval gates.

Areas with nothing firing cost only their share of the vectorised steps 1-3. Time comes from
the ``Clock`` the caller passes (the simulated clock in the demo).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from tailguard.agents.catalogue import TARGET_ARG, Catalogue, Entry
from tailguard.agents.choose import Choice, Chooser, Situation
from tailguard.agents.downstream import DownstreamAgent, InterventionJob
from tailguard.agents.signals import SIGNAL_SPECS, Signals
from tailguard.clock import Clock
from tailguard.control import ControlPlane, RunRequest, ToolContext, ToolOutput, ToolRegistry
from tailguard.control import queries as control_queries
from tailguard.control.results import Run, StepOutcome, StepResult
from tailguard.errors import TailguardError
from tailguard.learning import Decision, OutcomeDue, SelfLearnStore, StatusUpdate
from tailguard.learning.loop import PolicyLearner, UpdateReport
from tailguard.learning.policy import ChoicePolicy
from tailguard.metrics.state import Scorecards
from tailguard.pulse import PulseStore
from tailguard.rules import RuleEngine, RuleSet
from tailguard.rules.guardbands import GUARD_BANDS, inside_expr
from tailguard.telemetry import DECISIONS, TICK_SECONDS

if TYPE_CHECKING:
    from tailguard.agents.recovery import Recovery

#: The role of area-agent runs in the ledger.
ROLE = "area_agent"

#: The id column of each unit drill-down.
_UNIT_ID = {"tech": "tech_id", "zip": "zip", "sku": "sku"}


def initiator_of(area_id: str) -> str:
    """The ledger initiator of an area agent's runs."""
    return f"area-agent:{area_id}"


class DownstreamFailure(TailguardError):
    """The downstream agent refused or failed a job (the step is recorded as an error)."""

    code = "downstream_failed"
    http_status = 502


def intervention_handler(
    entry: Entry, downstream: Callable[[], DownstreamAgent], clock: Clock
) -> Callable[[Mapping[str, Any], ToolContext], ToolOutput]:
    """The handler of a catalogue tool: hand the job to the downstream agent, once.

    The job id is the control plane's idempotency key (the step id), so a retried or resumed
    call can never make the downstream agent act twice.
    """

    def handle(args: Mapping[str, Any], ctx: ToolContext) -> ToolOutput:
        target_arg = TARGET_ARG[entry.kind]
        target_keys = {target_arg, "locker_id"} if entry.kind == "locker_buffer" else {target_arg}
        area_id = ctx.initiator_id.removeprefix("area-agent:")
        job = InterventionJob(
            job_id=ctx.idempotency_key,
            kind=entry.kind,
            agent=entry.downstream,
            area_id=area_id,
            target={k: v for k, v in args.items() if k in target_keys},
            params={k: v for k, v in args.items() if k not in target_keys},
            requested_at=clock.now(),
        )
        result = downstream().send(job)
        if result.status != "executed":
            raise DownstreamFailure(f"{entry.downstream} {result.status}: {result.detail}")
        return ToolOutput(
            value={
                "status": result.status,
                "detail": result.detail,
                "cost_usd": result.cost_usd,
                "ref": result.external_ref,
                "attempts": result.attempts,
            },
            summary=f"{entry.kind} executed by {entry.downstream}: cost ${result.cost_usd:.2f}",
        )

    return handle


def build_registry(
    catalogue: Catalogue, downstream: Callable[[], DownstreamAgent], clock: Clock
) -> ToolRegistry:
    """The governed tools of a catalogue, wired to a downstream agent."""
    return catalogue.registry(lambda entry: intervention_handler(entry, downstream, clock))


@dataclass(slots=True)
class TickReport:
    """What one tick did, with where its time went (seconds per phase)."""

    at: datetime
    areas: int = 0
    events: int = 0
    firing: int = 0
    decisions: int = 0
    executed: int = 0
    pending: int = 0
    rejected: int = 0
    timeouts: int = 0
    failed: int = 0
    outcomes_measured: int = 0
    held: int = 0
    runs: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _Open:
    run: Run
    decisions: dict[str, str]  # gate_id -> decision_id


class AreaAgents:
    """Every planning-area agent of a network, ticked together.

    Args:
        catalogue: the intervention catalogue.
        control: the control plane (its registry must hold the catalogue's tools).
        learning: the self-learn store.
        scorecard: the scorecard engine (fed by :meth:`tick`).
        rules: the tail rules.
        clock: the time source.
        pulse: the pulse store (None: not written).
        signals: the agent's event memory (default thresholds if None).
        seed: the choice policy's random seed.
        learner: the learning policy with its nightly update and guardrail (None: the
            catalogue's fixed weights choose).
        area_types: area id -> urban, suburban or rural (the learning policy's context).
        choice_policy: a policy that does not learn (uniform choice, an evaluation oracle);
            ignored when ``learner`` is given; None: the catalogue's fixed weights.
    """

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        control: ControlPlane,
        learning: SelfLearnStore,
        scorecard: Scorecards,
        rules: RuleSet,
        clock: Clock,
        pulse: PulseStore | None = None,
        signals: Signals | None = None,
        seed: int = 0,
        learner: PolicyLearner | None = None,
        area_types: Mapping[str, str] | None = None,
        choice_policy: ChoicePolicy | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.control = control
        self.learning = learning
        self.scorecard = scorecard
        self.rule_engine = RuleEngine(rules)
        self.clock = clock
        self.pulse = pulse
        self.signals = signals or Signals()
        self.learner = learner
        self.updates: list[UpdateReport] = []
        self._last_night: Any = None
        policy = learner.start(clock.now()) if learner is not None else choice_policy
        self.chooser = Chooser(catalogue, seed=seed, policy=policy, area_types=area_types)
        self.last_scorecard: pl.DataFrame | None = None
        self._open: dict[str, _Open] = {}  # run_id -> open run with pending gates
        self._units_needed = {e.target.unit for e in catalogue.entries}
        self._scope = {e.id: e.outcome.scope for e in catalogue.entries if e.outcome is not None}

    # ------------------------------------------------------------------ tick

    def tick(self, events: pa.Table | pl.DataFrame) -> TickReport:
        """Run one hour for every area (see the module docstring)."""
        started = time.perf_counter()
        now = self.clock.now()
        report = TickReport(at=now)
        lap = _Lap(report.seconds)
        report.events = self.scorecard.ingest(events)
        sc = self.scorecard.scorecard(now)
        self.last_scorecard = sc
        report.areas = sc.height
        lap("scorecard")
        if self.pulse is not None:
            self.pulse.write(now, sc)
        lap("pulse")
        if self.learner is not None:
            self._learn(now, sc)
            lap("learn")
        self.signals.update(events, now)
        alerts = [a for a in self.rule_engine.evaluate(sc, now) if a.state == "firing"]
        firing: dict[str, dict[str, float | None]] = {}
        for alert in alerts:
            firing.setdefault(alert.area_id, {})[alert.rule] = alert.value
        found = self.signals.current()
        for name, frame in found.items():
            spec = SIGNAL_SPECS[name]
            value = pl.col(spec.value)
            worst = value.max() if spec.worst == "max" else value.min()
            for area, v in frame.group_by("area_id").agg(worst).iter_rows():
                firing.setdefault(area, {})[name] = float(v)
        surges, clusters = found["demand_surge"], found["detractor_cluster"]
        report.firing = sum(len(v) for v in firing.values())
        lap("rules")
        self.reconcile(report)
        lap("gates")
        units = self._units(now, surges, clusters)
        if "tech" in units:  # how far beyond the tech's usual a cluster is (null: no cluster)
            units["tech"] = units["tech"].join(
                clusters.select("area_id", "tech_id", "detractor_excess"),
                on=["area_id", "tech_id"],
                how="left",
            )
        lap("units")
        report.outcomes_measured = self._measure(now, sc, units)
        lap("outcomes")
        choices = self.chooser.choose(
            Situation(
                now=now,
                scorecard=sc,
                firing=firing,
                units=units,
                signal_units={
                    name: frame.select("area_id", SIGNAL_SPECS[name].id_column)
                    for name, frame in found.items()
                },
                customers=self.signals.recent_detractors_by_area(list(firing)),
                lockers=self._lockers(firing, units),
            )
        )
        report.decisions = len(choices)
        lap("choose")
        self._record(choices, now)
        lap("record")
        self._execute(choices, report)
        lap("execute")
        TICK_SECONDS.observe(time.perf_counter() - started)
        return report

    # --------------------------------------------------------------- pieces

    def _learn(self, now: datetime, sc: pl.DataFrame) -> None:
        """Feed the guardrail this hour's share of areas inside every guard-band; at the
        first tick of each day, run the nightly update and choose with its version."""
        assert self.learner is not None
        bands = [inside_expr(b).fill_null(True) for b in GUARD_BANDS if b.kind == "threshold"]
        if sc.height:
            share = sc.select(pl.all_horizontal(bands).cast(pl.Float64).mean()).item()
            self.learner.observe(None if share is None else 100.0 * float(share))
        if now.hour == 0 and self._last_night != now.date():
            self._last_night = now.date()
            update = self.learner.nightly(now)
            if update is not None:
                self.updates.append(update)
            self.chooser.policy = self.learner.policy

    def _units(
        self, now: datetime, surges: pl.DataFrame, clusters: pl.DataFrame
    ) -> dict[str, pl.DataFrame]:
        units: dict[str, pl.DataFrame] = {}
        if "tech" in self._units_needed:
            counts = self.signals.detractor_counts().select("area_id", "tech_id", "detractors_72h")
            hires = self.signals.tech_days.hires
            tenure = hires.select(
                "area_id",
                "tech_id",
                (pl.lit(now.date()) - pl.col("hired_on")).dt.total_days().alias("tenure_known"),
            )
            units["tech"] = (
                self.scorecard.units(now, "tech")
                .join(counts, on=["area_id", "tech_id"], how="left")
                .join(tenure, on=["area_id", "tech_id"], how="left")
                .with_columns(
                    pl.col("detractors_72h").fill_null(0),
                    pl.coalesce(
                        pl.col("tenure_days").cast(pl.Float64),
                        pl.col("tenure_known").cast(pl.Float64),
                    ).alias("tenure_days"),
                )
                .drop("tenure_known")
            )
        if "zip" in self._units_needed:
            units["zip"] = self.scorecard.units(now, "zip").join(
                surges.select("area_id", "zip", "surge_ratio"), on=["area_id", "zip"], how="left"
            )
        if "sku" in self._units_needed:
            units["sku"] = self.scorecard.units(now, "sku")
        return units

    def _lockers(
        self, firing: Mapping[str, Mapping[str, Any]], units: Mapping[str, pl.DataFrame]
    ) -> Mapping[tuple[str, str], str | None]:
        """The emptiest locker per (area, SKU), for areas where a locker buffer may be chosen.

        Looked up when the chooser asks (it asks for the few SKUs it tries), not for every SKU
        of every such area.
        """
        sku = units.get("sku")
        triggers = {
            t for e in self.catalogue.entries if e.kind == "locker_buffer" for t in e.trigger
        }
        if sku is None or not triggers:
            return {}
        areas = [a for a, fired in firing.items() if triggers.intersection(fired)]
        keys = sku.filter(pl.col("area_id").is_in(areas)).select("area_id", "sku").rows()
        return _Lockers(self.signals, keys)

    def _record(self, choices: list[Choice], now: datetime) -> None:
        for c in choices:
            DECISIONS.labels(kind="hold" if c.hold else c.entry.kind).inc()
        self.learning.record_decisions(
            [
                Decision(
                    decision_id=c.decision_id,
                    area_id=c.area_id,
                    entry_id=c.entry.id,
                    kind="hold" if c.hold else c.entry.kind,
                    tool_name="none" if c.hold else c.entry.tool,
                    trigger=c.trigger,
                    target_type=c.target_type,
                    target_id=c.target_id,
                    args=c.args,
                    context=c.context,
                    propensity=c.propensity,
                    policy_version=c.policy_version or self.catalogue.policy_version,
                    decided_at=now,
                    outcome_kpi=None if c.entry.outcome is None else c.entry.outcome.kpi,
                    baseline_value=c.baseline_value,
                    horizon_at=None if c.entry.outcome is None else now + c.entry.outcome.horizon,
                )
                for c in choices
            ]
        )

    def _execute(self, choices: list[Choice], report: TickReport) -> None:
        """One governed run per acting area, all through :meth:`ControlPlane.execute_batch`.

        The batch writes every run, gate, stopped step and write-ahead intent in one
        transaction, runs the handlers after it commits, then records their results and closes
        the runs that wait at no gate in a second one.
        """
        by_area: dict[str, list[Choice]] = {}
        held = [c for c in choices if c.hold]
        if held:
            report.held += len(held)
            self.learning.update_status(
                StatusUpdate(decision_id=c.decision_id, status="held", reason="policy held")
                for c in held
            )
        for c in choices:
            if not c.hold:
                by_area.setdefault(c.area_id, []).append(c)
        if not by_area:
            return
        areas = sorted(by_area)
        now = self.clock.now()
        requests = [
            RunRequest(
                role=ROLE,
                initiator_id=initiator_of(area_id),
                goal_text=f"hourly tail pruning of {area_id} at {now.isoformat()}",
                area_id=area_id,
                hour=now,
                calls=[(c.entry.tool, c.args) for c in by_area[area_id]],
            )
            for area_id in areas
        ]
        updates: list[StatusUpdate] = []
        for area_id, done in zip(areas, self.control.execute_batch(requests), strict=True):
            report.runs += 1
            run_id = done.run.run_id
            gates: dict[str, str] = {}
            for c, result in zip(by_area[area_id], done.results, strict=True):
                updates.append(self._status(c.decision_id, result, run_id, report))
                if result.outcome is StepOutcome.PENDING_APPROVAL and result.gate_id:
                    gates[result.gate_id] = c.decision_id
            if gates:
                self._open[run_id] = _Open(run=done.run, decisions=gates)
        self.learning.update_status(updates)

    def _status(
        self, decision_id: str, result: StepResult, run_id: str, report: TickReport
    ) -> StatusUpdate:
        common: dict[str, Any] = {
            "decision_id": decision_id,
            "run_id": run_id,
            "step_id": result.step_id,
            "gate_id": result.gate_id,
        }
        if result.outcome is StepOutcome.EXECUTED:
            report.executed += 1
            self.chooser.settle(decision_id)
            value = result.value if isinstance(result.value, dict) else {}
            return StatusUpdate(
                **common,
                status="executed",
                reason=f"executed: {value.get('detail', '')}",
                cost_usd=float(value.get("cost_usd", 0.0)),
                executed_at=self.clock.now(),
            )
        if result.outcome is StepOutcome.PENDING_APPROVAL:
            report.pending += 1
            return StatusUpdate(**common, status="pending_approval", reason=result.reason)
        self.chooser.release(decision_id)
        if result.outcome is StepOutcome.REJECTED:
            report.rejected += 1
            return StatusUpdate(**common, status="rejected", reason=result.reason)
        report.failed += 1
        return StatusUpdate(**common, status="failed", reason=result.reason)

    def reconcile(self, report: TickReport) -> None:
        """Settle decisions whose gates were decided (resuming approved calls) or timed out.

        The tick's gate phase, also run on its own between ticks (a runner's gate poll) so a
        person's approval takes effect before the next hour. Expiry, resumption and closing of
        runs are each one batch (a few transactions in all, whatever the number of gates).
        """
        self.control.expire_gates(self.clock.now())
        updates: list[StatusUpdate] = []
        decided = self._decided_gates()
        # In the order the runs opened and their gates were presented (the downstream agents
        # see the calls in the same order as one-by-one resumption gave them).
        approved = [
            g
            for opened in self._open.values()
            for g in opened.decisions
            if decided.get(g, ("", None))[0] == "approved"
        ]
        resumed = self.control.resume_batch(approved) if approved else {}
        finished: list[Run] = []
        for run_id in list(self._open):
            opened = self._open[run_id]
            for gate_id in [g for g in opened.decisions if g in decided]:
                decision, decided_by = decided[gate_id]
                decision_id = opened.decisions[gate_id]
                if decision == "approved":
                    result = resumed.get(gate_id)
                    if not isinstance(result, StepResult):
                        # Being resumed elsewhere, or its tool is not registered: the gate is
                        # left as it is; look again next tick.
                        continue
                    updates.append(self._status(decision_id, result, run_id, report))
                elif decision == "rejected":
                    report.rejected += 1
                    self.chooser.release(decision_id)
                    updates.append(
                        StatusUpdate(
                            decision_id=decision_id,
                            status="rejected",
                            reason=f"rejected by {decided_by}",
                        )
                    )
                else:
                    report.timeouts += 1
                    self.chooser.release(decision_id)
                    updates.append(
                        StatusUpdate(
                            decision_id=decision_id, status="timeout", reason="approval timeout"
                        )
                    )
                del opened.decisions[gate_id]
            if not opened.decisions:
                del self._open[run_id]
                finished.append(opened.run)
        if finished:
            self.control.finish_runs(finished, "completed")
        self.learning.update_status(updates)

    def recover(self, now: datetime | None = None) -> Recovery:
        """Pick up where an earlier process of these agents stopped, from the stores.

        Adopts the runs waiting at approval gates (the next :meth:`reconcile` resumes the
        approved ones once and records the rest), settles decisions an interrupted execution
        left unrecorded, and rebuilds the chooser's cooldowns and weekly budgets from the
        decisions of the current week and the longest cooldown (:mod:`.recovery`). Call it
        before the first tick; ``now`` defaults to the latest decision's time.
        """
        from tailguard.agents.recovery import recover

        return recover(self, now)

    def held_gates(self) -> dict[str, list[str]]:
        """run id -> its gates these agents hold open (waiting for a decision), in order."""
        return {run_id: list(opened.decisions) for run_id, opened in self._open.items()}

    def adopt(self, run: Run, decisions: Mapping[str, str]) -> None:
        """Hold ``run`` as open with its gates (gate_id -> decision_id) for reconciliation.

        :meth:`recover` adopts the runs an earlier process left at gates; the next
        :meth:`reconcile` resumes their approved calls once and records the rest.
        """
        opened = self._open.setdefault(run.run_id, _Open(run=run, decisions={}))
        opened.decisions.update(decisions)

    def _decided_gates(self) -> dict[str, tuple[str, str | None]]:
        """Decision and decider of every open gate that is no longer pending (one query)."""
        ids = [g for opened in self._open.values() for g in opened.decisions]
        found = control_queries.gate_decisions(self.control.ledger.engine, ids, decided_only=True)
        return {g: (d.decision, d.decided_by) for g, d in found.items()}

    def _measure(self, now: datetime, sc: pl.DataFrame, units: Mapping[str, pl.DataFrame]) -> int:
        """Record the outcome of every decision whose horizon has passed.

        The outcome is the KPI's value now for the decision's target (its unit for entries
        measured per unit, else its area). The due decisions are looked up with one join per
        (table, KPI), not by turning whole drill-downs into dictionaries every hour.
        """
        due = self.learning.due_for_outcome(now)
        if not due:
            return 0
        groups: dict[tuple[str, str], list[OutcomeDue]] = {}
        for d in due:
            per_unit = self._scope.get(d.entry_id, "area") == "unit"
            table = d.target_type if per_unit and d.target_type in _UNIT_ID else "area"
            groups.setdefault((table, d.outcome_kpi), []).append(d)
        found: dict[str, float | None] = {}
        for (table, kpi), group in groups.items():
            frame = sc if table == "area" else units.get(table)
            if frame is None or kpi not in frame.columns:
                continue
            keys = ["area_id"] if table == "area" else ["area_id", _UNIT_ID[table]]
            wanted = pl.DataFrame(
                {
                    "decision_id": [d.decision_id for d in group],
                    "area_id": [d.area_id for d in group],
                    **({} if table == "area" else {keys[1]: [d.target_id for d in group]}),
                },
                schema=dict.fromkeys(("decision_id", *keys), pl.String),
            )
            values = frame.select(
                *(pl.col(k).cast(pl.String) for k in keys), pl.col(kpi).cast(pl.Float64)
            ).unique(subset=keys, keep="last", maintain_order=True)
            joined = wanted.join(values, on=keys, how="left")
            found.update(zip(joined["decision_id"].to_list(), joined[kpi].to_list(), strict=True))
        return self.learning.record_outcomes(
            [(d.decision_id, found.get(d.decision_id)) for d in due], measured_at=now
        )

    @property
    def open_runs(self) -> int:
        """Runs waiting on approval gates."""
        return len(self._open)


class _Lockers(Mapping[tuple[str, str], str | None]):
    """(area, SKU) -> the emptiest locker, computed on first lookup."""

    def __init__(self, signals: Signals, keys: list[tuple[str, str]]) -> None:
        self._signals = signals
        self._keys = dict.fromkeys(keys)
        self._found: dict[tuple[str, str], str | None] = {}

    def __getitem__(self, key: tuple[str, str]) -> str | None:
        if key not in self._keys:
            raise KeyError(key)
        if key not in self._found:
            self._found[key] = self._signals.emptiest_locker(*key)
        return self._found[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class _Lap:
    def __init__(self, into: dict[str, float]) -> None:
        self.into = into
        self.t = time.perf_counter()

    def __call__(self, name: str) -> None:
        t = time.perf_counter()
        self.into[name] = self.into.get(name, 0.0) + (t - self.t)
        self.t = t
