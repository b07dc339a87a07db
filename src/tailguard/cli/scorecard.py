"""CLI commands: ``scorecard`` (KPIs per area) and ``tails`` (rules that fire)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail
from tailguard.clock import format_ts, parse_ts

if TYPE_CHECKING:  # every CLI command imports this module; Polars only when scoring
    import polars as pl

EVENTS_OPTION = typer.Option(..., "--events", help="Event file (.jsonl or .parquet).")
AS_OF_OPTION = typer.Option(
    ..., "--as-of", help="Window end, RFC 3339 (e.g. 2026-01-12T00:00:00Z)."
)
DEAD_LETTER_OPTION = typer.Option(
    None, "--dead-letter", help="Where rejected events go (default: beside the events file)."
)
MAX_SKEW_OPTION = typer.Option(
    "1d",
    "--max-skew",
    help="Events dated later than --as-of plus this (1d, 6h, 90m, 30s) are rejected to the "
    "dead letter as future events.",
)


def parse_skew(text: str) -> timedelta:
    from tailguard.events.skew import parse_skew as parse

    return parse(text)


def _as_of(text: str) -> datetime:
    try:
        return parse_ts(text)
    except ValueError:
        fail(f"--as-of {text!r} is not an RFC 3339 timestamp")


def _value(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _breaches(scorecard: pl.DataFrame, rules: Any, as_of: datetime) -> dict[tuple[str, str], str]:
    """(area, kpi) -> worst severity among rules it breaches, for marking table cells."""
    from tailguard.rules import RuleEngine

    marks: dict[tuple[str, str], str] = {}
    for alert in RuleEngine(rules).evaluate(scorecard, as_of):
        key = (alert.area_id, alert.kpi)
        if marks.get(key) != "critical":
            marks[key] = alert.severity
    return marks


def _table(scorecard: pl.DataFrame, marks: dict[tuple[str, str], str], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from tailguard.metrics.kpis import KPIS

    table = Table(title=title, caption="red !: critical tail, yellow ~: guard-band breach")
    table.add_column("area_id", no_wrap=True)
    cols = [c for c in scorecard.columns if c != "area_id"]
    for c in cols:
        k = KPIS.get(c)
        table.add_column(f"{c}\n({k.unit})" if k else c, justify="right")
    for row in scorecard.iter_rows(named=True):
        cells = [row["area_id"]]
        for c in cols:
            v = row[c]
            text = "-" if v is None else f"{v:,.1f}"
            mark = marks.get((row["area_id"], c))
            if mark == "critical":
                text = f"[bold red]{text} ![/]"
            elif mark is not None:
                text = f"[yellow]{text} ~[/]"
            cells.append(text)
        table.add_row(*cells)
    # 14 columns do not fit 80: widen rather than squash the numbers (a pager or a wide
    # terminal shows them whole).
    console = Console()
    Console(width=max(console.width, 16 + 13 * len(cols))).print(table)


def register(app: typer.Typer) -> None:
    """Add ``scorecard`` and ``tails`` to ``app``."""

    @app.command("scorecard")
    def scorecard(
        events: Path = EVENTS_OPTION,
        as_of: str = AS_OF_OPTION,
        window_days: int = typer.Option(7, "--window-days", min=1, help="Window length W in days."),
        dead_letter: Path | None = DEAD_LETTER_OPTION,
        max_skew: str = MAX_SKEW_OPTION,
        fmt: OutputFormat = FORMAT_OPTION,
    ) -> None:
        """Every KPI per planning area over the W days ending at --as-of."""
        from tailguard.metrics.files import score_file
        from tailguard.rules import builtin_rules

        when = _as_of(as_of)
        result = score_file(
            events,
            when,
            window_days=window_days,
            dead_letter=dead_letter,
            max_skew=parse_skew(max_skew),
        )
        sc = result.scorecard
        if fmt == OutputFormat.json:
            kpi_cols = [c for c in sc.columns if c != "area_id"]
            emit_json(
                {
                    "as_of": format_ts(when),
                    "window_days": window_days,
                    "areas": [
                        {"area_id": row["area_id"], "kpis": {k: _value(row[k]) for k in kpi_cols}}
                        for row in sc.iter_rows(named=True)
                    ],
                    "dead_letter": {
                        "count": result.dead_letter_count,
                        "path": str(result.dead_letter_path),
                    },
                }
            )
            return
        _table(
            sc,
            _breaches(sc, builtin_rules(), when),
            f"Scorecard at {format_ts(when)}, W={window_days} d",
        )
        typer.echo(f"dead letter: {result.dead_letter_count} event(s) -> {result.dead_letter_path}")

    @app.command("tails")
    def tails(
        events: Path = EVENTS_OPTION,
        as_of: str = AS_OF_OPTION,
        rules: Path | None = typer.Option(
            None, "--rules", help="Rule file (YAML); default the built-in rules."
        ),
        window_days: int = typer.Option(7, "--window-days", min=1, help="Window length W in days."),
        dead_letter: Path | None = DEAD_LETTER_OPTION,
        max_skew: str = MAX_SKEW_OPTION,
        fmt: OutputFormat = FORMAT_OPTION,
    ) -> None:
        """Tail rules firing per planning area at --as-of.

        Rules with a 'for' are evaluated over the hourly ticks leading up to --as-of, so a
        rule fires only if its breach has held that long.
        """
        from tailguard.metrics.files import score_file
        from tailguard.rules import RuleEngine, builtin_rules, load_rules

        when = _as_of(as_of)
        ruleset = load_rules(rules) if rules is not None else builtin_rules()
        hold = max((r.for_ for r in ruleset), default=timedelta(0))
        lookback = math.ceil(hold / timedelta(hours=1))
        result = score_file(
            events,
            when,
            window_days=window_days,
            dead_letter=dead_letter,
            lookback_ticks=lookback,
            max_skew=parse_skew(max_skew),
        )
        engine = RuleEngine(ruleset)
        alerts = []
        for tick, sc in result.ticks:
            alerts = engine.evaluate(sc, tick)
        firing = [a for a in alerts if a.state == "firing"]
        if fmt == OutputFormat.json:
            emit_json(
                {
                    "as_of": format_ts(when),
                    "rules": str(rules) if rules is not None else "builtin",
                    "tails": [{**a.to_dict(), "value": _value(a.value)} for a in firing],
                    "dead_letter": {
                        "count": result.dead_letter_count,
                        "path": str(result.dead_letter_path),
                    },
                }
            )
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"Tails at {format_ts(when)} ({len(firing)} firing)")
        for col in ("area_id", "rule", "kpi", "value", "threshold", "severity", "agent"):
            table.add_column(col)
        for a in firing:
            style = "bold red" if a.severity == "critical" else "yellow"
            value = "-" if a.value is None else f"{a.value:,.2f}"
            table.add_row(
                a.area_id,
                a.rule,
                a.kpi,
                f"[{style}]{value}[/]",
                f"{a.op} {a.threshold:g}",
                f"[{style}]{a.severity}[/]",
                a.labels.get("agent", ""),
            )
        Console().print(table)
        typer.echo(f"dead letter: {result.dead_letter_count} event(s) -> {result.dead_letter_path}")
