"""CLI commands: ``tailguard compendium curate | shard | verify | search`` (INTERFACES.md 6)."""

from __future__ import annotations

from pathlib import Path

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail

_DB = typer.Option(
    ...,
    "--db",
    envvar="TAILGUARD_DB",
    help="Ledger URL: sqlite:///path.db, a bare path, or postgresql://...",
)
_DIR = typer.Option(
    None,
    "--dir",
    help="The compendium directory (default: beside a SQLite ledger).",
    file_okay=False,
)


def _plane(ledger: object) -> object:
    from tailguard.control import ControlPlane, ToolRegistry
    from tailguard.ledger import Ledger

    assert isinstance(ledger, Ledger)
    return ControlPlane(ToolRegistry(), ledger, clock=ledger.clock)


def _dir(db: str | None, directory: Path | None) -> Path:
    from tailguard.compendium import default_dir

    if directory is not None:
        return directory
    if db is None:
        fail("--dir is required")
    return default_dir(db)


def curate(
    db: str = _DB,
    directory: Path | None = _DIR,
    min_n: int = typer.Option(10, "--min-n", min=1, help="Observations before a card is proven."),
    prose: bool = typer.Option(
        False,
        "--prose",
        help="Let the model named by $TAILGUARD_MODEL word new or changed cards (never numbers).",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Turn run outcomes and measured decisions into pattern cards; flag regressions."""
    import os

    from tailguard.errors import InvalidInputError
    from tailguard.roles.prose import provider_prose
    from tailguard.roles.providers import MODEL_ENV, provider_from_env

    writer = None
    if prose:
        if not os.environ.get(MODEL_ENV):
            raise InvalidInputError(f"--prose needs a model: set ${MODEL_ENV} (e.g. anthropic:...)")
        writer = provider_prose(provider_from_env())
    from tailguard.compendium import Compendium, CuratorSettings
    from tailguard.compendium import curate as run_curate
    from tailguard.control import ControlPlane
    from tailguard.ledger import Ledger

    with Ledger.open(db, create=False) as ledger:
        plane = _plane(ledger)
        assert isinstance(plane, ControlPlane)
        report = run_curate(
            plane,
            Compendium(_dir(db, directory)),
            settings=CuratorSettings(min_n=min_n),
            prose=writer,
        )
    if fmt is OutputFormat.json:
        emit_json(report.to_dict())
        return
    typer.echo(
        f"{report.cards_written} cards written, {report.cards_updated} updated, "
        f"{report.cards_retired} retired; {len(report.regressions)} regressions; "
        f"{len(report.sharded)} files sharded; {len(report.problems)} card format problems"
    )
    for problem in report.problems:
        typer.echo(f"  {problem['file']}:{problem['line']}: {problem['reason']}")


def shard(
    directory: Path = typer.Option(..., "--dir", help="The compendium directory.", file_okay=False),
    db: str | None = typer.Option(
        None, "--db", help="Ledger URL for the change records (default: the one beside --dir)."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Split every Markdown file over 1,500 lines by its H2 headings; archive the original."""
    from tailguard.compendium import Compendium, shard_all
    from tailguard.control import ControlPlane
    from tailguard.errors import NotFoundError
    from tailguard.ledger import Ledger

    if not directory.is_dir():
        raise NotFoundError(f"no compendium directory at {directory}")
    url = db or f"sqlite:///{directory.resolve().parent / 'ledger.db'}"
    with Ledger.open(url) as ledger:
        plane = _plane(ledger)
        assert isinstance(plane, ControlPlane)
        done = shard_all(plane, Compendium(directory))
    if fmt is OutputFormat.json:
        emit_json({"sharded": done})
        return
    for item in done:
        typer.echo(f"{item['file']}: {len(item['parts'])} parts, archived at {item['archived']}")
    if not done:
        typer.echo("no file over 1,500 lines")


def verify(db: str = _DB, directory: Path | None = _DIR, fmt: OutputFormat = FORMAT_OPTION) -> None:
    """Check the compendium's recorded history against itself and the files (exit 1 if not)."""
    from tailguard.compendium import Compendium
    from tailguard.compendium import verify as run_verify
    from tailguard.ledger import Ledger

    with Ledger.open(db, create=False) as ledger:
        result = run_verify(ledger, Compendium(_dir(db, directory)))
    if fmt is OutputFormat.json:
        emit_json(result.to_dict())
    else:
        typer.echo(
            f"{result.files} files, {result.changes} recorded changes: "
            + ("ok" if result.ok else f"{len(result.problems)} problems")
        )
        for problem in result.problems:
            typer.echo(f"  {problem}")
    if not result.ok:
        raise typer.Exit(1)


def search(
    query: str = typer.Argument(..., help="Words to look for."),
    directory: Path = typer.Option(..., "--dir", help="The compendium directory.", file_okay=False),
    department: str | None = typer.Option(None, "--department", help="Only this department."),
    limit: int = typer.Option(5, "--limit", min=1, max=50),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The pattern cards that best match a query, most relevant first."""
    from tailguard.compendium import Compendium
    from tailguard.compendium import search as run_search

    hits = [
        h.to_dict()
        for h in run_search(Compendium(directory), query, department=department, limit=limit)
    ]
    if fmt is OutputFormat.json:
        emit_json({"cards": hits})
        return
    for hit in hits:
        typer.echo(f"[{hit['status']}] {hit['title']}: {hit['effect']} ({hit['path']})")


def register(app: typer.Typer) -> None:
    """Add the ``compendium`` command group to ``app``."""
    group = typer.Typer(
        name="compendium",
        help="The knowledge compendium: pattern cards, regressions, sharding, history.",
        no_args_is_help=True,
    )
    group.command("curate")(curate)
    group.command("shard")(shard)
    group.command("verify")(verify)
    group.command("search")(search)
    app.add_typer(group, name="compendium")
