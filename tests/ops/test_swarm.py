"""The dev swarm end to end on SQLite and PostgreSQL, with the scripted provider and a real
throwaway git repository: scouted, built, tested in a worktree, proposed at a gate, applied on
its own branch only after a person approves; restarts repeat no step; a rejection or red tests
leave the repository as it was."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

import tailguard
from tailguard.control import queries as control_queries
from tailguard.errors import ConflictError
from tailguard.ledger import Ledger
from tailguard.ledger.queries import latest_entities
from tailguard.ops.swarm import Swarm, branch_for
from tailguard.ops.swarm_tools import APPLY, BUILD, PROPOSAL_KIND, TEST
from tailguard.roles.providers import ChatMessage, ModelTurn, ToolSpec

from ._swarm import APPROVER, BAD_DIFF, GOOD_DIFF, git, make_repo, provider, swarm


class CountingModel:
    """The scripted model, counting the calls it answers (a restart must not ask again)."""

    def __init__(self, diff: str = GOOD_DIFF) -> None:
        self.inner = provider(diff)
        self.calls = 0

    @property
    def name(self) -> str:
        return self.inner.name

    def complete(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelTurn:
        self.calls += 1
        return self.inner.complete(system, messages, tools)


def _steps(sw: Swarm, tool: str) -> Counter[str]:
    rows = latest_entities(sw.control.ledger, "step", limit=10_000, equals={"tool_name": tool})
    return Counter(str(r.record.fields["status"]) for r in rows)


def _branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").split()


def _scout_one(sw: Swarm) -> str:
    rows = sw.scout(["ruff"])
    assert [(r.finding["rule"], r.finding["path"]) for r in rows] == [("F401", "calc.py")]
    return rows[0].proposal_id


def _untouched(repo: Path, main_before: str) -> None:
    """The target repository's checkout and main branch are as they were."""
    assert git(repo, "rev-parse", "main").strip() == main_before
    assert git(repo, "status", "--porcelain") == ""
    assert "import os" in (repo / "calc.py").read_text()
    assert len(git(repo, "worktree", "list").splitlines()) == 1  # no worktree left behind


def test_end_to_end_applies_on_its_branch_only_after_approval(db_url: str, tmp_path: Path) -> None:
    """Scout, build, test, propose, approve, apply: the branch holds the patch, main does not."""
    repo = make_repo(tmp_path)
    main_before = git(repo, "rev-parse", "main").strip()
    with swarm(db_url, repo) as sw:
        pid = _scout_one(sw)
        assert sw.scout(["ruff"]) == []  # the same finding is filed once
        row = sw.advance(pid)
        assert row.status == "awaiting_approval"
        assert row.state["tests"]["green"] is True
        assert row.state["tests"]["tests"] == ["tests/test_calc.py"]
        # The proposal is in the ledger (diff, tests, evidence) and its gate in the inbox.
        record = sw.control.ledger.latest(PROPOSAL_KIND, pid)
        assert record is not None
        assert record.fields["diff"] == GOOD_DIFF
        assert record.fields["green"] is True
        assert record.fields["finding"]["rule"] == "F401"
        assert "1 passed" in record.fields["test_output"]
        inbox = sw.control.pending_gates()
        assert [(g.gate_id, g.tool_name) for g in inbox] == [(row.state["gate_id"], APPLY)]
        assert inbox[0].args["branch"] == branch_for(pid)
        assert _branches(repo) == ["main"]  # nothing applied before the decision
        _untouched(repo, main_before)
        assert sw.decide(pid, "approve", APPROVER) == "approved"
        row = sw.advance(pid)
        assert row.status == "applied"
        assert row.state["decided_by"] == APPROVER
        applied = row.state["applied"]
        assert applied["branch"] == branch_for(pid)
        assert sorted(_branches(repo)) == sorted(["main", branch_for(pid)])
        assert git(repo, "rev-parse", applied["branch"]).strip() == applied["commit"]
        assert git(repo, "rev-parse", f"{applied['branch']}~1").strip() == main_before
        assert "import os" not in git(repo, "show", f"{applied['branch']}:calc.py")
        _untouched(repo, main_before)
        assert _steps(sw, APPLY) == {"executed": 1}
        statuses = [
            r.fields["status"]
            for r in sw.control.ledger.records(kind="proposal_status")
            if r.fields["proposal_id"] == pid
        ]
        assert statuses == ["filed", "built", "tested", "awaiting_approval", "applied"]


