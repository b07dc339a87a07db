"""CLI commands: ``tailguard ledger verify | checkpoint | keygen | export | kpis | rollback``
(INTERFACES.md section 3)."""

from __future__ import annotations

import enum
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail

DB_OPTION = typer.Option(
    ...,
    "--db",
    envvar="TAILGUARD_DB",
    help="Ledger URL: sqlite:///path.db, a bare path, or postgresql://...",
)


class ExportFormat(enum.StrEnum):
    """Formats ``ledger export`` writes."""

    jsonl = "jsonl"


def _parse_ts(option: str, text: str | None) -> datetime | None:
    from tailguard.clock import parse_ts

    if text is None:
        return None
    try:
        return parse_ts(text)
    except ValueError:
        fail(f"{option} {text!r} is not an RFC 3339 timestamp")


def verify(
    db: str = DB_OPTION,
    checkpoint: Path | None = typer.Option(
        None,
        "--checkpoint",
        help="A checkpoint file (tailguard ledger checkpoint): also report a ledger shorter "
        "than, or diverging from, any checkpoint in it.",
    ),
    key: Path | None = typer.Option(
        None,
        "--key",
        help="With --checkpoint: the signing key (private or public PEM) the checkpoints must "
        "be signed with; without it any valid signature is accepted and its key id reported.",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Check the whole hash chain (and its checkpoints); exit 1 naming the first bad record."""
    from tailguard.ledger import Ledger
    from tailguard.ledger.checkpoint import load_public_key, read_checkpoints, verify_against

    if key is not None and checkpoint is None:
        fail("--key needs --checkpoint")
    with Ledger.open(db, create=False) as ledger:
        if checkpoint is None:
            report = ledger.verify()
        else:
            checkpoints = read_checkpoints(checkpoint)
            trusted = None if key is None else [load_public_key(key)]
            report = verify_against(ledger, checkpoints, trusted=trusted)
    if fmt is OutputFormat.json:
        emit_json(report.to_dict())
    elif report.ok:
        typer.echo(
            f"ok: {report.records} records, head seq {report.head_seq}, hash {report.head_hash}"
        )
    if not report.ok:
        fail(
            f"chain broken at seq {report.first_bad_seq} ({report.problem}): {report.message}",
            code=1,
        )


def checkpoint(
    db: str = DB_OPTION,
    key: Path = typer.Option(
        ...,
        "--key",
        help="The Ed25519 private key (PEM) that signs; keep it outside the database "
        "(tailguard ledger keygen makes one).",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        help="The checkpoint file to append to (JSON Lines); keep it outside the database.",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Verify the chain, sign its head (seq, hash, time) and append it to a checkpoint file.

    Exit 1 without signing when the chain does not verify.
    """
    from tailguard.clock import SystemClock
    from tailguard.errors import ChainBrokenError
    from tailguard.ledger import Ledger
    from tailguard.ledger.checkpoint import CheckpointKey, write_checkpoint

    signer = CheckpointKey.load(key)
    with Ledger.open(db, create=False) as ledger:
        try:
            written = write_checkpoint(ledger, signer, out, clock=SystemClock())
        except ChainBrokenError as exc:
            fail(exc.message, code=1)
    if fmt is OutputFormat.json:
        emit_json({**written.to_dict(), "file": str(out)})
    else:
        typer.echo(
            f"checkpoint: seq {written.seq}, hash {written.hash}, key {written.key_id} -> {out}"
        )


def keygen(
    out: Path = typer.Option(
        ..., "--out", help="Where to write the new private key (PEM, mode 0600; never overwritten)."
    ),
    public_out: Path | None = typer.Option(
        None, "--public-out", help="Also write the public key (PEM) here, for verifiers."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Make an Ed25519 key for signing checkpoints."""
    from tailguard.ledger.checkpoint import CheckpointKey, public_pem

    new = CheckpointKey.generate()
    new.save(out)
    if public_out is not None:
        public_out.write_text(public_pem(new.public), encoding="ascii")
    if fmt is OutputFormat.json:
        emit_json({"key_id": new.key_id, "key": str(out), "public_key": public_pem(new.public)})
    else:
        typer.echo(f"key {new.key_id} written to {out}")


def export(
    db: str = DB_OPTION,
    fmt: ExportFormat = typer.Option(
        ExportFormat.jsonl, "--format", help="jsonl: one record per line."
    ),
    kind: str | None = typer.Option(None, "--kind", help="Only records of this kind."),
    run_id: str | None = typer.Option(None, "--run-id", help="Only records of this run."),
) -> None:
    """Write every record as JSON Lines: kind, its fields, seq, prev_hash, hash."""
    from tailguard.ledger import Ledger

    out = sys.stdout
    with Ledger.open(db, create=False) as ledger:
        for record in ledger.records(kind=kind, run_id=run_id):
            out.write(json.dumps(record.to_export(), ensure_ascii=False, allow_nan=False) + "\n")
    out.flush()


def kpis(
    db: str = DB_OPTION,
    since: str | None = typer.Option(None, "--since", help="Runs started at or after (RFC 3339)."),
    until: str | None = typer.Option(None, "--until", help="Runs started before (RFC 3339)."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Control-plane KPIs overall, per role and per tool."""
    from tailguard.ledger import Ledger
    from tailguard.ledger.kpis import control_plane_kpis

    since_ts, until_ts = _parse_ts("--since", since), _parse_ts("--until", until)
    with Ledger.open(db, create=False) as ledger:
        result = control_plane_kpis(ledger, since=since_ts, until=until_ts)
    if fmt is OutputFormat.json:
        emit_json(result)
        return
    _print_table(result)


def rollback(
    step_id: str = typer.Argument(..., help="The executed step to undo."),
    db: str = DB_OPTION,
    by: str = typer.Option(..., "--by", help="Who asks (recorded; cannot approve it)."),
    reason: str | None = typer.Option(None, "--reason", help="Why (recorded, <= 500 chars)."),
    policies: Path | None = typer.Option(
        None,
        "--policies",
        help="The deployment's tool policies (YAML); default: the built-in table.",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Ask for a step's rollback: it waits at an approval gate for another person.

    The approvers are the holders of approver keys in the ledger's database (as in the
    service); once one approves in the inbox, the process that holds the step's tool undoes it
    and records it rolled_back.
    """
    from tailguard.control import ControlPlane, ToolRegistry, builtin_policies, load_policies
    from tailguard.control.rollback_requests import request_rollback
    from tailguard.identity.keys import KeyStore
    from tailguard.ledger import Ledger

    if reason is not None and "\x00" in reason:
        fail("--reason must not contain a NUL character")
    table = builtin_policies() if policies is None else load_policies(policies)
    with Ledger.open(db, create=False) as ledger:
        plane = ControlPlane(ToolRegistry(), ledger, approvers=KeyStore(ledger.engine))
        result = request_rollback(plane, step_id, requested_by=by, reason=reason, policies=table)
    payload = {
        "step_id": step_id,
        "outcome": result.outcome.value,
        "run_id": result.run_id,
        "request_step_id": result.step_id,
        "gate_id": result.gate_id,
        "reason": result.reason,
    }
    if fmt is OutputFormat.json:
        emit_json(payload)
        return
    if result.gate_id:
        typer.echo(f"rollback of {step_id} waits for approval at gate {result.gate_id}")
    else:
        typer.echo(f"rollback of {step_id} not opened: {result.outcome.value} ({result.reason})")


_COLUMNS = (
    ("runs", "runs"),
    ("time_to_first_action_ms", "ttfa p50/p90 ms"),
    ("workflow_success_rate", "success"),
    ("rollback_rate", "rollback"),
    ("human_override_rate", "override"),
    ("approval_bypass_count", "bypasses"),
    ("cost_per_run_usd", "cost/run $"),
    ("tokens_per_productive_step", "tokens/step"),
)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "time_to_first_action_ms":
        if value["median"] is None:
            return "-"
        return f"{value['median']:.0f} / {value['p90']:.0f}"
    if key.endswith("_rate"):
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    window = f"{result['since'] or 'start'} .. {result['until'] or 'now'}"
    table = Table(title=f"Control-plane KPIs ({window})")
    table.add_column("scope", no_wrap=True)
    for _, title in _COLUMNS:
        table.add_column(title, justify="right")
    scopes = [("overall", result["overall"])]
    scopes += [(f"role {name}", v) for name, v in result["per_role"].items()]
    scopes += [(f"tool {name}", v) for name, v in result["per_tool"].items()]
    for scope, values in scopes:
        table.add_row(scope, *(_cell(key, values.get(key)) for key, _ in _COLUMNS))
    # Piped output has no terminal width; keep a whole row on one line for grep and diff.
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for alert in result["alerts"]:
        console.print(f"[bold red]alert[/]: {alert['message']}")


def register(app: typer.Typer) -> None:
    """Add the ``ledger`` command group to ``app``."""
    group = typer.Typer(
        name="ledger",
        help="The hash-chained run ledger: verify, checkpoint, export, control-plane KPIs.",
        no_args_is_help=True,
    )
    group.command("verify")(verify)
    group.command("checkpoint")(checkpoint)
    group.command("keygen")(keygen)
    group.command("export")(export)
    group.command("kpis")(kpis)
    group.command("rollback")(rollback)
    app.add_typer(group, name="ledger")
