"""CLI commands: ``tailguard learn evaluate | update | bench | versions | rollback | pin | freeze``.

The nightly learning loop by hand and its evidence (INTERFACES.md section 6).
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail

DB_OPTION = typer.Option(
    ...,
    "--db",
    envvar="TAILGUARD_DB",
    help="Ledger URL (with the self-learn store): sqlite:///path.db or postgresql://",
)
BY_OPTION = typer.Option("operator", "--by", help="Who does it (recorded in the ledger).")


def _open(db: str) -> Any:
    from tailguard.ledger import Ledger

    return Ledger.open(db, create=False)


def evaluate(
    db: str = DB_OPTION,
    policy: str = typer.Option(
        ...,
        "--policy",
        help="logged, fixed, uniform, learning (the active version) or a policy version id.",
    ),
    catalogue: str | None = typer.Option(
        None, "--catalogue", help="Catalogue whose weights `fixed` means (default: built-in)."
    ),
    bootstrap: int = typer.Option(500, "--bootstrap", help="Bootstrap resamples of areas."),
    cost_weight: float = typer.Option(
        0.0, "--cost-weight", help="Reward units taken off per $100 of estimated cost."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Off-policy estimates (IPS, SNIPS, DM, DR, SNDR) of a policy on the logged decisions."""
    from tailguard.agents.catalogue import default_catalogue, load_catalogue
    from tailguard.learning.evaluation import evaluate_policy

    if not 10 <= bootstrap <= 100_000:
        fail("--bootstrap must be between 10 and 100000")
    cat = load_catalogue(catalogue) if catalogue else default_catalogue()
    with _open(db) as ledger:
        result = evaluate_policy(
            ledger,
            policy,
            bootstrap=bootstrap,
            seed=seed,
            cost_weight=cost_weight,
            groups=cat.groups(),
            weights={e.id: e.weight for e in cat.entries},
        )
    payload = result.to_json()
    if fmt is OutputFormat.json:
        emit_json(payload)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Off-policy value of {policy} ({result.n} decisions, ESS {result.ess})")
    table.add_column("estimator")
    table.add_column("value", justify="right")
    table.add_column("95 % interval", justify="right")
    for name, est in payload["estimators"].items():
        lo, hi = est["ci95"]
        table.add_row(name, _f(est["value"]), f"{_f(lo)} .. {_f(hi)}")
    console = Console(width=None if sys.stdout.isatty() else 120)
    console.print(table)
    console.print(f"logged value {_f(result.logged_value)}; left out: {result.left_out}")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def update(db: str = DB_OPTION, fmt: OutputFormat = FORMAT_OPTION) -> None:
    """Fit a new policy version from every measured decision now (what the nightly loop does)."""
    from tailguard.agents.catalogue import default_catalogue
    from tailguard.clock import SystemClock
    from tailguard.learning.loop import PolicyLearner
    from tailguard.learning.store import SelfLearnStore
    from tailguard.learning.versions import PolicyStore

    with _open(db) as ledger:
        store = SelfLearnStore(ledger.engine)
        frame = store.frame()
        now = SystemClock().now()
        latest: Any = frame["measured_at"].max() if frame.height else None
        if latest is not None:  # a simulated deployment's clock may run ahead of the wall
            now = max(now, latest)
        catalogue = default_catalogue()
        learner = PolicyLearner(
            store=store,
            versions=PolicyStore(ledger),
            groups=catalogue.groups(),
            arms=catalogue.arm_info(),
        )
        learner.start(now)
        report = learner.update(now)
    if fmt is OutputFormat.json:
        emit_json(report.to_json())
        return
    typer.echo(
        f"{report.policy_version} ({report.reason}); previous {report.previous}; "
        f"{report.decisions_used} decisions used"
    )


