"""CLI commands: ``tailguard ops propose scout | list | show | advance | decide``, the dev
swarm's change proposals, thin over :mod:`tailguard.ops.swarm`."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail, require_ledger

_DB = typer.Option(
    ...,
    "--db",
    envvar="TAILGUARD_DB",
    help="Ledger URL: sqlite:///path.db, a bare path, or postgresql://...",
)
_ID = typer.Argument(..., help="The proposal id (prp-...).")
_REPO = typer.Option(
    None, "--repo", file_okay=False, help="The target git repository (default: the proposal's)."
)
_BASE = typer.Option("main", "--base", help="The ref patches are made against and tested on.")
_TEST = typer.Option(
    "python -m pytest -q {tests}",
    "--test-command",
    help="Run in the worktree; {tests} becomes the test files covering the changed files.",
)
_TIMEOUT = typer.Option(600.0, "--test-timeout", help="Seconds the test command may run.")
_COVERAGE = typer.Option(
    None,
    "--coverage-file",
    dir_okay=False,
    help="coverage.py's data file with a context per test (pytest --cov-context=test): the "
    "tests that executed a changed file are run (default: the repository's .coverage; "
    "without per-test data, test_<name>.py by name).",
)
_APPROVERS = typer.Option(
    "",
    "--approvers",
    envvar="TAILGUARD_SWARM_APPROVERS",
    help="Comma list of the people who may decide proposals.",
)
#: Fields of a proposal in the listing.
_BRIEF = ("proposal_id", "status", "step", "repo", "gate_id")


@contextmanager
def _swarm(
    db: str,
    repo: Path,
    *,
    base: str,
    test_command: str,
    timeout: float,
    error_logs: list[Path] | None = None,
    approvers: str = "",
    daily: int | None = 20,
    coverage_file: Path | None = None,
) -> Iterator[Any]:
    from tailguard.errors import InvalidInputError
    from tailguard.ledger import Ledger
    from tailguard.ops.swarm import open_swarm
    from tailguard.ops.swarm_tools import SwarmConfig
    from tailguard.roles.providers import provider_from_env

    try:
        argv = tuple(shlex.split(test_command))
    except ValueError as exc:
        raise InvalidInputError(f"--test-command: {exc}") from None
    config = SwarmConfig(
        repo=repo,
        base=base,
        test_command=argv,
        test_timeout_s=timeout,
        error_logs=tuple(error_logs or ()),
        daily_proposals=daily,
        coverage_file=coverage_file,
    )
    people = [p.strip() for p in approvers.split(",") if p.strip()]
    with Ledger.open(db) as ledger:
        yield open_swarm(ledger, config, provider=provider_from_env(), approvers=people)


@contextmanager
def _store(db: str) -> Iterator[Any]:
    from tailguard.ledger import Ledger
    from tailguard.ops.swarm_store import ProposalStore

    require_ledger(db)
    with Ledger.open(db, create=False) as ledger:
        yield ProposalStore(ledger.engine)


def _brief(row: Any) -> dict[str, Any]:
    data = row.to_json()
    out = {k: data.get(k) for k in _BRIEF}
    out["finding"] = f"{row.finding.get('rule')}: {row.finding.get('message')}"
    out["green"] = (row.state.get("tests") or {}).get("green")
    return out


def _print(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        green = {True: "green", False: "red", None: "-"}[r["green"]]
        typer.echo(f"{r['proposal_id']} [{r['status']}] tests {green}: {r['finding']}")


def scout(
    db: str = _DB,
    repo: Path = typer.Option(..., "--repo", file_okay=False, help="The target git repository."),
    base: str = _BASE,
    sources: str = typer.Option(
        "ruff,error_log,ledger", "--sources", help="Comma list: ruff, error_log, ledger."
    ),
    error_log: list[Path] = typer.Option(
        [], "--error-log", dir_okay=False, help="An error log or dead-letter file (repeatable)."
    ),
    limit: int = typer.Option(20, "--limit", min=1, max=500, help="Findings filed at most."),
    daily: int = typer.Option(
        20,
        "--daily",
        min=1,
        help="Proposals filed per UTC day (each costs a model call and a test run); findings "
        "past it wait for a later scout.",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Run the scouts and file each new finding as a change proposal."""
    with _swarm(
        db, repo, base=base, test_command="true", timeout=60, error_logs=error_log, daily=daily
    ) as swarm:
        picked = [s.strip() for s in sources.split(",") if s.strip()]
        rows = [_brief(r) for r in swarm.scout(picked, limit=limit)]
        deferred = swarm.deferred
    if fmt is OutputFormat.json:
        emit_json({"filed": rows, "deferred": deferred})
        return
    typer.echo(
        f"{len(rows)} new proposals"
        + (f"; {deferred} left for tomorrow (--daily {daily} reached)" if deferred else "")
    )
    _print(rows)


