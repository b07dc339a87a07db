"""CLI command: ``tailguard serve``, the HTTP API and dashboards under uvicorn."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from tailguard.cli._common import require_ledger


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: any free one)."),
    db: str = typer.Option(
        "tailguard.db",
        "--db",
        envvar="TAILGUARD_DB",
        help="Ledger URL: sqlite:///path.db, a bare path, or postgresql://...",
    ),
    pulse: str = typer.Option(
        None,
        "--pulse",
        envvar="TAILGUARD_PULSE",
        help="Pulse store URL (sqlite:///x.db or redis://...); default pulse.db beside the ledger.",
    ),
    secret_key: str = typer.Option(
        None,
        "--secret-key",
        envvar="TAILGUARD_SECRET_KEY",
        help="Signs dashboard sessions; default a random key (sessions end on restart).",
    ),
    checkpoint_key: Path | None = typer.Option(
        None,
        "--checkpoint-key",
        envvar="TAILGUARD_CHECKPOINT_KEY",
        help="Ed25519 key (PEM, tailguard ledger keygen) to sign ledger checkpoints with.",
    ),
    checkpoint_file: Path | None = typer.Option(
        None,
        "--checkpoint-file",
        envvar="TAILGUARD_CHECKPOINT_FILE",
        help="Append a signed checkpoint of the ledger's head here at startup and hourly.",
    ),
    approval_policies: Path | None = typer.Option(
        None,
        "--approval-policies",
        envvar="TAILGUARD_APPROVAL_POLICIES",
        help="Delegated approval policies (YAML, docs/approval-policies.md): the gates they "
        "cover are decided by policy; the rest wait for a person.",
    ),
    yoy_baseline: Path | None = typer.Option(
        None,
        "--yoy-baseline",
        envvar="TAILGUARD_YOY_BASELINE",
        help="Last year's jobs per week per area (CSV: area_id,week_ending,jobs_per_week; "
        "docs/weekly.md section 8) for the jobs/week +12 % YoY band. Default: the pulse store's "
        "own history a year back; with neither, the band shows no data.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error."),
) -> None:
    """Serve the /v1 API, the dashboards, /healthz, /readyz and /metrics.

    Spans are exported as the OTEL_* variables say (docs/service.md, OpenTelemetry export).
    """
    import uvicorn

    from tailguard.service import ServiceSettings, create_app
    from tailguard.service.observe import configure_logging
    from tailguard.telemetry import configure_tracing

    require_ledger(db)
    if yoy_baseline is not None:
        from tailguard.rules.yoy import load_baseline

        load_baseline(yoy_baseline)  # refused here, with its line, before the server starts
    configure_logging(log_level.upper())
    configure_tracing("tailguard-serve")
    settings = ServiceSettings(
        ledger_url=db,
        pulse_url=pulse,
        checkpoint_key=checkpoint_key,
        checkpoint_file=checkpoint_file,
        approval_policies=approval_policies,
        yoy_baseline=yoy_baseline,
    )
    if secret_key:
        settings = dataclasses.replace(settings, secret_key=secret_key)
    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False)


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""
    app.command("serve")(serve)
