"""The dev swarm: findings become tested change proposals that only a person can apply.

A :class:`Swarm` works on one target repository (:class:`~.swarm_tools.SwarmConfig`) through
the control plane. :meth:`Swarm.scout` runs the ``swarm_scout`` tool and files every new
finding as a proposal with its own run (role ``dev_swarm``); :meth:`Swarm.advance` carries a
proposal through its steps, each a governed tool call of that run:

====  =====================  ==============================================================
step  status after it        what it does
====  =====================  ==============================================================
0     ``built``              ``swarm_build``: the model provider proposes a scoped patch;
      (``build_failed``)     no diff, a bad diff or one out of scope ends the proposal
1     ``tested``             ``swarm_test``: the patch applied in a throwaway worktree of the
                             base commit, the covering tests run there with a timeout
2     ``awaiting_approval``  ``swarm_propose``: the ``proposal`` ledger record (diff, test
      (``tests_failed``)     results, evidence); green: ``swarm_apply`` called, it waits at
                             its approval gate (the inbox); red: recorded, no gate, the end
3     ``applied``            the gate approved: the patch committed on ``swarm/<proposal>``
      (``rejected``,         (exactly once: the gate's claim); rejected or timed out:
      ``expired``,           nothing applied
      ``apply_failed``)
====  =====================  ==============================================================

Durability is that of the self-healing workflow: a step ends with a compare-and-set on the
proposal's step, each tool stores its result on the proposal and returns the stored one when
called again, and an existing gate of the run is adopted rather than a second one opened. So
a process that dies anywhere resumes at the first unfinished step and no step's effect
(a model call's patch, a test run's verdict, a ledger record, a commit) happens twice.
Every status change is also a ``proposal_status`` ledger record.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from tailguard.clock import format_ts
from tailguard.control import ApproverList, ControlPlane, Run, StepOutcome, ToolRegistry
from tailguard.control import queries as control_queries
from tailguard.errors import (
    BudgetExceededError,
    ConflictError,
    InvalidInputError,
    TailguardError,
)
from tailguard.ledger import Ledger
from tailguard.ops import patches
from tailguard.ops.swarm_store import ProposalRow, ProposalStore
from tailguard.ops.swarm_tools import (
    APPLY,
    BUILD,
    PROPOSE,
    SCOUT,
    TEST,
    SwarmConfig,
    SwarmContext,
    register_swarm,
)
from tailguard.roles.providers import ModelProvider

ROLE: Final = "dev_swarm"
#: Who opens the proposals' runs (the daily cap counts these) and the scouts' runs.
INITIATOR: Final = "dev-swarm"
SCOUT_INITIATOR: Final = "dev-swarm-scout"
STATUS_KIND: Final = "proposal_status"
#: Statuses a proposal ends at.
TERMINAL: Final = ("build_failed", "tests_failed", "applied", "rejected", "expired", "apply_failed")
SOURCES: Final = ("ruff", "error_log", "ledger")


def branch_for(proposal_id: str) -> str:
    """The branch an approved proposal lands on."""
    return f"{patches.BRANCH_PREFIX}{proposal_id}"


class Swarm:
    """The dev swarm on one control plane whose registry holds the swarm's tools.

    Args:
        control: the control plane (``register_swarm`` done; approvers decide the gates).
        config: the target repository and how to test it.
    """

    def __init__(self, control: ControlPlane, config: SwarmConfig) -> None:
        self.control = control
        self.config = config
        self.clock = control.clock
        self.store = ProposalStore(control.ledger.engine)
        self.repo = str(config.repo.resolve())
        #: Findings the last :meth:`scout` left for later: the day's proposals were spent.
        self.deferred = 0

    # ------------------------------------------------------------------ scout

    def scout(self, sources: Sequence[str] = SOURCES, *, limit: int = 20) -> list[ProposalRow]:
        """Run the scouts and file each new finding as a proposal; the new proposals.

        Raises:
            InvalidInputError: an unknown source, or the repository or base is not there.
            ConflictError: the scout step did not run (its reason).
        """
        bad = [s for s in sources if s not in SOURCES]
        if bad or not sources:
            raise InvalidInputError(
                f"unknown scout source {', '.join(bad) or '(none)'}: use {', '.join(SOURCES)}"
            )
        base_commit = patches.resolve(self.config.repo, self.config.base)
        run = self.control.start_run(ROLE, SCOUT_INITIATOR, f"scout {self.repo}")
        try:
            result = self.control.execute(
                run, SCOUT, {"sources": list(dict.fromkeys(sources)), "limit": limit}
            )
            if result.outcome is not StepOutcome.EXECUTED:
                raise ConflictError(f"{SCOUT}: {result.outcome.value}: {result.reason}")
            filed: list[ProposalRow] = []
            self.deferred = 0
            for finding in result.value["findings"]:
                try:
                    row = self._file(dict(finding), base_commit)
                except BudgetExceededError:
                    # The day's proposals are spent: the rest wait for a later scout (a
                    # finding is filed only once it has a run).
                    self.deferred += 1
                    continue
                if row is not None:
                    filed.append(row)
        except TailguardError:
            self.control.finish_run(run, "failed")
            raise
        self.control.finish_run(run, "completed")
        return filed

    def _file(self, finding: dict[str, Any], base_commit: str) -> ProposalRow | None:
        key = str(finding.pop("key"))
        if self.store.has_finding(self.repo, key):
            return None
        proposal_id = f"prp-{uuid.uuid4().hex[:12]}"
        run = self.control.start_run(
            ROLE, INITIATOR, f"proposal {proposal_id}: {finding['rule']} {finding['message']}"[:400]
        )
        state = {"run_id": run.run_id, "base_commit": base_commit, "base": self.config.base}
        if not self.store.file(proposal_id, self.repo, key, finding, state, now=self.clock.now()):
            self.control.finish_run(run, "aborted")  # another scout filed it first
            return None
        self._record(proposal_id, "filed", 0, state)
        return self.store.get(proposal_id)

    # ---------------------------------------------------------------- advance

    def get(self, proposal_id: str) -> ProposalRow:
        """A proposal as stored."""
        return self.store.get(proposal_id)

    def advance(self, proposal_id: str, *, until: str | None = None) -> ProposalRow:
        """Carry a proposal as far as it can go now (or up to status ``until``).

        Stops at a pending gate, at the end, and at ``until``. Safe to call again from any
        process: it resumes at the first unfinished step.
        """
        while True:
            row = self.store.get(proposal_id)
            if row.status in TERMINAL or (until and row.status == until):
                return row
            step = {0: self._build, 1: self._test, 2: self._propose, 3: self._apply}[row.step]
            outcome = step(row)
            if outcome is None:  # waiting at the gate
                return row
            status, state = outcome
            now = self.clock.now()
            if status in TERMINAL:
                moved = self.store.finish(
                    proposal_id, from_step=row.step, status=status, state=state, now=now
                )
                if moved:
                    with contextlib.suppress(TailguardError):
                        self.control.finish_run(
                            self._run(row), "completed" if status == "applied" else "aborted"
                        )
            else:
                moved = self.store.advance(
                    proposal_id, from_step=row.step, status=status, state=state, now=now
                )
            if moved:
                self._record(proposal_id, status, row.step + 1, state)

    def _run(self, row: ProposalRow) -> Run:
        return self.control.get_run(str(row.state["run_id"]))

    def _call(self, row: ProposalRow, tool: str) -> Any:
        result = self.control.execute(self._run(row), tool, {"proposal_id": row.proposal_id})
        if result.outcome is not StepOutcome.EXECUTED:
            raise ConflictError(f"{tool}: {result.outcome.value}: {result.reason}")
        return result.value

    def _build(self, row: ProposalRow) -> tuple[str, dict[str, Any]]:
        build = row.state.get("build") or self._call(row, BUILD)
        fresh = self.store.get(row.proposal_id).state
        return ("built" if build["ok"] else "build_failed"), fresh

    def _test(self, row: ProposalRow) -> tuple[str, dict[str, Any]]:
        if "tests" not in row.state:
            self._call(row, TEST)
        return "tested", self.store.get(row.proposal_id).state

    def _propose(self, row: ProposalRow) -> tuple[str, dict[str, Any]]:
        self._call(row, PROPOSE)  # idempotent: one ledger record per diff
        state = self.store.get(row.proposal_id).state
        if state["tests"]["green"] is not True:
            return "tests_failed", state
        run = self._run(row)
        existing = [
            g
            for g in control_queries.gates_of_runs(self.control.ledger.engine, [run.run_id])
            if g.tool_name == APPLY
        ]
        if existing:  # the gate opened before a restart: adopt it
            gate_id = existing[0].gate_id
        else:
            finding = row.finding
            result = self.control.execute(
                run,
                APPLY,
                {
                    "proposal_id": row.proposal_id,
                    "branch": branch_for(row.proposal_id),
                    "diff_sha256": state["build"]["diff_sha256"],
                    "summary": (
                        f"{finding['rule']}: {finding['message']} ({len(state['build']['files'])} "
                        f"files, tests green: {', '.join(state['tests']['tests'])})"
                    )[:400],
                },
            )
            if result.gate_id is None:
                raise ConflictError(
                    f"{APPLY} did not wait at a gate ({result.outcome.value}: {result.reason})"
                )
            gate_id = result.gate_id
        return "awaiting_approval", {**state, "gate_id": gate_id}

    def _apply(self, row: ProposalRow) -> tuple[str, dict[str, Any]] | None:
        gate_id = str(row.state["gate_id"])
        engine = self.control.ledger.engine
        decision = control_queries.gate_decisions(engine, [gate_id])[gate_id]
        if decision.decision == "pending":
            if not self.control.expire_gates(self.clock.now(), gate_ids=[gate_id]):
                return None
            decision = control_queries.gate_decisions(engine, [gate_id])[gate_id]
        state = {**row.state, "decision": decision.decision, "decided_by": decision.decided_by}
        if decision.decision == "rejected":
            return "rejected", state
        if decision.decision != "approved":
            return "expired", state
        try:
            result = self.control.resume(gate_id)
        except ConflictError:
            # Claimed by a process that died while committing: the branch tells if it did.
            if not self._adopt_commit(row, gate_id):
                raise
            return "applied", {**self.store.get(row.proposal_id).state, **state}
        fresh = self.store.get(row.proposal_id).state
        state = {**fresh, "decision": decision.decision, "decided_by": decision.decided_by}
        if result.outcome is not StepOutcome.EXECUTED or "applied" not in fresh:
            return "apply_failed", {**state, "apply_error": result.reason}
        return "applied", state

    def _adopt_commit(self, row: ProposalRow, gate_id: str) -> bool:
        """Store the commit an interrupted ``swarm_apply`` left on the proposal's branch (its
        message carries the proposal's marker); False when there is none."""
        branch = branch_for(row.proposal_id)
        try:
            tip = patches.git(self.config.repo, "log", "-1", "--format=%H%n%B", branch)
        except ConflictError:
            return False
        sha, _, message = tip.partition("\n")
        if patches.marker(row.proposal_id) not in message:
            return False
        value = {
            "branch": branch,
            "commit": sha,
            "base_commit": row.state["base_commit"],
            "gate_id": gate_id,
            "recovered": True,
        }
        self.store.put(row.proposal_id, "applied", value, now=self.clock.now())
        return True

    # ------------------------------------------------------------- decisions

    def decide(self, proposal_id: str, decision: str, by: str, *, reason: str | None = None) -> str:
        """A person approves or rejects a proposal's gate; the decision recorded.

        Raises:
            ConflictError: the proposal does not wait for a decision (a red one never does).
        """
        row = self.store.get(proposal_id)
        if row.status != "awaiting_approval":
            raise ConflictError(f"proposal {proposal_id} is {row.status}, not awaiting_approval")
        decided = self.control.decide(str(row.state["gate_id"]), decision, by, reason=reason)
        return decided.decision

    # ----------------------------------------------------------------- ledger

    def _record(self, proposal_id: str, status: str, step: int, state: Mapping[str, Any]) -> None:
        build, tests = state.get("build") or {}, state.get("tests") or {}
        applied = state.get("applied") or {}
        self.control.ledger.append(
            STATUS_KIND,
            {
                "proposal_status_id": f"{proposal_id}:{step}",
                "proposal_id": proposal_id,
                "status": status,
                "step": step,
                "run_id": state.get("run_id"),
                "gate_id": state.get("gate_id"),
                "diff_sha256": build.get("diff_sha256"),
                "green": tests.get("green"),
                "decided_by": state.get("decided_by"),
                "branch": applied.get("branch"),
                "commit": applied.get("commit"),
                "at": format_ts(self.clock.now()),
            },
        )


def open_swarm(
    ledger: Ledger,
    config: SwarmConfig,
    *,
    provider: ModelProvider,
    approvers: Sequence[str],
) -> Swarm:
    """A swarm with its own control plane on ``ledger``: a registry of the swarm's tools only,
    the people in ``approvers`` deciding its gates."""
    registry = ToolRegistry()
    ctx = SwarmContext(
        config=config,
        store=ProposalStore(ledger.engine),
        ledger=ledger,
        provider=provider,
        clock=ledger.clock,
    )
    register_swarm(registry, ctx)
    control = ControlPlane(
        registry,
        ledger,
        clock=ledger.clock,
        approvers=ApproverList(approver_ids=frozenset(approvers)),
        daily_run_cap=config.daily_proposals,
    )
    return Swarm(control, config)