def list_(
    db: str = _DB,
    status: str | None = typer.Option(None, "--status", help="Only proposals at this status."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The change proposals, oldest first."""
    with _store(db) as store:
        rows = [_brief(r) for r in store.list(status=status)]
    if fmt is OutputFormat.json:
        emit_json({"proposals": rows})
        return
    _print(rows)


def show(proposal_id: str = _ID, db: str = _DB, fmt: OutputFormat = FORMAT_OPTION) -> None:
    """One proposal in full: the finding, the diff, the test results and the decision."""
    with _store(db) as store:
        payload = store.get(proposal_id).to_json()
    if fmt is OutputFormat.json:
        emit_json(payload)
        return
    build, tests = payload.get("build") or {}, payload.get("tests") or {}
    typer.echo(f"{payload['proposal_id']} [{payload['status']}] {payload['repo']}")
    typer.echo(f"  finding: {payload['finding'].get('rule')}: {payload['finding'].get('message')}")
    if build:
        typer.echo(f"  patch: {build.get('error') or ', '.join(build.get('files', []))}")
    if tests:
        typer.echo(f"  tests: {'green' if tests.get('green') else 'red'} {tests.get('tests')}")
    if payload.get("gate_id"):
        typer.echo(f"  gate: {payload['gate_id']} decided by {payload.get('decided_by')}")
    if payload.get("applied"):
        typer.echo(f"  applied: {payload['applied']['branch']} {payload['applied']['commit']}")
    if build.get("diff"):
        typer.echo(build["diff"], nl=False)


def _open_for(db: str, proposal_id: str, **kw: Any) -> Any:
    with _store(db) as store:
        row = store.get(proposal_id)
    repo = kw.pop("repo") or Path(row.repo)
    return _swarm(db, repo, base=str(row.state.get("base", "main")), **kw)


def advance(
    proposal_id: str = _ID,
    db: str = _DB,
    repo: Path | None = _REPO,
    test_command: str = _TEST,
    timeout: float = _TIMEOUT,
    coverage_file: Path | None = _COVERAGE,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Carry a proposal on: build, test, propose (its gate), apply once approved."""
    with _open_for(
        db,
        proposal_id,
        repo=repo,
        test_command=test_command,
        timeout=timeout,
        coverage_file=coverage_file,
    ) as sw:
        row = sw.advance(proposal_id)
    _out(_brief(row), fmt)


def decide(
    proposal_id: str = _ID,
    db: str = _DB,
    by: str = typer.Option(..., "--as", help="The person deciding (one of --approvers)."),
    reject: bool = typer.Option(False, "--reject", help="Reject instead of approve."),
    reason: str | None = typer.Option(None, "--reason", help="Why (kept with the decision)."),
    approvers: str = _APPROVERS,
    repo: Path | None = _REPO,
    test_command: str = _TEST,
    timeout: float = _TIMEOUT,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Approve or reject a proposal waiting at its gate, then carry it on.

    Approved: the patch is committed on its swarm/* branch; rejected: nothing is applied.
    """
    if not approvers.strip():
        fail("--approvers (or TAILGUARD_SWARM_APPROVERS) names nobody who may decide")
    with _open_for(
        db,
        proposal_id,
        repo=repo,
        test_command=test_command,
        timeout=timeout,
        approvers=approvers,
    ) as sw:
        sw.decide(proposal_id, "reject" if reject else "approve", by, reason=reason)
        row = sw.advance(proposal_id)
    _out(_brief(row), fmt)


def _out(row: dict[str, Any], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        emit_json(row)
        return
    _print([row])


def register(ops: typer.Typer) -> None:
    """Add ``propose`` to the ``ops`` group."""
    group = typer.Typer(
        name="propose",
        help="The dev swarm: scouted findings become tested, approval-gated change proposals.",
        no_args_is_help=True,
    )
    group.command("scout")(scout)
    group.command("list")(list_)
    group.command("show")(show)
    group.command("advance")(advance)
    group.command("decide")(decide)
    ops.add_typer(group, name="propose")


__all__ = ["register"]
