"""CLI commands: ``tailguard db upgrade | current`` -- the schema migrations (docs/deploy.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail

DB_OPTION = typer.Option(
    ...,
    "--db",
    envvar="TAILGUARD_DB",
    help="Database URL: sqlite:///path.db, a bare path, or postgresql://...",
)


def _revision(db: str, *, must_exist: bool) -> str | None:
    """The revision recorded in ``db`` (None: no version table), read without changing it."""
    import sqlalchemy as sa

    from tailguard.ledger import parse_url
    from tailguard.migrations import current_revision

    url, backend = parse_url(db)
    if backend.name == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database or "")
        if not path.is_file():
            if must_exist:
                fail(f"no database at {path}")
            return None
    engine = backend.create_engine(url)
    try:
        return current_revision(engine)
    except sa.exc.DBAPIError as exc:
        fail(f"cannot read the schema version of {db}: {exc.orig}")
    finally:
        engine.dispose()


def upgrade(db: str = DB_OPTION, fmt: OutputFormat = FORMAT_OPTION) -> None:
    """Create or upgrade every table on the database to the current revision (rows are kept).

    The stores also do this when they open a database; this command does it ahead of a
    deployment (the compose file and the systemd units run it before starting).
    """
    from tailguard.ledger import Ledger
    from tailguard.migrations import HEAD, current_revision

    before = _revision(db, must_exist=False)
    with Ledger.open(db) as ledger:
        after = current_revision(ledger.engine)
    if fmt is OutputFormat.json:
        emit_json({"db": db, "from": before, "revision": after, "head": HEAD})
    elif before == after:
        typer.echo(f"schema at {after}, the current revision: nothing to do")
    else:
        typer.echo(
            f"schema upgraded from {before or 'no version (a new database, or one from a release before migrations)'} to {after}"
        )


def current(db: str = DB_OPTION, fmt: OutputFormat = FORMAT_OPTION) -> None:
    """Print the database's schema revision and the one this tailguard expects (changes nothing)."""
    from tailguard.migrations import HEAD

    revision = _revision(db, must_exist=True)
    if fmt is OutputFormat.json:
        emit_json({"db": db, "revision": revision, "head": HEAD, "up_to_date": revision == HEAD})
    else:
        state = "up to date" if revision == HEAD else "behind: run tailguard db upgrade"
        typer.echo(f"schema {revision or 'without a version'}, head {HEAD} ({state})")


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group to ``app``."""
    group = typer.Typer(
        name="db", help="The database schema: upgrade it, show its revision.", no_args_is_help=True
    )
    group.command("upgrade")(upgrade)
    group.command("current")(current)
    app.add_typer(group, name="db")
