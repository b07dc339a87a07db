"""The weekly OKR levers as governed actions of the area agents.

The weekly cycle commits each area's OKR (three levers, :mod:`tailguard.weekly.okr`) to the
ledger. From the first hour of the next week (Monday, for a cycle run on Sunday night) the area
agent carries its levers out: each lever's interventions (catalogue entries, parts budgets,
gamification parameters, routing settings, recruiting pushes) become calls of the ``okr_<kind>``
tools, picked on this hour's unit drill-down, and go through the control plane like any hourly
intervention, one run per area: money and messages wait at approval gates, rejected or
timed-out gates never execute, everything is in the ledger.

The tools take their policy from the catalogue entry of the same kind (the same risk, approval
and rollback as the hourly intervention), without its per-minute rate limit: a lever's calls
come as one burst, bounded by the recipe's ``max_targets``. A kind the catalogue does not hold
(``gamification_reward``) is money to technicians: ``execute_high`` with approval.

At the week's end :meth:`LeverActions.close_week` appends one ``okr_lever`` record per lever
(``okr_lever_id = <okr_id>:<lever_id>``): its calls and what became of them, its cost, and
``applied`` (at least one call executed). The next weekly cycle reads these with the scored
OKR to compare each lever's forecast with what it moved (:mod:`tailguard.weekly.outcomes`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import polars as pl

from tailguard.agents.catalogue import TARGET_ARG, Catalogue, _arg_schema
from tailguard.agents.downstream import DownstreamAgent, InterventionJob
from tailguard.agents.signals import Signals
from tailguard.agents.tick import ROLE, DownstreamFailure, initiator_of
from tailguard.clock import Clock, format_ts
from tailguard.control import ControlPlane, RunRequest, ToolContext, ToolOutput
from tailguard.control import queries as control_queries
from tailguard.control.policy import Policy, RiskLevel
from tailguard.control.results import Run, StepOutcome, StepResult
from tailguard.control.tools import Tool
from tailguard.ledger import Ledger
from tailguard.metrics.state import Scorecards
from tailguard.weekly.okr import committed_okrs

#: The ledger record kind of a lever's week.
RECORD_KIND: Final = "okr_lever"
TOOL_PREFIX: Final = "okr_"

#: How a lever's targets are picked, per intervention kind: (unit, column, order, filter).
_PICK: Final[Mapping[str, tuple[str, str, str, tuple[str, float] | None]]] = {
    "nearby_job_offer": ("tech", "earnings_week", "lowest", ("jobs", 1)),
    "surge_shift_offer": ("tech", "earnings_week", "lowest", ("jobs", 1)),
    "master_tech_shadow": ("tech", "recall_pct", "highest", ("jobs", 5)),
    "routing_weight_boost": ("zip", "lateness_p90_min", "highest", ("jobs", 3)),
    "surge_pay_window": ("zip", "jobs", "highest", None),
    "recruiting_sms": ("zip", "jobs", "highest", None),
    "locker_buffer": ("sku", "lead_time_p95_days", "highest", None),
}
_GATED_DEFAULT: Final = Policy(
    risk_level=RiskLevel.EXECUTE_HIGH,
    requires_approval=True,
    success_metric="lever KPI moved toward its key result by the week's end",
    approval_timeout=24 * 3600.0,
)


def tool_name(kind: str) -> str:
    """The governed tool a lever's intervention of ``kind`` is called through."""
    return f"{TOOL_PREFIX}{kind}"


def lever_policy(catalogue: Catalogue, kind: str) -> Policy:
    """The policy of a lever tool: the catalogue's for that kind, without the minute rate."""
    entry = next((e for e in catalogue.entries if e.kind == kind), None)
    if entry is None:
        return _GATED_DEFAULT
    return dataclasses.replace(entry.policy, rate_limit=None, audit_fields=())


