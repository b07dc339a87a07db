"""CLI command: ``tailguard ops schedule``, the scheduler that advances campaigns and runs the
dev swarm on its own (:mod:`tailguard.ops.scheduler`)."""

from __future__ import annotations

import shlex
from contextlib import ExitStack
from pathlib import Path

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json

_DB = typer.Option(
    ...,
    "--db",
    envvar="TAILGUARD_DB",
    help="Ledger URL: sqlite:///path.db, a bare path, or postgresql://...",
)


def schedule(
    db: str = _DB,
    every: str = typer.Option("15m", "--every", help="Tick length: 90s, 15m, 1h, 1d (1m..1d)."),
    once: bool = typer.Option(False, "--once", help="One tick, then exit."),
    ticks: int | None = typer.Option(
        None, "--ticks", min=1, help="Stop after this many ticks (default: run until stopped)."
    ),
    campaigns: bool = typer.Option(
        True, "--campaigns/--no-campaigns", help="Advance the active campaigns each tick."
    ),
    withdraw_as: str | None = typer.Option(
        None,
        "--withdraw-as",
        help="An approver in whose name a campaign that met its objective rejects its waiting "
        "gates.",
    ),
    repo: Path | None = typer.Option(
        None,
        "--repo",
        file_okay=False,
        help="The dev swarm's target git repository (without it the swarm does not run).",
    ),
    base: str = typer.Option("main", "--base", help="The ref the swarm's patches are made on."),
    sources: str = typer.Option(
        "ruff,error_log,ledger", "--sources", help="The swarm's scouts: ruff, error_log, ledger."
    ),
    error_log: list[Path] = typer.Option(
        [], "--error-log", dir_okay=False, help="An error log for the error_log scout."
    ),
    test_command: str = typer.Option(
        "python -m pytest -q {tests}",
        "--test-command",
        help="Run in the worktree; {tests} becomes the tests covering the changed files.",
    ),
    coverage_file: Path | None = typer.Option(
        None,
        "--coverage-file",
        dir_okay=False,
        help="coverage.py's data file with a context per test, for the swarm's test selection.",
    ),
    daily: int = typer.Option(
        20, "--daily", min=1, help="Proposals the swarm files per UTC day at most."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Tick by tick: advance every active campaign; scout and advance the dev swarm's change
    proposals. Each tick is claimed in the database, so two schedulers (or a restarted one)
    never do the same tick twice. With --format json, one JSON object per tick."""
    from tailguard.compendium import Compendium, default_dir
    from tailguard.errors import InvalidInputError
    from tailguard.ops.campaign import Autopilot
    from tailguard.ops.scheduler import Scheduler, SwarmJob, parse_every
    from tailguard.ops.swarm import open_swarm
    from tailguard.ops.swarm_tools import SwarmConfig
    from tailguard.roles.providers import provider_from_env
    from tailguard.roles.session import open_chat

    length = parse_every(every)
    picked = tuple(s.strip() for s in sources.split(",") if s.strip())
    try:
        argv = tuple(shlex.split(test_command))
    except ValueError as exc:
        raise InvalidInputError(f"--test-command: {exc}") from None
    with ExitStack() as stack:
        chat = open_chat(db)
        stack.callback(chat.close)
        pilot = (
            Autopilot(chat.control, compendium=Compendium(default_dir(db)), withdraw_as=withdraw_as)
            if campaigns
            else None
        )
        job = None
        if repo is not None:
            config = SwarmConfig(
                repo=repo,
                base=base,
                test_command=argv,
                error_logs=tuple(error_log),
                daily_proposals=daily,
                coverage_file=coverage_file,
            )
            swarm = open_swarm(chat.ledger, config, provider=provider_from_env(), approvers=[])
            job = SwarmJob(swarm=swarm, sources=picked)
        scheduler = Scheduler(
            chat.ledger, clock=chat.ledger.clock, autopilot=pilot, swarm=job, every=length
        )
        for report in scheduler.run(ticks=1 if once else ticks):
            if fmt is OutputFormat.json:
                emit_json(report)
                continue
            if not report["claimed"]:
                typer.echo(f"tick {report['tick']}: already done by another scheduler")
                continue
            swarm_part = report["swarm"] or {}
            typer.echo(
                f"tick {report['tick']} at {report['at']}: {len(report['campaigns'])} campaigns "
                f"advanced; {swarm_part.get('filed', 0)} proposals filed, "
                f"{len(swarm_part.get('advanced', []))} advanced; "
                f"{len(report['errors'])} errors"
            )
            for error in report["errors"]:
                typer.echo(f"  error: {error}")
