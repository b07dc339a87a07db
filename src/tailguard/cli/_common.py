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
    """The chat and MCP store when no ``--db`` or ``TAILGUARD_DB`` is given: an absolute path
    in the user's data directory (``$XDG_DATA_HOME/tailguard/chat.db``, else
    ``~/.local/share/tailguard/chat.db``), so a command started from any directory (an MCP
    client's, say) uses the same store and writes nothing to its working directory."""
    import os
    from pathlib import Path

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    folder = Path(base).expanduser().resolve() / "tailguard"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / "chat.db")
