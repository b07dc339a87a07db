"""CLI command ``tailguard demo``: the area agents on and off over the same simulated weeks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail


def _never(args: object, ctx: object) -> None:
    """The handler of a registry built only to read the tools' schemas; never called."""
    raise AssertionError("not a runnable tool")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command(name="demo")(demo)


def demo(
    areas: int = typer.Option(400, "--areas", help="Planning areas (1..5000)."),
    weeks: int = typer.Option(2, "--weeks", help="Simulated weeks after the warm-up (1..12)."),
    seed: int = typer.Option(7, "--seed", help="Seed of the network, the policy and approver."),
    out: Path = typer.Option(Path("tailguard-demo"), "--out", help="Output directory."),
    warmup_days: int = typer.Option(
        7, "--warmup-days", help="Days simulated before the agents start (fills KPI windows)."
    ),
    catalogue: Path | None = typer.Option(
        None, "--catalogue", help="Intervention catalogue YAML (default: the built-in one)."
    ),
    weekly: bool = typer.Option(
        True, "--weekly/--no-weekly", help="Run the weekly cycle at each week's end."
    ),
    policy: str = typer.Option(
        "learning",
        "--policy",
        help="learning (nightly-updated Thompson sampling with a guardrail) or fixed (the "
        "catalogue's weights).",
    ),
    approval_policies: Path | None = typer.Option(
        None,
        "--approval-policies",
        help="Delegated approval policies (YAML): the gates they cover are decided by policy, "
        "the rest by the simulated approver. See docs/approval-policies.md.",
    ),
    gamification: str = typer.Option(
        "off",
        "--gamification",
        help="on: the gamification programme in the agents-on arm (reward sizes A/B-tested by "
        "area, gated kit prizes, gamed fixes stopped); off (default).",
    ),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="Where the areas' scorecard state lives: local (this machine) or ray (Ray "
        "actors; needs the ray extra). The figures are the same either way.",
    ),
    shards: int = typer.Option(
        1,
        "--shards",
        help="Parts the areas are split into (1..64): local worker processes, or Ray actors.",
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="With --engine ray: a Ray cluster to join (default: local)."
    ),
    output_format: OutputFormat = FORMAT_OPTION,
) -> None:
    """Simulate the network with the area agents on and off; write the ledger, summary.json
    and report.html to --out, and print the summary."""
    from tailguard.agents.catalogue import default_catalogue, load_catalogue
    from tailguard.control.approval_policies import (
        ApprovalPolicy,
        gated_tool_schemas,
        load_approval_policies,
    )
    from tailguard.demo.run import DemoConfig, run_demo

    if seed < 0:
        fail(f"--seed must be >= 0, got {seed}")
    if policy not in ("learning", "fixed"):
        fail(f"--policy must be learning or fixed, got {policy!r}")
    if gamification not in ("on", "off"):
        fail(f"--gamification must be on or off, got {gamification!r}")
    if engine not in ("local", "ray"):
        fail(f"--engine must be local or ray, got {engine!r}")
    if not 1 <= shards <= 64:
        fail(f"--shards must be between 1 and 64, got {shards}")
    if ray_address is not None and engine != "ray":
        fail("--ray-address needs --engine ray")
    if out.exists() and not out.is_dir():
        fail(f"--out {str(out)!r} exists and is not a directory")
    cat = load_catalogue(catalogue) if catalogue is not None else None
    policies: tuple[ApprovalPolicy, ...] = ()
    if approval_policies is not None:
        tools = (cat or default_catalogue()).registry(lambda _entry: _never)
        policies = tuple(load_approval_policies(approval_policies, tools=gated_tool_schemas(tools)))
    config = DemoConfig(
        areas=areas,
        weeks=weeks,
        seed=seed,
        out=out,
        warmup_days=warmup_days,
        catalogue=cat,
        weekly=weekly,
        policy=policy,
        approval_policies=policies,
        gamification=gamification == "on",
        engine=engine,
        shards=shards,
        ray_address=ray_address,
    )
    show = sys.stderr.isatty() and output_format == OutputFormat.table
    if show:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} h"),
            TimeRemainingColumn(),
            transient=True,
        ) as progress:
            tasks: dict[str, object] = {}

            def step(stage: str, done: int, total: int) -> None:
                task = tasks.get(stage)
                if task is None:
                    task = tasks[stage] = progress.add_task(stage, total=total)
                progress.update(task, completed=done)  # type: ignore[arg-type]

            summary = run_demo(config, step)
    else:
        summary = run_demo(config, _plain_progress())
    if output_format == OutputFormat.json:
        emit_json(summary)
        return
    on, off = summary["agents_on"], summary["agents_off"]
    iv, ap, led = summary["interventions"], summary["approvals"], summary["ledger"]
    typer.echo(f"tailguard demo: {areas} areas, {weeks} weeks, seed {seed} -> {out}/")
    typer.echo(
        f"  inside every guard-band: agents on {on['guardband_pass_pct']} % of area-hours, "
        f"off {off['guardband_pass_pct']} %"
    )
    for line in business_lines(summary.get("business") or {}):
        typer.echo(line)
    typer.echo(f"  interventions: {iv['total']} (${iv['cost_usd']:,.0f} committed)")
    typer.echo(
        f"  approvals: {ap['approved']} approved, {ap['rejected']} rejected, "
        f"{ap['timeout']} timed out, {ap['pending']} pending; bypasses: {ap['bypasses']}"
    )
    typer.echo(f"  decided by policy: {ap['by_policy']}, by a person: {ap['by_person']}")
    typer.echo(f"  ledger: {led['records']} records, verified: {led['verified']}")
    game = summary.get("gamification", {})
    if game.get("enabled"):
        det = game["gaming_detection"]
        typer.echo(
            f"  gamification: ${game['spend_usd']:,.0f} in rewards, {game['kits']['paid']} kits "
            f"paid, {game['withheld']} fix bonuses withheld (flags: precision "
            f"{det['precision']}, recall {det['recall']})"
        )
    typer.echo(f"  report: {out / 'report.html'}")
    for line in next_steps(out):
        typer.echo(line)


