"""CLI commands: ``tailguard crowd estimate | top | bench`` (INTERFACES.md section 6)."""

from __future__ import annotations

from pathlib import Path

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json


def estimate(
    panel: Path = typer.Option(
        ...,
        "--panel",
        help="CSV with columns unit,period,y,first_treated (empty or 0: never treated).",
        dir_okay=False,
    ),
    control: str = typer.Option(
        "not_yet_treated",
        "--control",
        help="Control units: not_yet_treated (default, includes never treated) or never_treated.",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Staggered-adoption ATT (Callaway-Sant'Anna) over all post-treatment periods."""
    from tailguard.crowd import callaway_santanna, read_panel_csv
    from tailguard.errors import InvalidInputError

    if control not in ("not_yet_treated", "never_treated"):
        raise InvalidInputError(
            f"--control must be not_yet_treated or never_treated, not {control!r}"
        )
    result = callaway_santanna(read_panel_csv(panel), control=control)  # type: ignore[arg-type]
    if fmt is OutputFormat.json:
        emit_json(result.to_dict())
        return
    lo, hi = result.ci95
    typer.echo(
        f"ATT {result.att:.4f} (SE {result.se:.4f}, 95 % CI {lo:.4f} to {hi:.4f}), "
        f"{result.method}, {len(result.cells)} cells, {result.n_treated_units} treated of "
        f"{result.n_units} units"
    )


def register(app: typer.Typer) -> None:
    """Add the ``crowd`` command group to ``app``."""
    group = typer.Typer(
        name="crowd",
        help="The crowd exchange: causal lift of tactics across areas, top 3, benchmark.",
        no_args_is_help=True,
    )
    group.command("estimate")(estimate)
    app.add_typer(group, name="crowd")
