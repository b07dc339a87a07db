"""The dev swarm's governed tools: scout, build, test, propose and the gated apply.

Every step of a change proposal is one of these tools, called through the control plane in
the proposal's run (role ``dev_swarm``), so each has its policy and its ``step`` record:

| tool | risk | gate | what it does |
|---|---|---|---|
| ``swarm_scout`` | read | - | reads the error logs (their last 4 MiB), the ledger's failed steps (last 7 days) and ruff's findings (ruff runs in a throwaway worktree of the base commit) |
| ``swarm_build`` | suggest | - | asks the model provider for a scoped patch (a unified diff) for one finding |
| ``swarm_test`` | execute_low | - | applies the patch in a throwaway worktree and runs the configured test command on the tests covering the changed files, with a timeout |
| ``swarm_propose`` | suggest | - | records the change proposal (diff, test results, evidence) in the ledger |
| ``swarm_apply`` | execute_high | person | commits the patch on a new ``swarm/<proposal>`` branch; only with green tests, never on a protected branch |

A step's result is stored on the proposal by its tool (:meth:`ProposalStore.put`, kept only
when absent), so a tool called again after a restart returns the stored result instead of
asking the model, testing or committing a second time.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from tailguard.clock import Clock, format_ts
from tailguard.control import Policy, RiskLevel, Tool, ToolContext, ToolOutput, ToolRegistry, Usage
from tailguard.errors import ConflictError, InvalidInputError
from tailguard.ledger import Ledger
from tailguard.ops import patches
from tailguard.ops.coverage_map import select_tests
from tailguard.ops.findings import Finding, failed_steps, parse_error_log, parse_ruff
from tailguard.ops.swarm_store import ProposalStore
from tailguard.roles.providers import ChatMessage, ModelProvider, ToolSpec

ROLES: Final = frozenset({"dev_swarm", "operator"})
SCOUT: Final = "swarm_scout"
BUILD: Final = "swarm_build"
TEST: Final = "swarm_test"
PROPOSE: Final = "swarm_propose"
APPLY: Final = "swarm_apply"
#: The ledger kind of a change proposal's record.
PROPOSAL_KIND: Final = "proposal"
#: How far back the ledger scout reads steps.
LEDGER_WINDOW_DAYS: Final = 7
#: How much of an error log's end the error-log scout reads.
MAX_LOG_BYTES: Final = 4 << 20
#: Lines of the finding's file shown to the model around its line.
EXCERPT_LINES: Final = 40

SYSTEM_PROMPT: Final = (
    "You are the build step of a dev swarm. Propose the smallest patch that fixes the "
    "finding, as one unified diff (paths a/... b/... relative to the repository root): call "
    "submit_patch with it, or answer with it in a ```diff block. Change nothing else."
)
#: The one tool the model is offered: it hands the patch back (nothing runs it).
SUBMIT_SPEC: Final = ToolSpec(
    name="submit_patch",
    description="Hand back the patch: one unified diff fixing the finding.",
    parameters={
        "type": "object",
        "properties": {"diff": {"type": "string"}},
        "required": ["diff"],
    },
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SwarmConfig:
    """What the dev swarm works on and how it tests.

    Attributes:
        repo: the target git repository (its checkout is never modified).
        base: the ref patches are made against and tested on (usually ``main``).
        test_command: argv run in the worktree; an item ``{tests}`` becomes the covering
            test files.
        test_timeout_s: the test command's time limit.
        ruff_command: argv of ruff (``check --output-format json --exit-zero`` is added).
        error_logs: error logs and dead-letter files the scout reads.
        max_files: files one patch may change.
        max_changed_lines: lines one patch may add plus remove.
        daily_proposals: proposals filed per UTC day (each costs a model call and a test run;
            the control plane's daily run cap of the swarm's initiator); a finding past it is
            left for a later scout. None: no cap.
        coverage_file: coverage.py's data file with a context per test (``pytest
            --cov-context=test``), from which the tests covering a changed file are chosen
            (:mod:`.coverage_map`); None: the repository's ``.coverage`` when it has one. A
            file without per-test data falls back to the by-name mapping.
    """

    repo: Path
    base: str = "main"
    test_command: tuple[str, ...] = (sys.executable, "-m", "pytest", "-q", "{tests}")
    test_timeout_s: float = 600.0
    ruff_command: tuple[str, ...] = (sys.executable, "-m", "ruff")
    error_logs: tuple[Path, ...] = ()
    max_files: int = 3
    max_changed_lines: int = 200
    daily_proposals: int | None = 20
    coverage_file: Path | None = None

    @property
    def coverage_data(self) -> Path | None:
        """The coverage data file the test step reads (None: there is none)."""
        path = self.coverage_file or self.repo / ".coverage"
        return path if path.is_file() else None

    def __post_init__(self) -> None:
        if not self.test_command:
            raise InvalidInputError("the dev swarm needs a test command")
        if not 0 < self.test_timeout_s <= 7200:
            raise InvalidInputError("test_timeout_s must be in (0, 7200]")
        if not 1 <= self.max_files <= 50 or not 1 <= self.max_changed_lines <= 5000:
            raise InvalidInputError("max_files must be 1..50 and max_changed_lines 1..5000")
        if self.daily_proposals is not None and self.daily_proposals < 1:
            raise InvalidInputError("daily_proposals must be at least 1 (or None: no cap)")


@dataclass(kw_only=True, slots=True)
class SwarmContext:
    """What the tools act on."""

    config: SwarmConfig
    store: ProposalStore
    ledger: Ledger
    provider: ModelProvider
    clock: Clock


def _policy(risk: RiskLevel, *audit: str, **kw: Any) -> Policy:
    return Policy(
        risk_level=risk,
        rate_limit=kw.pop("rate_limit", 120),
        success_metric=kw.pop("success_metric", None),
        audit_fields=("proposal_id", *audit),
        idempotent=kw.pop("idempotent", True),
        roles=ROLES,
        **kw,
    )


_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_BY_ID = {
    "type": "object",
    "properties": {"proposal_id": _ID},
    "required": ["proposal_id"],
    "additionalProperties": False,
}


def diff_digest(text: str) -> str:
    """The sha256 of a patch's text (what an approval is bound to)."""
    return hashlib.sha256(text.encode()).hexdigest()


