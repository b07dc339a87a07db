"""Picking up where an earlier process of the area agents stopped (:meth:`AreaAgents.recover`).

Between ticks the agents hold two things in memory: the runs waiting at approval gates (which
gate carries which decision) and the chooser's per-area state (cooldowns, weekly spend and
counts, customers already credited). Both can be read back from the stores: the self-learn
store keeps every decision with its run, step, gate and status; the control plane keeps every
run and gate with its decision; the ledger keeps every step's result. A new process on the same
stores (a restarted ``tailguard agents run``) reads them here, so that

* a gate a person decides after the restart is resumed by the new process, exactly once (the
  control plane's claim), a rejected or timed-out one is recorded as such, and its run closes;
* a decision the earlier process chose but stopped before recording what became of it ends in
  a final status too: settled from the ledger when its run was opened, ``failed`` with the
  reason when its call was never sent;
* the chooser does not act again on a target still in cooldown, nor spend a week's budget a
  second time.

What is not recovered: the KPI windows, the signals' history and the rules' ``for`` timers,
which the events rebuild (a restarted runner warms up again).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tailguard.control import queries as control_queries
from tailguard.control.tools import args_hash
from tailguard.errors import NotFoundError
from tailguard.learning import DecisionState, StatusUpdate

if TYPE_CHECKING:
    from tailguard.agents.tick import AreaAgents

#: Statuses of a decision that is not settled yet.
UNSETTLED = ("decided", "pending_approval")

_COST = re.compile(r"cost \$(-?[0-9]+(?:\.[0-9]+)?)")


@dataclass(frozen=True, slots=True)
class Recovery:
    """What :func:`recover` found in the stores and took over.

    Attributes:
        runs: runs waiting at approval gates, adopted (their gates now reconciled here).
        gates: the decisions at those gates.
        settled: decisions left ``decided`` by an interrupted execution, settled from the
            ledger (executed, failed, rejected, or adopted at their gate).
        abandoned: decisions whose call was never sent, recorded ``failed``.
        restored: decisions the chooser's cooldowns and weekly budgets were rebuilt from.
    """

    runs: int = 0
    gates: int = 0
    settled: int = 0
    abandoned: int = 0
    restored: int = 0

    def to_dict(self) -> dict[str, int]:
        """The counts as JSON-ready data."""
        return {
            "runs": self.runs,
            "gates": self.gates,
            "settled": self.settled,
            "abandoned": self.abandoned,
            "restored": self.restored,
        }


def recover(agents: AreaAgents, now: datetime | None = None) -> Recovery:
    """Adopt the earlier process's runs at gates and rebuild its chooser state (see module).

    Call it on a fresh :class:`AreaAgents` before its first tick; calling it again adopts
    nothing twice. ``now`` is the agents' present (default: the latest decision's time, when
    the earlier process last chose); the chooser replays the decisions of that ISO week and of
    the longest cooldown before it.
    """
    learning = agents.learning
    waiting = learning.decision_states(statuses=UNSETTLED)
    held = {g for gate_ids in agents.held_gates().values() for g in gate_ids}
    gated: dict[str, dict[str, str]] = {}  # run_id -> gate_id -> decision_id
    orphans: dict[tuple[str, datetime], list[DecisionState]] = {}
    for d in waiting:
        if d.status == "pending_approval" and d.run_id and d.gate_id:
            if d.gate_id not in held:
                gated.setdefault(d.run_id, {})[d.gate_id] = d.decision_id
        else:  # chosen (and recorded), but what became of it was never written
            orphans.setdefault((d.area_id, d.decided_at), []).append(d)
    updates: list[StatusUpdate] = []
    settled = abandoned = 0
    to_close = []
    for (area_id, at), found in orphans.items():
        run_id = _run_of(agents, area_id, at)
        if run_id is None:
            abandoned += len(found)
            updates += [
                StatusUpdate(
                    decision_id=d.decision_id,
                    status="failed",
                    reason="never sent: the agents stopped between choosing and executing it",
                )
                for d in found
            ]
            continue
        settled += len(found)
        adopted = _settle_from_ledger(agents, run_id, found, updates)
        if adopted:
            gated.setdefault(run_id, {}).update(adopted)
        else:
            to_close.append(run_id)
    opened = 0
    for run_id, decisions in gated.items():
        try:
            run = agents.control.get_run(run_id)
        except NotFoundError:
            updates += [
                StatusUpdate(decision_id=d, status="failed", reason=f"run {run_id} is gone")
                for d in decisions.values()
            ]
            continue
        agents.adopt(run, decisions)
        opened += 1
    if to_close:
        # Runs whose every call was settled above, left open by the interruption (a closed
        # one is refused by finish_runs without raising, and stays as it was).
        agents.control.finish_runs([agents.control.get_run(r) for r in to_close], "completed")
    learning.update_status(updates)
    restored = _restore_chooser(agents, now)
    return Recovery(
        runs=opened,
        gates=sum(len(d) for r, d in gated.items() if r in agents.held_gates()),
        settled=settled,
        abandoned=abandoned,
        restored=restored,
    )


def _run_of(agents: AreaAgents, area_id: str, at: datetime) -> str | None:
    """The run the agents opened for ``area_id``'s decisions taken at ``at`` (None: none)."""
    from tailguard.agents.tick import ROLE, initiator_of

    found = control_queries.runs_of(
        agents.control.ledger.engine,
        role=ROLE,
        initiator_id=initiator_of(area_id),
        area_id=area_id,
        hour=at,
        limit=1,
    )
    return found[0].run.run_id if found else None


