"""CLI commands: ``tailguard ops drill | incidents`` (INTERFACES.md section 6), thin over
:mod:`tailguard.ops`."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, require_ledger

_DB = typer.Option(
    ...,
    "--db",
    envvar="TAILGUARD_DB",
    help="Ledger URL: sqlite:///path.db, a bare path, or postgresql://...",
)


class Fault(enum.StrEnum):
    """The faults a drill can inject."""

    hanging_downstream = "hanging_downstream"
    budget_burn = "budget_burn"
    harmful_policy = "harmful_policy"
    gate_backlog = "gate_backlog"


class Decision(enum.StrEnum):
    """What the drill's scripted approver answers at the remedy's gate."""

    approve = "approve"
    reject = "reject"


def drill(
    fault: Fault = typer.Option(..., "--fault", help="The fault to inject."),
    db: str = _DB,
    directory: Path | None = typer.Option(
        None,
        "--compendium-dir",
        file_okay=False,
        help="Where the incident card is written (default: beside a SQLite ledger).",
    ),
    decision: Decision = typer.Option(
        Decision.approve, "--decision", help="The scripted approver's answer at the remedy gate."
    ),
    seed: int = typer.Option(7, "--seed", min=0, help="The simulated deployment's seed."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Inject a fault into a small simulated deployment and run self-healing end to end.

    The reliability agent detects the fault from the deployment's signals, triages it against
    the compendium, proposes a governed remedy that waits at an approval gate, applies it once
    the scripted approver approves, verifies that the signal recovered and writes the incident
    to the compendium.
    """
    from tailguard.ops.drill import run_drill

    result = run_drill(
        fault.value, db, compendium_dir=directory, decision=decision.value, seed=seed
    )
    if fmt is OutputFormat.json:
        emit_json(result)
        return
    typer.echo(
        f"{result['fault']}: detected={result['detected']} remedy={result['remedy']} "
        f"gate={result['gate_id']} approved_by={result['approved_by']} "
        f"verified={result['verified']} status={result['status']}"
    )
    if result["compendium_entry"]:
        typer.echo(f"compendium: {result['compendium_entry']}")


def incidents(
    db: str = _DB,
    open_only: bool = typer.Option(False, "--open", help="Only incidents not closed."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The self-healing incidents recorded in a database, oldest first."""
    from tailguard.ledger import Ledger
    from tailguard.ops.store import OpsStore

    require_ledger(db)
    with Ledger.open(db, create=False) as ledger:
        rows = OpsStore(ledger.engine).incidents(open_only=open_only)
    payload = [
        {
            "incident_id": r.incident_id,
            "fault": r.fault,
            "status": r.status,
            "step": r.step,
            "opened_at": r.opened_at.isoformat(),
            "remedy": r.state.get("remedy"),
            "gate_id": r.state.get("gate_id"),
            "verified": r.state.get("verified"),
        }
        for r in rows
    ]
    if fmt is OutputFormat.json:
        emit_json({"incidents": payload})
        return
    for p in payload:
        typer.echo(f"{p['incident_id']} {p['fault']} {p['status']} remedy={p['remedy']}")


def register(app: typer.Typer) -> None:
    """Add the ``ops`` command group to ``app``."""
    group = typer.Typer(
        name="ops",
        help="Autonomous operations: self-healing drills and incidents.",
        no_args_is_help=True,
    )
    group.command("drill")(drill)
    group.command("incidents")(incidents)
    app.add_typer(group, name="ops")