def versions(
    db: str = DB_OPTION,
    limit: int = typer.Option(20, "--limit", help="How many, newest first (1..1000)."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Policy versions, newest first, with the active one and the operator's switches."""
    from tailguard.learning.versions import PolicyStore

    if not 1 <= limit <= 1000:
        fail("--limit must be between 1 and 1000")
    with _open(db) as ledger:
        store = PolicyStore(ledger)
        st = store.state()
        rows = [v.to_json() for v in store.history(limit)]
    payload = {"active": st.active, "pinned": st.pinned, "frozen": st.frozen, "versions": rows}
    if fmt is OutputFormat.json:
        emit_json(payload)
        return
    typer.echo(f"active {st.active} (pinned: {st.pinned}, frozen: {st.frozen})")
    for v in rows:
        typer.echo(
            f"{v['version_id']}  {v['status']:<11} {v['created_at']}  "
            f"{v['decisions_used']} decisions  {v['reason'] or ''}"
        )


def rollback(
    db: str = DB_OPTION,
    to: str | None = typer.Option(None, "--to", help="Version to restore (default: previous)."),
    reason: str = typer.Option("rolled back by an operator", "--reason", help="Why."),
    by: str = BY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Roll the active policy version back (recorded in the ledger)."""
    from tailguard.clock import SystemClock
    from tailguard.learning.versions import PolicyStore

    with _open(db) as ledger:
        active = PolicyStore(ledger).rollback(SystemClock().now(), by=by, reason=reason, to=to)
    if fmt is OutputFormat.json:
        emit_json({"active": active})
        return
    typer.echo(f"active: {active}")


def _switch(db: str, by: str, fmt: OutputFormat, **values: bool) -> None:
    from tailguard.clock import SystemClock
    from tailguard.learning.versions import PolicyStore

    with _open(db) as ledger:
        st = PolicyStore(ledger).set_switch(SystemClock().now(), by=by, **values)
    payload = {"active": st.active, "pinned": st.pinned, "frozen": st.frozen}
    if fmt is OutputFormat.json:
        emit_json(payload)
        return
    typer.echo(f"active {st.active} (pinned: {st.pinned}, frozen: {st.frozen})")


def pin(
    db: str = DB_OPTION,
    off: bool = typer.Option(False, "--off", help="Unpin instead."),
    by: str = BY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Pin the active version: updates are stored as candidates, not used."""
    _switch(db, by, fmt, pinned=not off)


def freeze(
    db: str = DB_OPTION,
    off: bool = typer.Option(False, "--off", help="Unfreeze instead."),
    by: str = BY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Freeze learning: no updates at all until unfrozen."""
    _switch(db, by, fmt, frozen=not off)


def bench(
    areas: int = typer.Option(20, "--areas", help="Planning areas of each run (1..4000)."),
    weeks: int = typer.Option(3, "--weeks", help="Weeks of each run (1..12)."),
    seeds: int = typer.Option(3, "--seeds", help="How many seeds (1..1000)."),
    seed_base: int = typer.Option(1, "--seed-base", help="The first seed."),
    policies: str = typer.Option(
        "off,fixed,uniform,learning,oracle", "--policies", help="Comma-separated policies."
    ),
    workers: int = typer.Option(0, "--workers", help="Processes (0: one per core)."),
    warmup_days: int = typer.Option(
        7, "--warmup-days", help="Days simulated before the policies start (1..28)."
    ),
    out: str | None = typer.Option(None, "--out", help="Also write the JSON (with runs) here."),
    structure: str = typer.Option(
        "dose",
        "--structure",
        help="The learning policy's reward model: dose (slopes by dose, the default) or arms.",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Run the policies on the simulator and score them against its hidden truth."""
    import json
    import os
    from pathlib import Path

    from tailguard.demo.learnbench import BenchConfig, run_bench

    config = BenchConfig(
        areas=areas,
        weeks=weeks,
        seeds=seeds,
        seed_base=seed_base,
        policies=tuple(p.strip() for p in policies.split(",") if p.strip()),
        workers=workers or max(1, os.cpu_count() or 1),
        warmup_days=warmup_days,
        structure=structure,
    )
    if fmt is OutputFormat.json:
        # stdout holds only the JSON; each finished run is a plain line on stderr.
        result = run_bench(
            config,
            lambda what, done, total: print(f"run {done}/{total}: {what}", file=sys.stderr),
        )
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task("runs", total=len(config.policies) * seeds)
            result = run_bench(
                config, lambda what, done, total: bar.update(task, completed=done, description=what)
            )
    if out:
        Path(out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    result.pop("runs", None)
    if fmt is OutputFormat.json:
        emit_json(result)
        return
    _bench_table(result)


def _bench_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Learning bench: {result['areas']} areas, {result['weeks']} weeks, "
        f"seeds {result['seeds'][0]}..{result['seeds'][-1]}"
    )
    table.add_column("policy")
    for w in range(result["weeks"]):
        table.add_column(f"wk{w + 1} in-band %", justify="right")
    for col in ("regret", "harmful %", "harmful % last wk", "held %", "spend $"):
        table.add_column(col, justify="right")
    for name, p in result["policies"].items():
        table.add_row(
            name,
            *(f"{v:.2f}" for v in p["guardband_pass_pct_by_week"]),
            _f(p.get("regret")),
            _f(p.get("harmful_pct")),
            _f((p.get("harmful_pct_by_week") or [None])[-1]),
            _f(p.get("held_pct")),
            f"{p['spend_usd']:.0f}",
        )
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for name, rows in result["paired"].items():
        console.print(
            name
            + ": "
            + ", ".join(f"wk{r['week']} {r['diff_points']:+.2f} {r['ci95']}" for r in rows)
        )
    check = result.get("ope_check") or {}
    if check.get("seeds"):
        console.print(
            "estimators vs on-policy (fixed weights estimated from the uniform log): "
            + ", ".join(
                f"{e} coverage {check[f'{e}_coverage']:.2f}, mean |error| "
                f"{check[f'{e}_mean_abs_error']:.3f}"
                for e in ("snips", "dr")
                if f"{e}_coverage" in check
            )
        )


def register(app: typer.Typer) -> None:
    """Add the ``learn`` command group to ``app``."""
    group = typer.Typer(
        name="learn",
        help="The nightly learning loop: off-policy evaluation, policy versions, the benchmark.",
        no_args_is_help=True,
    )
    for name, fn in (
        ("evaluate", evaluate),
        ("update", update),
        ("bench", bench),
        ("versions", versions),
        ("rollback", rollback),
        ("pin", pin),
        ("freeze", freeze),
    ):
        group.command(name)(fn)
    app.add_typer(group, name="learn")