def register_lever_tools(
    control: ControlPlane,
    catalogue: Catalogue,
    downstream: Callable[[], DownstreamAgent],
    clock: Clock,
) -> list[str]:
    """Add one ``okr_<kind>`` tool per intervention kind to the plane's registry."""
    names: list[str] = []
    for kind in TARGET_ARG:
        name = tool_name(kind)
        if name not in control.registry:
            control.registry.register(
                Tool(
                    name=name,
                    description=f"Carry out an OKR lever's {kind.replace('_', ' ')} this week.",
                    parameters=_arg_schema(kind),
                    handler=_handler(kind, _agent_of(catalogue, kind), downstream, clock),
                    policy=lever_policy(catalogue, kind),
                )
            )
        names.append(name)
    return names


def _agent_of(catalogue: Catalogue, kind: str) -> str:
    """The downstream agent that carries out ``kind`` (the catalogue's; else the kind's owner)."""
    entry = next((e for e in catalogue.entries if e.kind == kind), None)
    return entry.downstream if entry is not None else "gamification"


def _handler(
    kind: str, agent: str, downstream: Callable[[], DownstreamAgent], clock: Clock
) -> Callable[[Mapping[str, Any], ToolContext], ToolOutput]:
    target_keys = {TARGET_ARG[kind], "locker_id"} if kind == "locker_buffer" else {TARGET_ARG[kind]}

    def handle(args: Mapping[str, Any], ctx: ToolContext) -> ToolOutput:
        job = InterventionJob(
            job_id=ctx.idempotency_key,
            kind=kind,
            agent=agent,
            area_id=ctx.initiator_id.removeprefix("area-agent:"),
            target={k: v for k, v in args.items() if k in target_keys},
            params={k: v for k, v in args.items() if k not in target_keys},
            requested_at=clock.now(),
        )
        result = downstream().send(job)
        if result.status != "executed":
            raise DownstreamFailure(f"{kind} {result.status}: {result.detail}")
        return ToolOutput(
            value={"status": result.status, "detail": result.detail, "cost_usd": result.cost_usd},
            summary=f"OKR lever {kind}: cost ${result.cost_usd:.2f}",
        )

    return handle


def pick_calls(
    kind: str,
    args: Mapping[str, Any],
    area_id: str,
    max_targets: int,
    units: Mapping[str, pl.DataFrame],
    signals: Signals,
) -> list[dict[str, Any]]:
    """The calls of one lever intervention in one area: its args with a target each."""
    if kind == "gamification_reward":
        return [{**args, "area_id": area_id}]
    if kind == "apology_credit":
        found = signals.recent_detractors_by_area([area_id], hours=7 * 24).get(area_id, [])
        return [{**args, "customer_ids": found[:max_targets]}] if found else []
    unit, column, order, where = _PICK[kind]
    frame = units.get(unit)
    if frame is None or column not in frame.columns:
        return []
    frame = frame.filter((pl.col("area_id") == area_id) & pl.col(column).is_not_null())
    if where is not None and where[0] in frame.columns:
        frame = frame.filter(pl.col(where[0]) >= where[1])
    id_col = {"tech": "tech_id", "zip": "zip", "sku": "sku"}[unit]
    ranked = frame.sort([column, id_col], descending=[order == "highest", False])
    calls: list[dict[str, Any]] = []
    for target in ranked[id_col].head(max_targets).to_list():
        call = {**args, TARGET_ARG[kind]: target}
        if kind == "locker_buffer":
            locker = signals.emptiest_locker(area_id, target)
            if locker is None:
                continue
            call["locker_id"] = locker
        calls.append(call)
    return calls


@dataclasses.dataclass(slots=True)
class _Call:
    lever_id: str
    tool: str
    args: dict[str, Any]
    step_id: str | None = None
    gate_id: str | None = None
    status: str = "planned"
    cost_usd: float = 0.0
    reason: str | None = None