def swarm_tools(ctx: SwarmContext) -> list[Tool]:
    """The five tools bound to one repository and store."""
    cfg, store = ctx.config, ctx.store

    def scout(args: Mapping[str, Any], tc: ToolContext) -> Any:
        sources = list(args.get("sources") or ["ruff", "error_log", "ledger"])
        found: list[Finding] = []
        if "ruff" in sources:
            commit = patches.resolve(cfg.repo, cfg.base)
            with patches.worktree(cfg.repo, commit) as wt:
                report = wt.parent / "ruff.json"
                argv = [
                    *cfg.ruff_command,
                    "check",
                    "--output-format",
                    "json",
                    "--exit-zero",
                    "--no-cache",
                    "--output-file",
                    str(report),
                    ".",
                ]
                result = patches.run_in(wt, argv, timeout_s=cfg.test_timeout_s)
                if not result.passed or not report.is_file():
                    raise ConflictError(f"ruff failed: {result.output.strip()[-300:]}")
                text = report.read_text(encoding="utf-8")
                found += parse_ruff(text, root=str(wt))
        if "error_log" in sources:
            for path in cfg.error_logs:
                if path.is_file():
                    found += parse_error_log(_tail(path), source=path.name)
        if "ledger" in sources:
            since = ctx.clock.now() - timedelta(days=LEDGER_WINDOW_DAYS)
            found += failed_steps(ctx.ledger.records(kind="step", since=since))
        limit = int(args.get("limit", 20))
        by_source = {s: sum(1 for f in found if f.source == s) for s in sources}
        return ToolOutput(
            value={"findings": [f.to_json() for f in found[:limit]], "by_source": by_source},
            summary=f"{len(found)} findings",
        )

    def build(args: Mapping[str, Any], tc: ToolContext) -> Any:
        row = store.get(args["proposal_id"])
        if "build" in row.state:
            return ToolOutput(value=row.state["build"], summary="patch stored before")
        commit = str(row.state["base_commit"])
        prompt = _prompt(cfg.repo, commit, row.finding)
        turn = ctx.provider.complete(
            SYSTEM_PROMPT, [ChatMessage(role="user", text=prompt)], [SUBMIT_SPEC]
        )
        result: dict[str, Any] = {"model": ctx.provider.name, "ok": False}
        submitted = [c for c in turn.tool_calls if c.name == SUBMIT_SPEC.name]
        if submitted and isinstance(submitted[0].arguments.get("diff"), str):
            text: str | None = str(submitted[0].arguments["diff"])
        else:
            text = patches.extract_diff(turn.text)
        try:
            if text is None:
                raise InvalidInputError("the model's answer holds no unified diff")
            patch = patches.parse_diff(text)
            _check_scope(patch, row.finding, cfg)
        except InvalidInputError as exc:
            result["error"] = str(exc)
        else:
            result.update(
                ok=True,
                diff=patch.text,
                diff_sha256=diff_digest(patch.text),
                files=[f.path for f in patch.files],
                added=patch.added,
                removed=patch.removed,
            )
        kept = store.put(row.proposal_id, "build", result, now=ctx.clock.now())
        usage = Usage(
            input_tokens=turn.usage.input_tokens,
            output_tokens=turn.usage.output_tokens,
            cost_usd=turn.cost_usd,
        )
        summary = f"patch of {len(kept.get('files', []))} files" if kept["ok"] else "no patch"
        return ToolOutput(value=kept, usage=usage, summary=summary)

    def test(args: Mapping[str, Any], tc: ToolContext) -> Any:
        row = store.get(args["proposal_id"])
        if "tests" in row.state:
            return ToolOutput(value=row.state["tests"], summary="tests stored before")
        build = row.state["build"]
        patch = patches.parse_diff(str(build["diff"]))
        commit = str(row.state["base_commit"])
        result: dict[str, Any] = {"base_commit": commit, "green": False}
        with patches.worktree(cfg.repo, commit) as wt:
            try:
                patches.apply(wt, patch)
            except ConflictError as exc:
                result["error"] = f"the patch does not apply: {exc}"
            else:
                chosen = select_tests(wt, [f.path for f in patch.files], cfg.coverage_data)
                tests = chosen.tests
                result["tests"] = tests
                result["selection"] = chosen.how
                result["coverage_file"] = chosen.coverage_file
                if not tests:
                    result["error"] = "no test covers the changed files"
                else:
                    argv = _expand(cfg.test_command, tests)
                    run = patches.run_in(wt, argv, timeout_s=cfg.test_timeout_s)
                    result.update(
                        command=list(run.argv),
                        returncode=run.returncode,
                        timed_out=run.timed_out,
                        output=run.output,
                        green=run.passed,
                    )
        kept = store.put(row.proposal_id, "tests", result, now=ctx.clock.now())
        return ToolOutput(value=kept, summary="green" if kept["green"] else "red")

    def propose(args: Mapping[str, Any], tc: ToolContext) -> Any:
        row = store.get(args["proposal_id"])
        build, tests = row.state["build"], row.state["tests"]
        fields = {
            "proposal_id": row.proposal_id,
            "run_id": tc.run_id,
            "repo": row.repo,
            "base_commit": tests["base_commit"],
            "finding": row.finding,
            "diff": build["diff"],
            "diff_sha256": build["diff_sha256"],
            "files": build["files"],
            "tests": {
                k: tests.get(k)
                for k in (
                    "tests",
                    "selection",
                    "coverage_file",
                    "command",
                    "returncode",
                    "timed_out",
                )
            },
            "green": bool(tests["green"]),
            "test_output": str(tests.get("output") or tests.get("error") or "")[-2000:],
            "model": build["model"],
            "at": format_ts(ctx.clock.now()),
        }
        old = ctx.ledger.latest(PROPOSAL_KIND, row.proposal_id)
        if old is None or old.fields.get("diff_sha256") != fields["diff_sha256"]:
            ctx.ledger.append(PROPOSAL_KIND, fields)
        return ToolOutput(
            value={"proposal_id": row.proposal_id, "green": fields["green"]},
            summary="green" if fields["green"] else "red",
        )

    def apply(args: Mapping[str, Any], tc: ToolContext) -> Any:
        row = store.get(args["proposal_id"])
        if "applied" in row.state:
            return ToolOutput(value=row.state["applied"], summary="applied before")
        build, tests = row.state.get("build") or {}, row.state.get("tests") or {}
        if tests.get("green") is not True:
            raise ConflictError(f"proposal {row.proposal_id}: its tests are not green")
        if build.get("diff_sha256") != args["diff_sha256"]:
            raise ConflictError(
                f"proposal {row.proposal_id}: the approved diff is not the tested one"
            )
        branch = str(args["branch"])
        patches.check_branch(cfg.repo, branch, base=cfg.base)
        commit = str(tests["base_commit"])
        marker = patches.marker(row.proposal_id)
        try:
            tip = patches.git(cfg.repo, "log", "-1", "--format=%H%n%B", branch).split("\n", 1)
        except ConflictError:
            tip = []
        if tip and marker in tip[1]:
            sha = tip[0]  # committed before a crash: the branch is the result
        elif tip:
            raise ConflictError(f"branch {branch} exists and is not this proposal's")
        else:
            patch = patches.parse_diff(str(build["diff"]))
            with patches.worktree(cfg.repo, commit, branch=branch) as wt:
                patches.apply(wt, patch)
                patches.git(wt, "add", "-A")
                message = f"{row.finding.get('rule')}: {row.finding.get('message')}"[:72]
                patches.git(
                    wt,
                    "-c",
                    "user.name=tailguard dev swarm",
                    "-c",
                    "user.email=dev-swarm@tailguard.invalid",
                    "commit",
                    "--quiet",
                    "-m",
                    f"{message}\n\nApproved at gate {tc.gate_id}.\n{marker}\n",
                )
                sha = patches.git(wt, "rev-parse", "HEAD").strip()
        value = {"branch": branch, "commit": sha, "base_commit": commit, "gate_id": tc.gate_id}
        kept = store.put(row.proposal_id, "applied", value, now=ctx.clock.now())
        return ToolOutput(value=kept, summary=f"committed on {branch}")

    return [
        Tool(
            name=SCOUT,
            description="Read the error logs, the ledger's failed steps and ruff's findings.",
            parameters={
                "type": "object",
                "properties": {
                    "sources": {
                        "type": "array",
                        "items": {"enum": ["ruff", "error_log", "ledger"]},
                        "minItems": 1,
                        "uniqueItems": True,
                    },
                    "limit": {"type": "integer", "minimum": 1, "maximum": 500},
                },
                "additionalProperties": False,
            },
            handler=scout,
            policy=Policy(
                risk_level=RiskLevel.READ,
                rate_limit=30,
                success_metric="findings filed that lead to an applied proposal",
                audit_fields=("sources", "limit"),
                idempotent=True,
                roles=ROLES,
            ),
        ),
        Tool(
            name=BUILD,
            description="Ask the model for a scoped patch (unified diff) fixing one finding.",
            parameters=_BY_ID,
            handler=build,
            policy=_policy(RiskLevel.SUGGEST, success_metric="a patch that parses and is in scope"),
        ),
        Tool(
            name=TEST,
            description="Apply the patch in a throwaway worktree and run the covering tests.",
            parameters=_BY_ID,
            handler=test,
            policy=_policy(RiskLevel.EXECUTE_LOW, rate_limit=30, success_metric="green tests"),
        ),
        Tool(
            name=PROPOSE,
            description="Record the change proposal (diff, test results, evidence) in the ledger.",
            parameters=_BY_ID,
            handler=propose,
            policy=_policy(RiskLevel.SUGGEST, success_metric="the proposal is decided"),
        ),
        Tool(
            name=APPLY,
            description="Commit an approved, green patch on its own swarm/* branch.",
            parameters={
                "type": "object",
                "properties": {
                    "proposal_id": _ID,
                    "branch": {"type": "string", "minLength": 1, "maxLength": 120},
                    "diff_sha256": {"type": "string", "minLength": 64, "maxLength": 64},
                    "summary": {"type": "string", "maxLength": 400},
                },
                "required": ["proposal_id", "branch", "diff_sha256"],
                "additionalProperties": False,
            },
            handler=apply,
            policy=_policy(
                RiskLevel.EXECUTE_HIGH,
                "branch",
                "diff_sha256",
                "summary",
                requires_approval=True,
                rate_limit=30,
                approval_timeout=7 * 24 * 3600,
                success_metric="the branch is merged after review",
            ),
        ),
    ]