def test_restart_in_the_middle_repeats_no_step(db_url: str, tmp_path: Path) -> None:
    """Three processes carry one proposal; a tool that ran before a crash is not run again."""
    repo = make_repo(tmp_path)
    first = CountingModel()
    with swarm(db_url, repo, model=first) as sw:
        pid = _scout_one(sw)
        # Process 1 dies right after the build tool stored its patch, before the step moved.
        result = sw.control.execute(
            sw.control.get_run(sw.get(pid).state["run_id"]), BUILD, {"proposal_id": pid}
        )
        assert result.value["ok"] is True
        assert sw.get(pid).status == "filed"
    assert first.calls == 1
    second = CountingModel()
    with swarm(db_url, repo, model=second) as sw:
        row = sw.advance(pid, until="tested")
        assert row.status == "tested"
        assert second.calls == 0  # the stored patch was adopted, the model not asked again
    with swarm(db_url, repo) as sw:
        row = sw.advance(pid)
        assert row.status == "awaiting_approval"
        gate_id = row.state["gate_id"]
    with swarm(db_url, repo) as sw:
        assert sw.advance(pid).state["gate_id"] == gate_id  # waiting: no second gate
        sw.decide(pid, "approve", APPROVER)
        assert sw.advance(pid).status == "applied"
        assert sw.advance(pid).status == "applied"
        assert _steps(sw, BUILD) == {"executed": 1}
        assert _steps(sw, TEST) == {"executed": 1}
        assert _steps(sw, APPLY) == {"executed": 1}
        proposals = list(sw.control.ledger.records(kind=PROPOSAL_KIND))
        assert len(proposals) == 1
        gates = control_queries.gates_of_runs(sw.control.ledger.engine, [row.state["run_id"]])
        assert [g.gate_id for g in gates] == [gate_id]
    assert len(git(repo, "log", "--format=%H", branch_for(pid)).split()) == 2


def test_rejection_at_the_gate_applies_nothing(db_url: str, tmp_path: Path) -> None:
    """Rejected: no branch, main and the checkout as they were, the apply step rejected."""
    repo = make_repo(tmp_path)
    main_before = git(repo, "rev-parse", "main").strip()
    with swarm(db_url, repo) as sw:
        pid = _scout_one(sw)
        sw.advance(pid)
        assert sw.decide(pid, "reject", APPROVER, reason="not now") == "rejected"
    with swarm(db_url, repo) as sw:  # decided, then a restart
        row = sw.advance(pid)
        assert row.status == "rejected"
        assert "applied" not in row.state
        assert _steps(sw, APPLY) == {"rejected": 1}
        with pytest.raises(ConflictError):
            sw.decide(pid, "approve", APPROVER)
    assert _branches(repo) == ["main"]
    _untouched(repo, main_before)


def test_red_tests_are_recorded_but_cannot_be_approved_or_applied(
    db_url: str, tmp_path: Path
) -> None:
    """A patch whose tests fail: its proposal is recorded, it gets no gate, and a gate forced
    open by hand still cannot apply it."""
    repo = make_repo(tmp_path)
    main_before = git(repo, "rev-parse", "main").strip()
    with swarm(db_url, repo, diff=BAD_DIFF) as sw:
        pid = _scout_one(sw)
        row = sw.advance(pid)
        assert row.status == "tests_failed"
        assert row.state["tests"]["green"] is False
        assert row.state["tests"]["returncode"] == 1
        record = sw.control.ledger.latest(PROPOSAL_KIND, pid)
        assert record is not None
        assert record.fields["green"] is False
        assert "1 failed" in record.fields["test_output"]
        assert sw.control.pending_gates() == []
        with pytest.raises(ConflictError, match="not awaiting_approval"):
            sw.decide(pid, "approve", APPROVER)
        # By hand, in an operator's run (the proposal's run is closed): the apply tool's gate,
        # approved; the tool itself refuses a proposal whose tests are red.
        run = sw.control.start_run("operator", "ops-bob", "force the red proposal")
        forced = sw.control.execute(
            run,
            APPLY,
            {
                "proposal_id": pid,
                "branch": branch_for(pid),
                "diff_sha256": row.state["build"]["diff_sha256"],
            },
        )
        assert forced.gate_id is not None
        sw.control.decide(forced.gate_id, "approve", APPROVER)
        result = sw.control.resume(forced.gate_id)
        assert result.outcome.value == "error"
        assert "not green" in str(result.reason)
    assert _branches(repo) == ["main"]
    _untouched(repo, main_before)