@dataclasses.dataclass(slots=True)
class _Lever:
    okr_id: str
    area_id: str
    week_of: str
    lever_id: str
    category: str
    owner: str
    kr: dict[str, Any] | None
    forecast_cost_usd: float | None
    calls: list[_Call] = dataclasses.field(default_factory=list)
    run_id: str | None = None


class LeverActions:
    """Carry out the committed OKR levers of every area, week by week.

    Args:
        control: the control plane (its registry gets the ``okr_<kind>`` tools).
        ledger: where the OKRs are read and ``okr_lever`` records written.
        catalogue: the intervention catalogue (the lever tools' policies).
        scorecard: the engine whose unit drill-down picks the targets.
        signals: the agents' event memory (detractors, lockers).
        downstream: who carries the jobs out.
        clock: the time source.
    """

    def __init__(
        self,
        *,
        control: ControlPlane,
        ledger: Ledger,
        catalogue: Catalogue,
        scorecard: Scorecards,
        signals: Signals,
        downstream: Callable[[], DownstreamAgent],
        clock: Clock,
    ) -> None:
        self.control = control
        self.ledger = ledger
        self.scorecard = scorecard
        self.signals = signals
        self.clock = clock
        register_lever_tools(control, catalogue, downstream, clock)
        self._week: list[_Lever] = []
        self._open: dict[str, Run] = {}  # run_id -> run waiting at lever gates
        self.closed: list[dict[str, Any]] = []

    def apply_week(self, week_of: str) -> int:
        """Carry out the levers of the OKRs committed for ``week_of``; returns calls made."""
        now = self.clock.now()
        okrs = committed_okrs(self.ledger, week_of)
        hour = now.replace(minute=0, second=0, microsecond=0)  # the engine's hour grid
        units: dict[str, pl.DataFrame] = {u: self.scorecard.units(hour, u) for u in _UNITS}
        levers: list[_Lever] = []
        for area_id in sorted(okrs):
            okr = okrs[area_id]
            krs = {str(k.get("lever_id")): k for k in okr.get("key_results", [])}
            for lv in okr.get("levers", []):
                lever = _Lever(
                    okr_id=str(okr["okr_id"]),
                    area_id=area_id,
                    week_of=week_of,
                    lever_id=str(lv["lever_id"]),
                    category=str(lv.get("category")),
                    owner=str(lv.get("owner")),
                    kr=krs.get(str(lv["lever_id"])),
                    forecast_cost_usd=(lv.get("cost") or {}).get("mean"),
                )
                for iv in lv.get("interventions", []):
                    kind = str(iv["kind"])
                    for args in pick_calls(
                        kind,
                        iv.get("args", {}),
                        area_id,
                        int(iv.get("max_targets", 5)),
                        units,
                        self.signals,
                    ):
                        lever.calls.append(_Call(lever.lever_id, tool_name(kind), args))
                levers.append(lever)
        self._week = levers
        by_area: dict[str, list[_Lever]] = {}
        for lever in levers:
            if lever.calls:
                by_area.setdefault(lever.area_id, []).append(lever)
        requests = [
            RunRequest(
                role=ROLE,
                initiator_id=initiator_of(area_id),
                goal_text=f"OKR levers of {area_id} for the week of {week_of}",
                area_id=area_id,
                hour=now,
                calls=[(c.tool, c.args) for lv in by_area[area_id] for c in lv.calls],
            )
            for area_id in sorted(by_area)
        ]
        made = 0
        results = self.control.execute_batch(requests) if requests else []
        for area_id, done in zip(sorted(by_area), results, strict=True):
            calls = [c for lv in by_area[area_id] for c in lv.calls]
            for lv in by_area[area_id]:
                lv.run_id = done.run.run_id
            waiting = False
            for call, result in zip(calls, done.results, strict=True):
                made += 1
                _settle(call, result)
                waiting = waiting or call.status == "pending_approval"
            if waiting:
                self._open[done.run.run_id] = done.run
        return made

    def reconcile(self) -> None:
        """Resume the lever calls whose gates were approved; record rejections and timeouts."""
        if not self._open:
            return
        self.control.expire_gates(self.clock.now())
        waiting = [c for lv in self._week for c in lv.calls if c.status == "pending_approval"]
        ids = [c.gate_id for c in waiting if c.gate_id]
        found = control_queries.gate_decisions(self.control.ledger.engine, ids, decided_only=True)
        approved = [g for g in ids if g in found and found[g].decision == "approved"]
        resumed = self.control.resume_batch(approved) if approved else {}
        for call in waiting:
            decided = found.get(call.gate_id or "")
            if decided is None:
                continue
            if decided.decision == "approved":
                result = resumed.get(call.gate_id or "")
                if isinstance(result, StepResult):
                    _settle(call, result)
            else:
                call.status = "rejected" if decided.decision == "rejected" else "timeout"
                call.reason = f"{decided.decision} by {decided.decided_by or 'nobody'}"
        still = {lv.run_id for lv in self._week for c in lv.calls if c.status == "pending_approval"}
        done = [run for run_id, run in self._open.items() if run_id not in still]
        for run in done:
            del self._open[run.run_id]
        if done:
            self.control.finish_runs(done, "completed")

    def close_week(self) -> list[dict[str, Any]]:
        """Append one ``okr_lever`` record per lever of the week now ending; returns them."""
        self.reconcile()
        records: list[dict[str, Any]] = []
        for lv in self._week:
            counts = {s: sum(c.status == s for c in lv.calls) for s in _STATUSES}
            records.append(
                {
                    "okr_lever_id": f"{lv.okr_id}:{lv.lever_id}",
                    "okr_id": lv.okr_id,
                    "area_id": lv.area_id,
                    "week_of": lv.week_of,
                    "lever_id": lv.lever_id,
                    "category": lv.category,
                    "owner": lv.owner,
                    "kpi": None if lv.kr is None else lv.kr.get("kpi"),
                    "applied": counts["executed"] > 0,
                    "calls": [
                        {
                            "tool": c.tool,
                            "target": {k: v for k, v in c.args.items() if k in _TARGET_KEYS},
                            "step_id": c.step_id,
                            "gate_id": c.gate_id,
                            "status": c.status,
                            "cost_usd": round(c.cost_usd, 2),
                            "reason": c.reason,
                        }
                        for c in lv.calls
                    ],
                    "counts": counts,
                    "cost_usd": round(sum(c.cost_usd for c in lv.calls), 2),
                    "forecast_cost_usd": lv.forecast_cost_usd,
                    "run_id": lv.run_id,
                    "closed_at": format_ts(self.clock.now()),
                }
            )
        existing = {r.record_id for r in self.ledger.records(kind=RECORD_KIND)}
        fresh = [r for r in records if r["okr_lever_id"] not in existing]
        for start in range(0, len(fresh), 500):
            self.ledger.append_many([(RECORD_KIND, r) for r in fresh[start : start + 500]])
        self.closed.extend(records)
        self._week = []
        return records


_UNITS: Final[tuple[Literal["tech", "zip", "sku"], ...]] = ("tech", "zip", "sku")
_STATUSES: Final = ("executed", "pending_approval", "rejected", "timeout", "failed", "planned")
_TARGET_KEYS: Final = frozenset(TARGET_ARG.values()) | {"locker_id"}


def _settle(call: _Call, result: StepResult) -> None:
    call.step_id = result.step_id
    call.gate_id = result.gate_id or call.gate_id
    if result.outcome is StepOutcome.EXECUTED:
        call.status = "executed"
        value = result.value if isinstance(result.value, dict) else {}
        call.cost_usd = float(value.get("cost_usd", 0.0))
    elif result.outcome is StepOutcome.PENDING_APPROVAL:
        call.status = "pending_approval"
    elif result.outcome is StepOutcome.REJECTED:
        call.status = "rejected"
        call.reason = result.reason
    else:
        call.status = "failed"
        call.reason = result.reason