def business_lines(business: dict[str, Any]) -> list[str]:
    """ "Did it help?" in a few lines: each business figure, on minus off with its interval,
    and the verdict."""
    lines = ["  did it help? (agents on - off, 95 % interval)"]
    for f in business.get("figures", []):
        if f.get("verdict") == "no data":
            lines.append(f"    {f['title']}: no data")
            continue
        money = str(f["unit"]).startswith("USD")
        num = "{:+,.0f}" if money else "{:+.2f}"
        lo, hi = f["ci95"]
        lines.append(
            f"    {f['title']}: {num.format(f['difference'])} {f['unit']} "
            f"({num.format(lo)} to {num.format(hi)}): {f['verdict']}"
        )
    return lines if len(lines) > 1 else []


def next_steps(out: Path) -> list[str]:
    """What to run after the demo: a key, the service over the demo's ledger, the URL."""
    db = f"sqlite:///{out.resolve() / 'ledger.db'}"
    return [
        "",
        "Next: the dashboards over this run's ledger",
        f"  tailguard keys create --name me --role admin --db {db}",
        f"  tailguard serve --db {db} --port 8000",
        "  then open http://127.0.0.1:8000/ and sign in with the key printed above",
    ]


def _plain_progress() -> Callable[[str, int, int], None]:
    """Progress as plain lines on stderr (not a terminal): each stage's start, every
    simulated day, and its end."""
    last: dict[str, int] = {}

    def step(stage: str, done: int, total: int) -> None:
        day = done // 24
        if stage in last and last[stage] == day and done != total:
            return
        last[stage] = day
        sys.stderr.write(f"tailguard demo: {stage} {done}/{total} h\n")
        sys.stderr.flush()

    return step
