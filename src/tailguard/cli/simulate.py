"""CLI command ``tailguard simulate``: write a simulated network's events to a file."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command(name="simulate")(simulate)


def simulate(
    areas: int = typer.Option(400, "--areas", help="Planning areas to simulate (1..9999)."),
    days: int = typer.Option(7, "--days", help="Simulated days (1..366)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same arguments give the same bytes."),
    out: Path = typer.Option(..., "--out", help="Output file: .jsonl, .jsonl.gz or .parquet."),
    start: str = typer.Option(
        "2026-01-05T00:00:00Z", "--start", help="First simulated hour (RFC 3339, UTC)."
    ),
    output_format: OutputFormat = FORMAT_OPTION,
) -> None:
    """Simulate the field-service network and write its events; print a summary."""
    from tailguard.clock import parse_ts

    name = out.name.lower()
    if not name.endswith((".jsonl", ".jsonl.gz", ".parquet")):
        fail(f"--out must end in .jsonl, .jsonl.gz or .parquet, got {out.name!r}")
    if not 1 <= areas <= 9999:
        fail(f"--areas must be between 1 and 9999, got {areas}")
    if not 1 <= days <= 366:
        fail(f"--days must be between 1 and 366, got {days}")
    if seed < 0:
        fail(f"--seed must be >= 0, got {seed}")
    try:
        when: datetime = parse_ts(start)
    except ValueError:
        fail(f"--start is not an RFC 3339 timestamp: {start!r}")
    if not out.parent.exists():
        fail(f"directory {str(out.parent)!r} does not exist")

    from tailguard.events.io import EventWriter
    from tailguard.sim import NetworkConfig, Simulator
    from tailguard.sim.measure import Summary

    sim = Simulator(NetworkConfig(areas=areas, seed=seed, start=when))
    hours = days * 24
    summary = Summary()
    show = sys.stdout.isatty() and output_format == OutputFormat.table
    with EventWriter(out) as writer:
        if show:
            from rich.progress import Progress

            with Progress(transient=True) as progress:
                task = progress.add_task(f"simulating {areas} areas", total=hours)
                for table in sim.run(hours):
                    writer.write(table)
                    summary.add(table)
                    progress.advance(task)
        else:
            for table in sim.run(hours):
                writer.write(table)
                summary.add(table)
    result = {
        "out": str(out),
        "areas": areas,
        "days": days,
        "seed": seed,
        "start": start,
        **summary.result(float(days)),
    }
    if output_format == OutputFormat.json:
        emit_json(result)
        return
    _print_table(result)


def _print_table(result: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Simulated {result['days']} day(s) of {result['areas']} areas")
    table.add_column("figure")
    table.add_column("value", justify="right")
    by_type = result["events_by_type"]
    assert isinstance(by_type, dict)
    for kind, n in by_type.items():
        table.add_row(f"events: {kind}", f"{n:,}")
    labels = {
        "events": "events: total",
        "jobs_completed": "jobs completed",
        "jobs_per_tech_day": "jobs per tech per working day",
        "ftf_pct": "first-time fix %",
        "recall_visit_pct": "recall visits % of jobs",
        "mean_ticket_usd": "mean ticket (USD)",
        "nps_response_pct": "NPS response rate %",
        "lateness_p90_min": "lateness P90 (min)",
        "earnings_p10_week_median_area": "weekly earnings P10 (median area, USD)",
        "earnings_p50_week_median_area": "weekly earnings P50 (median area, USD)",
        "areas_earnings_p10_below_600": "areas with earnings P10 < $600",
        "areas_late_p90_over_30": "areas with lateness P90 > 30 min",
        "areas_nps_p10_below_5": "areas with NPS P10 < 5",
        "areas_recall_p90_over_15": "areas with recall P90 > 15 %",
        "areas_lead_p95_over_5": "areas with parts lead P95 > 5 d",
        "churned_techs": "churned techs",
    }
    for key, label in labels.items():
        value = result.get(key)
        table.add_row(label, "-" if value is None else f"{value:,}")
    table.add_row("written to", str(result["out"]))
    Console().print(table)
