"""The self-healing workflow: detect, triage, propose a gated remedy, apply, verify, write up.

One incident is a durable workflow whose state lives in ``tailguard_ops_incidents``
(:mod:`.store`) and whose every consequential act is a governed call of one control-plane run
(role ``reliability_agent``):

====  =====================  ===========================================================
step  status after it        what it does
====  =====================  ===========================================================
0     ``triaged``            ``search_compendium`` for the fault's known patterns; the
                             remedy from :data:`PLAYBOOK`
1     ``awaiting_approval``  the remedy tool called: it waits at its approval gate
2     ``remedied``           the gate approved: the remedy runs (exactly once: the gate's
                             claim); rejected or timed out: ``rejected``, nothing applied,
                             the incident stays open
3     ``verified`` /         the deployment runs its verification hours; the signal is read
      ``not_verified``       again and judged against the threshold
4     ``closed``             the incident card written to the compendium (``compendium_write``)
====  =====================  ===========================================================

A step ends with a compare-and-set on the incident's step, so a process that restarts (or a
second one) resumes at the first unfinished step and never repeats a finished one; the acts
inside a step are idempotent on their own (an existing gate of the run is adopted rather than
a second one opened; an approved gate runs once; the card's text is a pure function of the
incident, so writing it again changes nothing). Every status change is also an ``incident``
ledger record.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from tailguard.clock import format_ts, parse_ts
from tailguard.compendium import CompendiumWriter
from tailguard.compendium.cards import Card, Effect, parse_cards, render_cards
from tailguard.compendium.tools import SEARCH_TOOL
from tailguard.control import Run, StepOutcome
from tailguard.control import queries as control_queries
from tailguard.errors import ConflictError
from tailguard.ops.deployment import Deployment
from tailguard.ops.remedies import OPEN_BREAKER, PAUSE, RESTART_WORKER, ROLLBACK_POLICY
from tailguard.ops.store import IncidentRow
from tailguard.ops.watch import (
    Anomaly,
    Signals,
    Thresholds,
    TickMeter,
    detect,
    read_signals,
    recovered,
)

ROLE: Final = "reliability_agent"
INITIATOR: Final = "reliability-agent"
INCIDENT_KIND: Final = "incident"
DEPARTMENT: Final = "reliability"

#: Fault -> (remedy tool, how its arguments come from the anomaly, the words to search).
PLAYBOOK: Final[Mapping[str, tuple[str, str, str]]] = {
    "hanging_downstream": (OPEN_BREAKER, "agent", "hanging downstream timeout circuit breaker"),
    "budget_burn": (PAUSE, "kind", "budget burn spend pause intervention"),
    "harmful_policy": (ROLLBACK_POLICY, "version_id", "harmful policy version guardrail rollback"),
    "gate_backlog": (RESTART_WORKER, "worker", "gate backlog approvals worker restart"),
}
#: The signal each fault's card measures (the effect's measure).
MEASURE: Final[Mapping[str, str]] = {
    "hanging_downstream": "downstream_failure_pct",
    "budget_burn": "budget_burn_ratio",
    "harmful_policy": "guardband_share_pct",
    "gate_backlog": "pending_gates",
}
#: Hours of the deployment the verification step watches.
VERIFY_HOURS: Final = 2


@dataclass(frozen=True, kw_only=True, slots=True)
class Incident:
    """Where an incident stands (the store's row, read back)."""

    incident_id: str
    fault: str
    status: str
    step: int
    state: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "incident_id": self.incident_id,
            "fault": self.fault,
            "status": self.status,
            "step": self.step,
            **self.state,
        }


def _incident(row: IncidentRow) -> Incident:
    return Incident(
        incident_id=row.incident_id,
        fault=row.fault,
        status=row.status,
        step=row.step,
        state=dict(row.state),
    )


def _signal_value(fault: str, subject: str, signals: Signals) -> float:
    """The measured value of a fault's signal (the card's effect is its change)."""
    if fault == "hanging_downstream":
        h = signals.agents.get(subject)
        return 100.0 * h.failure_share if h is not None else 0.0
    if fault == "budget_burn":
        return float(signals.burn_ratio)
    if fault == "harmful_policy":
        v = signals.guardrail_values
        return sum(v) / len(v) if v else 0.0
    return float(signals.pending_gates)


