"""What every command shares: output format, JSON emission, one-line failures."""

from __future__ import annotations

import enum
import json
import sys
from typing import Any, NoReturn

import typer


class OutputFormat(enum.StrEnum):
    """How a command prints its result."""

    table = "table"
    json = "json"


FORMAT_OPTION = typer.Option(
    OutputFormat.table,
    "--format",
    help="table for people (default), json for scripts (stdout holds only the JSON).",
    case_sensitive=False,
)


def emit_json(payload: Any) -> None:
    """Print ``payload`` as JSON on stdout, nothing else."""
    sys.stdout.write(json.dumps(payload, default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


def fail(message: str, *, code: int = 2) -> NoReturn:
    """Exit with ``code`` after a one-line reason on stderr."""
    first_line = " ".join(str(message).split())
    sys.stderr.write(f"tailguard: error: {first_line}\n")
    raise typer.Exit(code)


def require_ledger(db: str) -> None:
    """Refuse (exit 2) a ``--db`` with no ledger: a mistyped path would otherwise be created
    empty and the command would show nothing. Commands that create a ledger (``keys create``,
    ``demo``, ``agents run``) do not call this."""
    from tailguard.errors import NotFoundError
    from tailguard.ledger import Ledger

    try:
        Ledger.open(db, create=False).close()
    except NotFoundError as exc:
        fail(
            f"--db {db}: {exc.message}; create one with `tailguard keys create --name NAME "
            f"--role admin --db {db}` or `tailguard demo`, or check the path"
        )


def default_store_path() -> str:
    """The chat and MCP store when no ``--db`` or ``TAILGUARD_DB`` is given
    (:func:`tailguard.roles.paths.default_chat_db`)."""
    from tailguard.roles.paths import default_chat_db

    return default_chat_db()
