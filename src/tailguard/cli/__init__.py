"""The ``tailguard`` command line: a thin Typer layer over the library.

Each command group lives in its own module with a ``register(app)`` function. :func:`main` maps
usage errors and :class:`~tailguard.errors.TailguardError` to exit code 2 with a one-line reason
on stderr (INTERFACES.md section 3).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from tailguard.errors import TailguardError

app = typer.Typer(
    name="tailguard",
    help="Governed operations agents for a field-service network.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command()
def version() -> None:
    """Print the tailguard version."""
    from tailguard import __version__

    typer.echo(__version__)


def _register_all() -> None:
    from tailguard.cli import (
        agents,
        chat,
        compendium,
        crowd,
        db,
        demo,
        events,
        gamification,
        keys,
        learn,
        ledger,
        mcp,
        ops,
        scorecard,
        serve,
        simulate,
        tools,
        week,
    )

    for module in (demo, simulate, scorecard, ledger, tools, chat, keys, serve, mcp, week):
        module.register(app)
    agents.register(app)
    events.register(app)
    learn.register(app)
    crowd.register(app)
    compendium.register(app)
    gamification.register(app)
    ops.register(app)
    db.register(app)


_register_all()


def _is_a(exc: BaseException, name: str) -> bool:
    # Typer vendors its own copy of click in recent releases, so match click's exception
    # classes by name rather than importing one particular copy of them.
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; exit 0 on success, 1 when a check failed, 2 on bad usage or input."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="tailguard", standalone_mode=False)
    except TailguardError as exc:
        sys.stderr.write(f"tailguard: error: {' '.join(str(exc).split())}\n")
        sys.exit(exc.exit_code)
    except Exception as exc:
        if _is_a(exc, "NoArgsIsHelpError"):
            ctx = getattr(exc, "ctx", None)
            sys.stdout.write((ctx.get_help() if ctx else str(exc)) + "\n")
            sys.exit(0)
        if _is_a(exc, "UsageError") or _is_a(exc, "BadParameter"):
            message = " ".join(str(getattr(exc, "format_message", exc.__str__)()).split())
            sys.stderr.write(f"tailguard: error: {message}\n")
            sys.exit(2)
        if _is_a(exc, "Abort"):
            sys.stderr.write("tailguard: aborted\n")
            sys.exit(130)
        raise
    sys.exit(result if isinstance(result, int) else 0)