class Healing:
    """The reliability agent on one deployment.

    Args:
        deployment: the deployment it watches and heals.
        thresholds: what counts as an anomaly.
        window_hours: how far back each look reaches.
    """

    def __init__(
        self,
        deployment: Deployment,
        *,
        thresholds: Thresholds | None = None,
        window_hours: int = 1,
    ) -> None:
        self.dep = deployment
        self.thresholds = thresholds or Thresholds()
        self.window = timedelta(hours=window_hours)
        self.meter = TickMeter()
        self.last_signals: Signals | None = None

    # ---------------------------------------------------------------- watch

    def look(self) -> list[Anomaly]:
        """Read the last window's signals and return the anomalies."""
        until = self.dep.clock.now()
        signals = read_signals(self.dep, until - self.window, until, meter=self.meter)
        self.last_signals = signals
        return detect(signals, self.thresholds)

    def open(self, anomaly: Anomaly) -> Incident:
        """Open an incident for ``anomaly`` (its own run of the reliability agent)."""
        now = self.dep.clock.now()
        run = self.dep.control.start_run(
            ROLE, INITIATOR, f"heal {anomaly.fault}: {anomaly.summary}"
        )
        evidence = dict(anomaly.evidence)
        if anomaly.fault == "harmful_policy":
            previous = next(
                (
                    v.previous
                    for v in self.dep.policies.history()
                    if v.version_id == anomaly.subject
                ),
                None,
            )
            history = self.dep.guard_values(previous) if previous else []
            if history:
                floor = sum(history) / len(history) - self.dep.config.guard_threshold
                evidence["floor"] = round(floor, 4)
        state: dict[str, Any] = {
            "subject": anomaly.subject,
            "summary": anomaly.summary,
            "evidence": evidence,
            "run_id": run.run_id,
            "detected_at": format_ts(now),
        }
        if self.last_signals is not None:
            state["signal_before"] = round(
                _signal_value(anomaly.fault, anomaly.subject, self.last_signals), 4
            )
        incident_id = f"inc-{uuid.uuid4().hex[:16]}"
        row = self.dep.ops.open_incident(incident_id, anomaly.fault, state, now=now)
        self._record(row.incident_id, row.fault, "detected", 0, state)
        return _incident(row)

    def get(self, incident_id: str) -> Incident:
        """An incident as stored."""
        return _incident(self.dep.ops.incident(incident_id))

    # --------------------------------------------------------------- advance

    def advance(self, incident_id: str, *, until: str | None = None) -> Incident:
        """Run the incident's workflow as far as it can go now (or up to status ``until``).

        Stops at a pending gate (``awaiting_approval``), at a rejection (``rejected``) and when
        closed. Safe to call again, from any process: it resumes at the first unfinished step.
        """
        while True:
            inc = self.get(incident_id)
            if inc.status in ("closed", "rejected") or (until and inc.status == until):
                return inc
            step = {
                0: self._triage,
                1: self._propose,
                2: self._apply,
                3: self._verify,
                4: self._postmortem,
            }[inc.step]
            result = step(inc)
            if result is None:  # waiting (a pending gate)
                return inc
            status, state = result
            now = self.dep.clock.now()
            if self.dep.ops.advance(
                incident_id, from_step=inc.step, status=status, state=state, now=now
            ):
                self._record(incident_id, inc.fault, status, inc.step + 1, state)

    def _run(self, inc: Incident) -> Run:
        return self.dep.control.get_run(str(inc.state["run_id"]))

    def _triage(self, inc: Incident) -> tuple[str, dict[str, Any]]:
        remedy, _arg, words = PLAYBOOK[inc.fault]
        result = self.dep.control.execute(
            self._run(inc),
            SEARCH_TOOL,
            {"query": f"{inc.fault} {words} {inc.state['subject']}", "department": DEPARTMENT},
        )
        cards = (
            (result.value or {}).get("cards", []) if result.outcome is StepOutcome.EXECUTED else []
        )
        known = [c for c in cards if str(c.get("card_id", "")).startswith(f"incident/{inc.fault}/")]
        return "triaged", {
            **inc.state,
            "remedy": remedy,
            "known_patterns": [c["card_id"] for c in known],
            "triage_step_id": result.step_id,
        }

    def _propose(self, inc: Incident) -> tuple[str, dict[str, Any]]:
        remedy, arg, _words = PLAYBOOK[inc.fault]
        run = self._run(inc)
        existing = [
            g
            for g in control_queries.gates_of_runs(self.dep.ledger.engine, [run.run_id])
            if g.tool_name == remedy
        ]
        if existing:  # proposed before a restart: adopt that gate, never open a second one
            gate_id = existing[0].gate_id
        else:
            result = self.dep.control.execute(
                run,
                remedy,
                {
                    arg: inc.state["subject"],
                    "reason": str(inc.state["summary"])[:400],
                    "incident_id": inc.incident_id,
                },
            )
            if result.gate_id is None:
                raise ConflictError(
                    f"{remedy} did not wait at a gate ({result.outcome.value}: {result.reason})"
                )
            gate_id = result.gate_id
        return "awaiting_approval", {**inc.state, "gate_id": gate_id}

    def _apply(self, inc: Incident) -> tuple[str, dict[str, Any]] | None:
        gate_id = str(inc.state["gate_id"])
        decision = control_queries.gate_decisions(self.dep.ledger.engine, [gate_id])[gate_id]
        if decision.decision == "pending":
            expired = self.dep.control.expire_gates(self.dep.clock.now(), gate_ids=[gate_id])
            if not expired:
                return None
            decision = control_queries.gate_decisions(self.dep.ledger.engine, [gate_id])[gate_id]
        state = {**inc.state, "approved_by": decision.decided_by, "decision": decision.decision}
        if decision.decision != "approved":
            return "rejected", state
        result = self.dep.control.resume(gate_id)
        if result.outcome is not StepOutcome.EXECUTED:
            return "rejected", {**state, "apply_error": result.reason}
        return "remedied", {
            **state,
            "remedy_step_id": result.step_id,
            "remedy_result": result.value,
            "remedied_at": format_ts(self.dep.clock.now()),
        }

    def _verify(self, inc: Incident) -> tuple[str, dict[str, Any]]:
        since = parse_ts(str(inc.state["remedied_at"]))
        self.meter.mean_since_last()
        hours_done = int((self.dep.clock.now() - since).total_seconds() // 3600)
        if hours_done < VERIFY_HOURS:
            self.dep.run_hours(VERIFY_HOURS - hours_done)
        until = self.dep.clock.now()
        signals = read_signals(self.dep, since, until, meter=self.meter)
        subject = str(inc.state["subject"])
        ok = recovered(inc.fault, subject, signals, self.thresholds, baseline=inc.state["evidence"])
        if "signal_before" not in inc.state:
            detected = parse_ts(str(inc.state["detected_at"]))
            before = read_signals(self.dep, detected - self.window, detected)
            inc.state["signal_before"] = round(_signal_value(inc.fault, subject, before), 4)
        return ("verified" if ok else "not_verified"), {
            **inc.state,
            "verified": ok,
            "signal_after": round(_signal_value(inc.fault, subject, signals), 4),
            "verification": signals.to_json(),
        }

    def _postmortem(self, inc: Incident) -> tuple[str, dict[str, Any]]:
        rel = f"{DEPARTMENT}/patterns/{inc.fault}.md"
        card_id = f"incident/{inc.fault}/{inc.state['subject']}"
        writer = CompendiumWriter(
            control=self.dep.control,
            compendium=self.dep.compendium,
            role="curator",
            initiator_id=INITIATOR,
            goal=f"postmortem of {inc.incident_id}",
        )

        def render(current: str | None) -> str:
            return _render_card(current, rel, card_id, inc)

        try:
            change = writer.write(rel, render, reason=f"postmortem of {inc.incident_id}")
        finally:
            writer.finish(f"postmortem of {inc.incident_id}")
        with contextlib.suppress(ConflictError):  # closed before a restart
            self.dep.control.finish_run(self._run(inc), "completed")
        return "closed", {
            **inc.state,
            "compendium_entry": f"{rel}#{card_id}",
            "card_change": change,
        }

    # --------------------------------------------------------------- ledger

    def _record(
        self, incident_id: str, fault: str, status: str, step: int, state: Mapping[str, Any]
    ) -> None:
        fields = {
            "incident_id": incident_id,
            "fault": fault,
            "status": status,
            "step": step,
            "subject": state.get("subject"),
            "run_id": state.get("run_id"),
            "gate_id": state.get("gate_id"),
            "remedy": state.get("remedy"),
            "approved_by": state.get("approved_by"),
            "verified": state.get("verified"),
            "compendium_entry": state.get("compendium_entry"),
            "at": format_ts(self.dep.clock.now()),
        }
        self.dep.ledger.append(INCIDENT_KIND, fields)


def _render_card(current: str | None, rel: str, card_id: str, inc: Incident) -> str:
    """The fault's patterns file with this incident folded into its card (pure in its input)."""
    cards = parse_cards(current, rel) if current else []
    old = next((c for c in cards if c.card_id == card_id), None)
    if old is not None and inc.incident_id in old.evidence:
        return current or ""
    before = float(inc.state.get("signal_before", 0.0))
    after = float(inc.state.get("signal_after", 0.0))
    delta = after - before
    n = (old.effect.n if old else 0) + 1
    mean = delta if old is None else (old.effect.mean * (n - 1) + delta) / n
    lo = min(delta, old.effect.lo) if old else delta
    hi = max(delta, old.effect.hi) if old else delta
    evidence = (*(old.evidence if old else ()), inc.incident_id)[-10:]
    total = (old.evidence_total if old else 0) + 1
    verified = bool(inc.state.get("verified"))
    status = "proven" if verified and (old is None or old.status == "proven") else "suspected"
    card = Card(
        card_id=card_id,
        title=f"{inc.state['remedy']} resolves {inc.fault} ({inc.state['subject']})",
        status=status,
        context=(
            f"{inc.fault} on {inc.state['subject']}: {inc.state['summary']}; remedy "
            f"{inc.state['remedy']} approved by {inc.state.get('approved_by')}"
        ),
        effect=Effect(measure=MEASURE[inc.fault], mean=mean, lo=lo, hi=hi, n=n),
        evidence=tuple(evidence),
        evidence_total=max(total, len(evidence)),
        last_updated=format_ts(parse_ts(str(inc.state["remedied_at"]))),
        prose=(
            "Detected by the reliability agent; the remedy ran after a person approved its gate "
            f"and the signal was {'back inside' if verified else 'still outside'} its threshold "
            "at verification."
        ),
    )
    others = [c for c in cards if c.card_id != card_id]
    return render_cards(
        f"Reliability: {inc.fault}",
        "Incidents the reliability agent healed, one card per fault and subject "
        "(written by the self-healing workflow; see docs/operations.md).",
        [*others, card],
    )
