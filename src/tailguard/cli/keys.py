"""CLI commands: ``tailguard keys create | list | revoke``, the service's API keys."""

from __future__ import annotations

from typing import Any

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, require_ledger

DB_OPTION = typer.Option(
    "tailguard.db",
    "--db",
    envvar="TAILGUARD_DB",
    help="Ledger URL (the keys live in its database): sqlite:///path.db, a path, postgresql://...",
)


def _open(db: str, *, create: bool = False) -> Any:
    from tailguard.identity.keys import KeyStore
    from tailguard.ledger import Ledger

    if not create:
        require_ledger(db)
    ledger = Ledger.open(db)
    return ledger, KeyStore(ledger.engine)


def create(
    name: str = typer.Option(..., "--name", help="Whose key: their identity in the ledger."),
    role: str = typer.Option(..., "--role", help="viewer, operator, approver or admin."),
    db: str = DB_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Create an API key and print it once (only its salted hash is stored)."""
    from tailguard.identity.keys import Role

    parsed = Role.parse(role)
    ledger, keys = _open(db, create=True)  # the first key bootstraps a new deployment
    try:
        key, raw = keys.create(name, parsed)
    finally:
        ledger.close()
    if fmt is OutputFormat.json:
        emit_json({**key.to_dict(), "key": raw})
        return
    typer.echo(f"key {key.key_id} for {key.name} ({key.role.value}):")
    typer.echo(raw)
    typer.echo("store it now: it is not shown again.", err=True)


def list_keys(
    db: str = DB_OPTION,
    include_revoked: bool = typer.Option(
        True, "--include-revoked/--active-only", help="Also list revoked keys."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """List the API keys (ids, names, roles, state; never the keys themselves)."""
    ledger, keys = _open(db)
    try:
        rows = [k.to_dict() for k in keys.list(include_revoked=include_revoked)]
    finally:
        ledger.close()
    if fmt is OutputFormat.json:
        emit_json({"keys": rows})
        return
    if not rows:
        typer.echo("no keys")
        return
    for row in rows:
        state = "active" if row["active"] else f"revoked {row['revoked_at']}"
        typer.echo(
            f"{row['key_id']}  {row['name']:<24} {row['role']:<9} {row['created_at']}  {state}"
        )


def revoke(
    key_id: str = typer.Argument(..., help="The key id (from keys list)."),
    db: str = DB_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Revoke an API key; it stops working at once."""
    ledger, keys = _open(db)
    try:
        key = keys.revoke(key_id)
    finally:
        ledger.close()
    if fmt is OutputFormat.json:
        emit_json(key.to_dict())
    else:
        typer.echo(f"revoked {key.key_id} ({key.name})")


def register(app: typer.Typer) -> None:
    """Add the ``keys`` command group to ``app``."""
    keys_app = typer.Typer(help="API keys of the HTTP service.", no_args_is_help=True)
    keys_app.command("create")(create)
    keys_app.command("list")(list_keys)
    keys_app.command("revoke")(revoke)
    app.add_typer(keys_app, name="keys")
