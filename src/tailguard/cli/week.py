"""CLI command ``tailguard week``: the weekly strategic cycle for every area."""

from __future__ import annotations

from pathlib import Path

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail, require_ledger
from tailguard.clock import format_ts, parse_ts


def register(app: typer.Typer) -> None:
    """Add ``week`` to ``app``."""

    @app.command("week")
    def week(
        db: str = typer.Option(
            ...,
            "--db",
            envvar="TAILGUARD_DB",
            help="Ledger URL (sqlite:///dir/ledger.db or postgresql://...).",
        ),
        as_of: str = typer.Option(..., "--as-of", help="End of the week, RFC 3339."),
        out: Path = typer.Option(..., "--out", help="Directory for the pages."),
        area: list[str] = typer.Option(
            [], "--area", help="Only this area (repeatable); the benchmark still ranks all."
        ),
        events: Path | None = typer.Option(
            None,
            "--events",
            help="Raw event file (.jsonl/.parquet) to compute the week from, instead of the "
            "snapshots beside the ledger.",
        ),
        pulse: str | None = typer.Option(
            None, "--pulse", help="Pulse store URL (default: pulse.db beside a SQLite ledger)."
        ),
        weeks: Path | None = typer.Option(
            None,
            "--weeks",
            help="Week snapshots directory (default: weeks/ beside a SQLite ledger when it "
            "holds the week, else the snapshots `tailguard agents run` keeps in the ledger's "
            "database).",
        ),
        levers: list[Path] = typer.Option(
            [], "--levers", help="Extra lever library JSON (repeatable; same ids replace)."
        ),
        workers: int = typer.Option(2, "--workers", min=1, help="Render processes."),
        pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Print PDFs with headless Chromium."),
        fmt: OutputFormat = FORMAT_OPTION,
    ) -> None:
        """Diagnostic packs, benchmark, playbooks and OKRs for the week ending at --as-of.

        Writes DIR/<area_id>/pack.html, pack.pdf, okr.html, okr.pdf, okr.json,
        benchmark.json and DIR/index.html, and commits each area's OKR to the ledger as an
        'okr' record (last week's OKRs are scored the same way). On a live deployment's
        database (SQLite or PostgreSQL) it needs no other file: `tailguard agents run` keeps
        the week snapshots there (docs/weekly.md).
        """
        from tailguard.weekly import load_library, run_week

        try:
            when = parse_ts(as_of)
        except ValueError:
            fail(f"--as-of {as_of!r} is not an RFC 3339 timestamp")
        if events is None:
            require_ledger(db)  # with --events the week is rebuilt, into a new ledger if need be
        library = load_library(*levers)
        pulse_url = pulse
        weeks_dir = weeks
        if events is not None:
            from tailguard.weekly.events import weeks_from_events

            derived = weeks_from_events(events, when, out / "_from_events")
            pulse_url = pulse_url or derived.pulse_url
            weeks_dir = derived.weeks_dir
        if fmt == OutputFormat.json:
            result = run_week(
                db,
                when,
                out,
                area or None,
                workers,
                pulse_url=pulse_url,
                weeks_dir=weeks_dir,
                library=library,
                pdf=pdf,
            )
            emit_json(result.to_json())
            _pdf_check(result.pdf_errors)
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console(stderr=True)
        with Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            tasks: dict[str, object] = {}

            def tell(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

            result = run_week(
                db,
                when,
                out,
                area or None,
                workers,
                pulse_url=pulse_url,
                weeks_dir=weeks_dir,
                library=library,
                pdf=pdf,
                progress=tell,
            )
        t = result.timings
        typer.echo(
            f"week to {format_ts(result.as_of)}: {len(result.areas)} areas -> {result.out_dir / 'index.html'}"
        )
        typer.echo(
            f"okr records appended: {result.okr_records}; last week's OKRs: "
            + (", ".join(f"{v} {k}" for k, v in sorted(result.scores.items())) or "none")
        )
        typer.echo(
            f"time: compute {t.get('load', 0) + t.get('compute', 0):.1f} s, "
            f"render {t.get('render', 0):.1f} s, total {t.get('total', 0):.1f} s"
        )
        _pdf_check(result.pdf_errors)


def _pdf_check(errors: dict[str, str] | object) -> None:
    """Exit 1 after everything else is written when the PDF step failed."""
    if errors:
        assert isinstance(errors, dict)
        first = next(iter(errors.values()))
        fail(f"PDF step failed for {len(errors)} area(s) (HTML pages are written): {first}", code=1)