def register_swarm(registry: ToolRegistry, ctx: SwarmContext) -> None:
    """Add the swarm's tools to ``registry`` (those it lacks)."""
    for tool in swarm_tools(ctx):
        if tool.name not in registry:
            registry.register(tool)


def _tail(path: Path) -> str:
    """The last :data:`MAX_LOG_BYTES` of a log (from its first whole line)."""
    with path.open("rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - MAX_LOG_BYTES))
        data = f.read()
    if size > MAX_LOG_BYTES:
        data = data[data.find(b"\n") + 1 :]
    return data.decode("utf-8", errors="replace")


def _expand(command: Sequence[str], tests: Sequence[str]) -> list[str]:
    out: list[str] = []
    for item in command:
        if item == "{tests}":
            out.extend(tests)
        else:
            out.append(item)
    return out


def _check_scope(patch: patches.Patch, finding: Mapping[str, Any], cfg: SwarmConfig) -> None:
    if len(patch.files) > cfg.max_files:
        raise InvalidInputError(
            f"the patch changes {len(patch.files)} files (at most {cfg.max_files})"
        )
    if patch.added + patch.removed > cfg.max_changed_lines:
        raise InvalidInputError(
            f"the patch changes {patch.added + patch.removed} lines (at most {cfg.max_changed_lines})"
        )
    path = finding.get("path")
    if path and path not in {f.path for f in patch.files}:
        raise InvalidInputError(f"the patch does not touch {path}, the finding's file")


def _prompt(repo: Path, commit: str, finding: Mapping[str, Any]) -> str:
    lines = [
        f"Finding ({finding['source']} {finding['rule']}): {finding['message']}",
    ]
    path, line = finding.get("path"), finding.get("line")
    if path:
        lines.append(f"File: {path}" + (f" line {line}" if line else ""))
        try:
            text = patches.git(repo, "show", f"{commit}:{path}")
        except ConflictError:
            text = ""
        numbered = text.splitlines()
        start = max(0, int(line or 1) - 1 - EXCERPT_LINES // 2)
        excerpt = numbered[start : start + EXCERPT_LINES]
        lines.append("```")
        lines += [f"{start + i + 1:5d} {t}" for i, t in enumerate(excerpt)]
        lines.append("```")
    return "\n".join(lines)
