"""The reliability agent's eyes: the deployment's signals over a window, and what is anomalous.

Signals come from where an operator would look: the ledger (every step's final detail: which
tool, which downstream agent, its error reason and its cost; the gates and their timeouts; the
guardrail's verdicts on the active policy version), the control plane's queries (gates waiting
for a decision) and the process's Prometheus registry (the tick duration histogram
``tailguard_tick_duration_seconds``). :func:`detect` turns a :class:`Signals` snapshot into
:class:`Anomaly` records, one per fault it recognises, each with the evidence it rests on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from tailguard.clock import parse_ts
from tailguard.control import queries as control_queries
from tailguard.ledger.queries import latest_entities
from tailguard.ops.deployment import (
    BUDGETED_TOOL,
    GUARDRAIL_KIND,
    PARTS_BUDGET,
    Deployment,
    step_details,
)
from tailguard.ops.remedies import budget_key
from tailguard.telemetry import REGISTRY

#: The faults the drill injects and the watch recognises.
FAULTS: Final = ("hanging_downstream", "budget_burn", "harmful_policy", "gate_backlog")


@dataclass(frozen=True, kw_only=True, slots=True)
class Thresholds:
    """When a signal is an anomaly.

    Attributes:
        failure_share: a downstream agent failing at least this share of its calls ...
        min_calls: ... out of at least this many.
        burn_ratio: spend at a pace that would use this many days' budget in a day.
        backlog_gates: gates waiting for a decision (or any gate timing out in the window).
    """

    failure_share: float = 0.5
    min_calls: int = 2
    burn_ratio: float = 1.5
    backlog_gates: int = 6


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentHealth:
    """Calls toward one downstream agent in a window."""

    agent: str
    calls: int
    failed: int
    timeouts: int
    circuit_open: int

    @property
    def failure_share(self) -> float:
        """Failed share of the calls (0 without calls)."""
        return self.failed / self.calls if self.calls else 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Signals:
    """What the watch saw over [since, until)."""

    since: datetime
    until: datetime
    agents: dict[str, AgentHealth]
    spend_by_kind: dict[str, float]
    budget_daily_usd: float
    pending_gates: int
    gate_timeouts: int
    policy_version: str | None
    guardrail_harmful: bool
    guardrail_values: list[float]
    tick_seconds_mean: float | None

    @property
    def hours(self) -> float:
        """The window's length in hours (at least one)."""
        return max((self.until - self.since).total_seconds() / 3600.0, 1.0)

    @property
    def burn_ratio(self) -> float:
        """Budgeted spend per hour x 24 / the daily budget."""
        spent = self.spend_by_kind.get("locker_buffer", 0.0)
        return spent / self.hours * 24.0 / self.budget_daily_usd if self.budget_daily_usd else 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (for the incident's evidence)."""
        return {
            "window": [self.since.isoformat(), self.until.isoformat()],
            "agents": {
                a: {
                    "calls": h.calls,
                    "failed": h.failed,
                    "timeouts": h.timeouts,
                    "circuit_open": h.circuit_open,
                }
                for a, h in sorted(self.agents.items())
            },
            "spend_by_kind": dict(sorted(self.spend_by_kind.items())),
            "burn_ratio": round(self.burn_ratio, 4),
            "pending_gates": self.pending_gates,
            "gate_timeouts": self.gate_timeouts,
            "policy_version": self.policy_version,
            "guardrail_harmful": self.guardrail_harmful,
            "tick_seconds_mean": self.tick_seconds_mean,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Anomaly:
    """One recognised fault: its kind, what it is about, and the evidence."""

    fault: str
    subject: str
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


class TickMeter:
    """Mean tick duration between two looks, from the Prometheus histogram's sum and count."""

    def __init__(self) -> None:
        self._last = self._read()

    @staticmethod
    def _read() -> tuple[float, float]:
        total = REGISTRY.get_sample_value("tailguard_tick_duration_seconds_sum") or 0.0
        count = REGISTRY.get_sample_value("tailguard_tick_duration_seconds_count") or 0.0
        return total, count

    def mean_since_last(self) -> float | None:
        """Mean seconds per tick since the previous call (None when no tick ran)."""
        total, count = self._read()
        d_total, d_count = total - self._last[0], count - self._last[1]
        self._last = (total, count)
        return d_total / d_count if d_count > 0 else None


def read_signals(
    deployment: Deployment,
    since: datetime,
    until: datetime,
    *,
    meter: TickMeter | None = None,
) -> Signals:
    """The deployment's signals over [since, until)."""
    ledger = deployment.ledger
    kind_of = {e.tool: e.kind for e in deployment.catalogue.entries}
    agent_of = {e.tool: e.downstream for e in deployment.catalogue.entries}
    counts: dict[str, list[int]] = {}
    spend: dict[str, float] = {}
    for d in step_details(ledger, since, until):
        tool = d["tool_name"]
        if tool not in agent_of:
            continue
        spend[kind_of[tool]] = spend.get(kind_of[tool], 0.0) + float(d.get("cost_usd") or 0.0)
        reason = str(d.get("reason") or "")
        if d.get("phase") != "final" or reason == "awaiting_approval":
            continue
        c = counts.setdefault(agent_of[tool], [0, 0, 0, 0])
        c[0] += 1
        if "DownstreamFailure" in reason:
            c[1] += 1
            c[2] += "timeout" in reason
            c[3] += "circuit open" in reason
    gate_timeouts = 0
    for row in latest_entities(ledger, "gate", limit=10_000, equals={"decision": "timeout"}):
        at = row.record.fields.get("decided_at")
        if at and since <= parse_ts(at) < until:
            gate_timeouts += 1
    guard = latest_entities(ledger, GUARDRAIL_KIND, limit=200, since=since, until=until)
    guard.sort(key=lambda r: r.first_seq)
    active = deployment.policies.state().active
    budget = deployment.ops.switch(budget_key(PARTS_BUDGET)) or {}
    return Signals(
        since=since,
        until=until,
        agents={
            a: AgentHealth(agent=a, calls=c[0], failed=c[1], timeouts=c[2], circuit_open=c[3])
            for a, c in counts.items()
        },
        spend_by_kind=spend,
        budget_daily_usd=float(budget.get("daily_usd") or 0.0),
        pending_gates=control_queries.count_pending_gates(ledger.engine, now=until),
        gate_timeouts=gate_timeouts,
        policy_version=active,
        guardrail_harmful=bool(guard and guard[-1].record.fields.get("harmful")),
        guardrail_values=[float(r.record.fields["value"]) for r in guard],
        tick_seconds_mean=meter.mean_since_last() if meter is not None else None,
    )


def detect(signals: Signals, thresholds: Thresholds | None = None) -> list[Anomaly]:
    """The anomalies in ``signals``, most urgent first (a hanging agent stalls everything)."""
    t = thresholds or Thresholds()
    found: list[Anomaly] = []
    for agent, h in sorted(signals.agents.items()):
        if (
            h.calls >= t.min_calls
            and h.failure_share >= t.failure_share
            and h.timeouts + h.circuit_open > 0
        ):
            found.append(
                Anomaly(
                    fault="hanging_downstream",
                    subject=agent,
                    summary=(
                        f"{agent}: {h.failed}/{h.calls} calls failed "
                        f"({h.timeouts} timeouts, {h.circuit_open} refused by an open breaker)"
                    ),
                    evidence={
                        "agent": agent,
                        "failure_share": round(h.failure_share, 4),
                        "tick_seconds_mean": signals.tick_seconds_mean,
                    },
                )
            )
    if signals.burn_ratio >= t.burn_ratio:
        found.append(
            Anomaly(
                fault="budget_burn",
                subject="locker_buffer",
                summary=(
                    f"the {PARTS_BUDGET} budget burns at {signals.burn_ratio:.1f}x its daily pace "
                    f"({BUDGETED_TOOL})"
                ),
                evidence={
                    "burn_ratio": round(signals.burn_ratio, 4),
                    "budget_daily_usd": signals.budget_daily_usd,
                },
            )
        )
    if signals.guardrail_harmful and signals.policy_version:
        found.append(
            Anomaly(
                fault="harmful_policy",
                subject=signals.policy_version,
                summary=f"the guardrail flags policy version {signals.policy_version} as harmful",
                evidence={
                    "version": signals.policy_version,
                    "values": signals.guardrail_values[-6:],
                },
            )
        )
    if signals.pending_gates >= t.backlog_gates or signals.gate_timeouts > 0:
        found.append(
            Anomaly(
                fault="gate_backlog",
                subject="approvals",
                summary=(
                    f"{signals.pending_gates} gates wait for a decision, "
                    f"{signals.gate_timeouts} timed out in the window"
                ),
                evidence={
                    "pending_gates": signals.pending_gates,
                    "gate_timeouts": signals.gate_timeouts,
                },
            )
        )
    return found


def recovered(
    fault: str,
    subject: str,
    signals: Signals,
    thresholds: Thresholds | None = None,
    *,
    baseline: Mapping[str, Any] | None = None,
) -> bool:
    """Whether the signal behind ``fault`` on ``subject`` is back inside its threshold."""
    t = thresholds or Thresholds()
    if fault == "hanging_downstream":
        h = signals.agents.get(subject)
        return h is None or (h.timeouts == 0 and h.failure_share < t.failure_share)
    if fault == "budget_burn":
        return signals.burn_ratio < 1.0
    if fault == "harmful_policy":
        values = signals.guardrail_values
        floor = float((baseline or {}).get("floor", float("-inf")))
        return (
            signals.policy_version != subject
            and not signals.guardrail_harmful
            and bool(values)
            and sum(values) / len(values) >= floor
        )
    if fault == "gate_backlog":
        return signals.pending_gates < t.backlog_gates and signals.gate_timeouts == 0
    raise ValueError(f"unknown fault {fault!r}")