def _settle_from_ledger(
    agents: AreaAgents, run_id: str, found: Sequence[DecisionState], updates: list[StatusUpdate]
) -> dict[str, str]:
    """Match decisions to their run's gates and steps by tool and arguments; returns the
    decisions found at a gate (gate_id -> decision_id), to be reconciled like any other.

    A decision at a gate is adopted whatever the gate's state (the reconciliation resumes an
    approved one once, or records the rejection or timeout). One whose step has a result is
    recorded from it. One with neither had its call interrupted: it is recorded ``failed``
    with the run to reconcile the downstream agent's jobs against.
    """
    gate_of: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for gate in control_queries.gates_of_runs(agents.control.ledger.engine, [run_id]):
        key = (gate.tool_name, args_hash(gate.args))
        gate_of.setdefault(key, []).append((gate.gate_id, gate.step_id))
    steps: dict[str, dict[str, Any]] = {}
    for record in agents.control.ledger.records(kind="step", run_id=run_id):
        steps[record.fields["step_id"]] = dict(record.fields)  # the latest record wins
    step_of: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for fields in steps.values():
        # A gated step (pending_approval when its gate was presented) is the gate's, not a
        # call of its own.
        if not fields.get("approval_gate_id") and fields.get("status") != "pending_approval":
            step_of.setdefault((fields["tool_name"], fields["args_hash"]), []).append(fields)
    adopted: dict[str, str] = {}
    for d in found:
        key = (d.tool_name, args_hash(d.args))
        common: dict[str, Any] = {"decision_id": d.decision_id, "run_id": run_id}
        if gate_of.get(key):
            gate_id, step_id = gate_of[key].pop(0)
            adopted[gate_id] = d.decision_id
            updates.append(
                StatusUpdate(
                    **common,
                    step_id=step_id,
                    gate_id=gate_id,
                    status="pending_approval",
                    reason="adopted at its gate after a restart",
                )
            )
        elif step_of.get(key):
            updates.append(_from_step(d.decision_id, run_id, step_of[key].pop(0)))
        else:
            updates.append(
                StatusUpdate(
                    **common,
                    status="failed",
                    reason=(
                        f"interrupted: the agents stopped while executing it in run {run_id}; "
                        "reconcile with the downstream agent's jobs of that run"
                    ),
                )
            )
    return adopted


def _from_step(decision_id: str, run_id: str, fields: dict[str, Any]) -> StatusUpdate:
    """A decision's status from its step's latest ledger record."""
    summary = str(fields.get("result_summary") or "")
    common: dict[str, Any] = {
        "decision_id": decision_id,
        "run_id": run_id,
        "step_id": fields["step_id"],
    }
    if fields.get("status") == "executed":
        cost = _COST.search(summary)
        return StatusUpdate(
            **common,
            status="executed",
            reason=f"executed: {summary}",
            cost_usd=float(cost.group(1)) if cost else None,
        )
    status = "rejected" if fields.get("status") == "rejected" else "failed"
    return StatusUpdate(**common, status=status, reason=f"{fields.get('status')}: {summary}")


def _restore_chooser(agents: AreaAgents, now: datetime | None) -> int:
    """Replay the recent decisions into the chooser (cooldowns, weekly budgets)."""
    now = now or agents.learning.last_decided_at()
    if now is None:
        return 0
    longest = max((e.cooldown for e in agents.catalogue.entries), default=timedelta(0))
    week_start = (now - timedelta(days=now.isoweekday() - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    since = min(week_start, now - longest)
    recent: Iterable[DecisionState] = agents.learning.decision_states(since=since)
    return agents.chooser.restore(recent)
