"""CLI commands: ``tailguard crowd estimate | top | bench`` (INTERFACES.md section 6)."""

from __future__ import annotations

from pathlib import Path

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json


def estimate(
    panel: Path = typer.Option(
        ...,
        "--panel",
        help="CSV with columns unit,period,y,first_treated (empty or 0: never treated).",
        dir_okay=False,
    ),
    control: str = typer.Option(
        "not_yet_treated",
        "--control",
        help="Control units: not_yet_treated (default, includes never treated) or never_treated.",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Staggered-adoption ATT (Callaway-Sant'Anna) over all post-treatment periods."""
    from tailguard.crowd import callaway_santanna, read_panel_csv
    from tailguard.errors import InvalidInputError

    if control not in ("not_yet_treated", "never_treated"):
        raise InvalidInputError(
            f"--control must be not_yet_treated or never_treated, not {control!r}"
        )
    result = callaway_santanna(read_panel_csv(panel), control=control)  # type: ignore[arg-type]
    if fmt is OutputFormat.json:
        emit_json(result.to_dict())
        return
    lo, hi = result.ci95
    typer.echo(
        f"ATT {result.att:.4f} (SE {result.se:.4f}, 95 % CI {lo:.4f} to {hi:.4f}), "
        f"{result.method}, {len(result.cells)} cells, {result.n_treated_units} treated of "
        f"{result.n_units} units"
    )


def top(
    db: str = typer.Option(
        ...,
        "--db",
        envvar="TAILGUARD_DB",
        help="Ledger URL: sqlite:///path.db, a bare path, or postgresql://...",
    ),
    area: str = typer.Option(..., "--area", help="The planning area, e.g. PA-0042."),
    q: float = typer.Option(0.1, "--q", help="False discovery rate over the tactics tested."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The top 3 tactics by causal lift in the area's cluster (FDR-controlled discoveries)."""
    from tailguard.crowd.exchange import ExchangeSettings, run_exchange
    from tailguard.crowd.store import CrowdStore
    from tailguard.ledger import Ledger

    with Ledger.open(db, create=False) as ledger:
        result = run_exchange(CrowdStore(ledger.engine), ExchangeSettings(q=q)).top(area)
    if fmt is OutputFormat.json:
        emit_json(result)
        return
    typer.echo(f"{result['area_id']} in cluster {result['cluster']}")
    if not result["top"]:
        typer.echo("  no tactic with a discovered uplift in this cluster yet")
    for i, row in enumerate(result["top"], 1):
        lo, hi = row["ci95"]
        typer.echo(
            f"  {i}. {row['tactic']} on {row['kpi']}: lift {row['lift']:+.3f} "
            f"(95 % CI {lo:+.3f} to {hi:+.3f}), {row['adopters']} adopters, "
            f"{row['replications']} replications"
        )


def bench(
    seeds: int = typer.Option(20, "--seeds", help="How many seeds (networks) to run."),
    seed_base: int = typer.Option(0, "--seed-base", help="The first seed."),
    areas: int = typer.Option(240, "--areas", help="Areas per synthetic network."),
    weeks: int = typer.Option(12, "--weeks", help="Weeks of published tactics."),
    tactics: int = typer.Option(10, "--tactics", help="Tactics per network."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The exchange against hidden truth: top-3 precision, FDR, bias, TWFE bias, harmful adoption."""
    from tailguard.crowd.bench import bench as run_bench

    result = run_bench(seeds, seed_base=seed_base, areas=areas, weeks=weeks, tactics=tactics)
    if fmt is OutputFormat.json:
        emit_json(result)
        return
    for key, value in result.items():
        typer.echo(f"{key:>22}  {value}")


def publish(
    db: str = typer.Option(
        ...,
        "--db",
        envvar="TAILGUARD_DB",
        help="Ledger URL (holds the self-learn store and the exchange's tables).",
    ),
    pulse: str = typer.Option(..., "--pulse", help="Pulse store URL (sqlite:///x.db or redis://)."),
    now: str | None = typer.Option(
        None, "--now", help="Publishing time (RFC 3339; default: the wall clock)."
    ),
    area_types: Path | None = typer.Option(
        None,
        "--area-types",
        help="JSON object area_id -> area type (default: every area 'unknown').",
        dir_okay=False,
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Nightly publishing: tactic -> outcome pairs, weekly KPI means and area types."""
    import json
    from datetime import UTC, datetime

    from tailguard.clock import parse_ts
    from tailguard.crowd.publish import publish as do_publish
    from tailguard.crowd.publish import tactic_pairs, weekly_kpis
    from tailguard.crowd.store import CrowdStore
    from tailguard.errors import InvalidInputError
    from tailguard.learning import SelfLearnStore
    from tailguard.ledger import Ledger
    from tailguard.pulse import PulseStore

    try:
        when = parse_ts(now) if now is not None else datetime.now(UTC)
    except ValueError as exc:
        raise InvalidInputError(f"--now {now!r} is not an RFC 3339 timestamp") from exc
    types: dict[str, str] = {}
    if area_types is not None:
        try:
            loaded = json.loads(area_types.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidInputError(f"cannot read --area-types {str(area_types)!r}: {exc}") from exc
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
        ):
            raise InvalidInputError("--area-types must be a JSON object of strings")
        types = loaded
    with Ledger.open(db, create=False) as ledger, PulseStore.open(pulse) as store:
        kpi_rows = weekly_kpis(store.history(until=when), until=when)
        areas = {a: types.get(a, "unknown") for a in kpi_rows["area_id"].unique().to_list()}
        report = do_publish(
            ledger=ledger,
            store=CrowdStore(ledger.engine),
            pairs=tactic_pairs(SelfLearnStore(ledger.engine).frame(), now=when),
            kpi_rows=kpi_rows,
            area_types=areas,
        )
    result = {
        "tactics": report.tactics,
        "kpi_rows": report.kpi_rows,
        "areas": report.areas,
        "ledger_records": report.ledger_records,
    }
    if fmt is OutputFormat.json:
        emit_json(result)
        return
    typer.echo(
        f"published {report.tactics} new tactics ({report.ledger_records} ledger records), "
        f"{report.kpi_rows} weekly KPI values, {report.areas} new areas"
    )


def register(app: typer.Typer) -> None:
    """Add the ``crowd`` command group to ``app``."""
    group = typer.Typer(
        name="crowd",
        help="The crowd exchange: causal lift of tactics across areas, top 3, benchmark.",
        no_args_is_help=True,
    )
    group.command("estimate")(estimate)
    group.command("top")(top)
    group.command("bench")(bench)
    group.command("publish")(publish)
    app.add_typer(group, name="crowd")