def test_an_approver_cannot_redirect_the_patch_onto_main(tmp_path: Path) -> None:
    """Approving with the branch edited to main: the apply tool refuses, nothing lands."""
    repo = make_repo(tmp_path)
    main_before = git(repo, "rev-parse", "main").strip()
    with swarm(f"sqlite:///{tmp_path / 'l.db'}", repo) as sw:
        pid = _scout_one(sw)
        row = sw.advance(pid)
        (gate,) = sw.control.pending_gates()
        edited = {**gate.args, "branch": "main"}
        sw.control.decide(gate.gate_id, "approve", APPROVER, edited_args=edited)
        row = sw.advance(pid)
        assert row.status == "apply_failed"
        assert "swarm/" in row.state["apply_error"]
    assert _branches(repo) == ["main"]
    _untouched(repo, main_before)


def test_a_test_command_past_its_timeout_is_red(tmp_path: Path) -> None:
    """The test command is killed at its timeout and the proposal ends red."""
    repo = make_repo(tmp_path)
    sleeper = (sys.executable, "-c", "import time; time.sleep(60)", "{tests}")
    with swarm(f"sqlite:///{tmp_path / 'l.db'}", repo, test_command=sleeper, timeout_s=1) as sw:
        pid = _scout_one(sw)
        row = sw.advance(pid)
    assert row.status == "tests_failed"
    assert row.state["tests"]["timed_out"] is True
    assert row.state["tests"]["returncode"] is None


def test_a_patch_outside_the_repository_is_not_built(tmp_path: Path) -> None:
    """A model's diff reaching outside the repository ends the proposal at the build step."""
    repo = make_repo(tmp_path)
    escape = GOOD_DIFF.replace("a/calc.py", "a/../calc.py").replace("b/calc.py", "b/../calc.py")
    with swarm(f"sqlite:///{tmp_path / 'l.db'}", repo, diff=escape) as sw:
        pid = _scout_one(sw)
        row = sw.advance(pid)
        assert row.status == "build_failed"
        assert "leaves the repository" in row.state["build"]["error"]
        assert _steps(sw, TEST) == {}


def test_scouts_read_the_error_log_and_the_ledgers_failed_steps(
    db_url: str, tmp_path: Path
) -> None:
    """Dead-letter lines and failed ledger steps become findings, each filed once."""
    repo = make_repo(tmp_path)
    log = tmp_path / "agents.deadletter.jsonl"
    log.write_text(
        '{"reason": "nps 11 out of range 0-10", "source": "events.jsonl", "line": 3, "raw": "{}", "at": "x"}\n'
        '{"reason": "nps 11 out of range 0-10", "source": "events.jsonl", "line": 9, "raw": "{}", "at": "x"}\n'
        '{"level": "info", "message": "started"}\n'
        "2026-12-07 ERROR worker crashed: KeyError 'area'\n"
    )
    with swarm(db_url, repo, error_logs=(log,)) as sw:
        # A failed step in the ledger: the apply tool refusing a proposal that does not exist.
        run = sw.control.start_run("dev_swarm", "dev-swarm", "a failing call")
        sw.control.execute(run, TEST, {"proposal_id": "prp-missing"})
        rows = sw.scout(["error_log", "ledger"])
        found = sorted((r.finding["source"], r.finding["rule"], r.finding["count"]) for r in rows)
        assert found == [
            ("error_log", "agents.deadletter.jsonl", 1),
            ("error_log", "events.jsonl", 2),
            ("ledger", TEST, 1),
        ]
        assert sw.scout(["error_log", "ledger"]) == []
    with Ledger.open(db_url) as ledger:
        assert sum(1 for _ in ledger.records(kind="proposal_status")) == 3


