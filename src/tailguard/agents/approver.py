"""A simulated approver for the demo: decides gates through the same API a person uses.

The policy (documented in docs/agents.md):

* every pending gate is noticed at the first poll after it opens; its decision time is drawn
  from a log-normal latency (median ``median_latency_min``, spread ``latency_sigma``);
* a share ``no_show`` of gates is never looked at: those time out, as in real inboxes;
* at decision time the gate is rejected with probability ``reject_rate``, and always rejected
  when its arguments name more money than ``max_usd`` (the approver's own limit); otherwise
  approved;
* decisions go through :meth:`ControlPlane.decide_many` as ``approver_id`` (never the
  requester), one call per poll like an inbox's "decide the selected": each is checked and
  recorded as :meth:`ControlPlane.decide` would, so separation of duties, timeouts and the
  ledger records are the same as for a person.

The draws come from a seeded stream keyed by gate order, so a demo replays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from tailguard.control import ControlPlane, DecisionRequest, PendingCall
from tailguard.errors import ConflictError, PermissionDeniedError, TailguardError

_MONEY_ARGS = ("premium_usd", "bonus_usd", "amount_usd", "sign_on_usd", "cost_usd")


@dataclass(frozen=True, kw_only=True, slots=True)
class ApproverPolicy:
    """How the simulated approver behaves (see the module docstring)."""

    approver_id: str = "sim-approver"
    median_latency_min: float = 25.0
    latency_sigma: float = 0.8
    reject_rate: float = 0.1
    no_show: float = 0.03
    max_usd: float = 500.0


@dataclass(slots=True)
class ApproverStats:
    """What the simulated approver did."""

    approved: int = 0
    rejected: int = 0
    ignored: int = 0
    conflicts: int = 0
    latencies_min: list[float] = field(default_factory=list)


class SimulatedApprover:
    """Decide pending gates after a drawn latency (see the module docstring).

    Args:
        control: the control plane whose gates to decide.
        policy: the approver's behaviour.
        seed: the random stream's seed.
    """

    def __init__(
        self, control: ControlPlane, policy: ApproverPolicy | None = None, *, seed: int = 0
    ) -> None:
        self.control = control
        self.policy = policy or ApproverPolicy()
        self._rng = np.random.default_rng([seed, 0xA11])
        self._plan: dict[str, tuple[datetime, str, float] | None] = {}
        self.stats = ApproverStats()

    def poll(self, now: datetime) -> list[str]:
        """Decide the gates whose decision time has come; returns the gates decided."""
        p = self.policy
        decided: list[str] = []
        due: list[tuple[PendingCall, DecisionRequest]] = []
        for call in self.control.pending_gates():
            plan = self._plan.get(call.gate_id, ...)
            if plan is ...:
                if self._rng.random() < p.no_show:
                    self._plan[call.gate_id] = None
                    self.stats.ignored += 1
                    continue
                latency = float(self._rng.lognormal(np.log(p.median_latency_min), p.latency_sigma))
                money = sum(
                    float(call.args.get(k, 0.0)) * (len(call.args.get("customer_ids", [])) or 1)
                    if k == "amount_usd"
                    else float(call.args.get(k, 0.0))
                    for k in _MONEY_ARGS
                    if isinstance(call.args.get(k), int | float)
                )
                reject = self._rng.random() < p.reject_rate or money > p.max_usd
                verdict = "reject" if reject else "approve"
                plan = (call.presented_at + timedelta(minutes=latency), verdict, latency)
                self._plan[call.gate_id] = plan
            if plan is None or now < plan[0]:
                continue
            verdict = plan[1]
            reason = (
                "over the approver's limit or judged not worth it"
                if verdict == "reject"
                else "within policy"
            )
            due.append((call, DecisionRequest(call.gate_id, verdict, p.approver_id, None, reason)))
        # The poll's decisions go in one call, as an inbox's "decide the selected" does: each
        # is checked and recorded as it would be alone (ControlPlane.decide_many).
        outcomes = self.control.decide_many([request for _, request in due]) if due else []
        unexpected: TailguardError | None = None
        for (call, request), outcome in zip(due, outcomes, strict=True):
            if isinstance(outcome, TailguardError):
                if not isinstance(outcome, ConflictError | PermissionDeniedError):
                    unexpected = unexpected or outcome  # raised once the poll is counted
                    continue
                self.stats.conflicts += 1
                self._plan[call.gate_id] = None
                continue
            if request.decision == "approve":
                self.stats.approved += 1
            else:
                self.stats.rejected += 1
            self.stats.latencies_min.append((now - call.presented_at).total_seconds() / 60.0)
            decided.append(call.gate_id)
        if unexpected is not None:
            raise unexpected
        return decided