_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from _swarm import swarm
with swarm(sys.argv[2], Path(sys.argv[3])) as sw:
    sw.advance(sys.argv[4])
"""
#: A post-commit hook that kills the process running git (the swarm) with SIGKILL.
# Linux only (reads /proc): on another system this test fails rather than skips.
_KILLER = "#!/bin/sh\nkill -9 \"$(awk '{print $4}' /proc/$PPID/stat)\"\n"


def test_a_crash_right_after_the_commit_is_recovered_without_a_second_commit(
    db_url: str, tmp_path: Path
) -> None:
    """The process applying an approved proposal is killed by the repository's post-commit
    hook; the next process finds the claimed gate and the commit, and records it."""
    repo = make_repo(tmp_path)
    with swarm(db_url, repo) as sw:
        pid = _scout_one(sw)
        sw.advance(pid)
        sw.decide(pid, "approve", APPROVER)
    hook = repo / ".git" / "hooks" / "post-commit"
    hook.write_text(_KILLER)
    hook.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(Path(tailguard.__file__).parents[1])}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(Path(__file__).parent), db_url, str(repo), pid],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == -9, child.stderr
    hook.unlink()
    commits = git(repo, "log", "--format=%H", f"main..{branch_for(pid)}").split()
    assert len(commits) == 1  # the commit happened before the crash
    with swarm(db_url, repo) as sw:
        assert sw.get(pid).status == "awaiting_approval"
        row = sw.advance(pid)
        assert row.status == "applied"
        assert row.state["applied"]["commit"] == commits[0]
        assert row.state["applied"]["recovered"] is True
        assert sw.advance(pid).status == "applied"
    assert git(repo, "log", "--format=%H", f"main..{branch_for(pid)}").split() == commits
    # The killed process could not remove its worktree: clean it up here.
    listed = git(repo, "worktree", "list", "--porcelain").splitlines()
    for left in [line.split(" ", 1)[1] for line in listed if line.startswith("worktree ")][1:]:
        git(repo, "worktree", "remove", "--force", left)
        shutil.rmtree(Path(left).parent, ignore_errors=True)


def test_the_daily_proposal_budget_defers_findings_to_a_later_day(
    db_url: str, tmp_path: Path
) -> None:
    """With two proposals a day, three findings file two; the third waits, and is filed the
    next day (the control plane's daily run cap of the swarm's initiator)."""
    from tailguard.clock import FakeClock
    from tailguard.ops.swarm import open_swarm
    from tailguard.ops.swarm_tools import SwarmConfig

    repo = make_repo(tmp_path)
    log = tmp_path / "errors.log"
    log.write_text(
        "2026-12-07 ERROR worker crashed: KeyError 'area'\n"
        "2026-12-07 ERROR worker crashed: KeyError 'tech'\n"
        "2026-12-07 ERROR worker crashed: KeyError 'zip'\n"
    )
    clock = FakeClock()
    config = SwarmConfig(repo=repo, error_logs=(log,), daily_proposals=2)
    with Ledger.open(db_url, clock=clock) as ledger:
        sw = open_swarm(ledger, config, provider=provider(), approvers=[APPROVER])
        first = sw.scout(["error_log"])
        assert len(first) == 2
        assert sw.deferred == 1
        assert sw.scout(["error_log"]) == []  # still today: nothing more is filed
        assert sw.deferred == 1
        clock.advance(timedelta(days=1))
        later = sw.scout(["error_log"])
        assert len(later) == 1
        assert sw.deferred == 0
        keys = {r.finding["message"] for r in [*first, *later]}
        assert len(keys) == 3
