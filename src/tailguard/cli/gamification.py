"""CLI command group ``tailguard gamification``: the programme's methods against hidden truth."""

from __future__ import annotations

import sys

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail

gamification_app = typer.Typer(
    help="Gamification: TechPower, kit streaks, gaming flags, and their benchmark.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    gamification_app.command(name="bench")(bench)
    app.add_typer(gamification_app, name="gamification")


def bench(
    seeds: int = typer.Option(20, "--seeds", help="How many seeds (networks) to run."),
    seed_base: int = typer.Option(0, "--seed-base", help="The first seed."),
    areas: int = typer.Option(12, "--areas", help="Areas per network (half get the bonus)."),
    baseline_days: int = typer.Option(
        28, "--baseline-days", help="Days of history before the bonus (each tech's baseline)."
    ),
    weeks: int = typer.Option(6, "--weeks", help="Weeks with the bonus."),
    bonus_usd: float = typer.Option(10.0, "--bonus-usd", help="Bonus per recorded first-time fix."),
    q: float = typer.Option(0.1, "--q", help="False discovery rate of the gaming flags."),
    layer: str = typer.Option(
        "ftf_bonus",
        "--layer",
        help="The reward under test: ftf_bonus (with the gaming flags), kit_streak (parts-kit "
        "streak prize) or coop (team bonus).",
    ),
    value_usd: float = typer.Option(
        None,
        "--value-usd",
        help="kit_streak or coop: the prize in USD (default $50 kit, $100 team bonus).",
    ),
    workers: int = typer.Option(1, "--workers", help="Processes (one seed each at a time)."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The gaming flags' precision and recall, and the fix bonus's recorded against its true
    effect on first-time fix, week by week over many seeds (means with 95 % intervals)."""
    from tailguard.demo.gamebench import GameBenchConfig
    from tailguard.demo.gamebench import bench as run_bench
    from tailguard.errors import InvalidInputError

    if seeds < 1 or workers < 1 or not 0 < q < 1:
        fail("--seeds and --workers must be >= 1 and --q in (0, 1)")
    try:
        config = GameBenchConfig(
            areas=areas,
            baseline_days=baseline_days,
            weeks=weeks,
            bonus_usd=bonus_usd,
            q=q,
            layer=layer,
            value_usd=value_usd,
        )
    except InvalidInputError as exc:
        fail(exc.message)

    def tell(done: int, total: int) -> None:
        print(f"gamification bench: {done}/{total} seeds", file=sys.stderr, flush=True)

    result = run_bench(
        list(range(seed_base, seed_base + seeds)), config, workers=workers, progress=tell
    )
    if fmt is OutputFormat.json:
        emit_json(result)
        return
    columns = (
        ("precision", "precision"),
        ("recall", "recall"),
        ("recorded_ftf_gain", "recorded FTF +pts"),
        ("true_ftf_gain", "true FTF +pts"),
        ("parts_missing_change", "parts missing /100"),
        ("bonus_usd_per_area_week", "bonus $/area-wk"),
    )
    typer.echo(f"layer: {result['config']['layer']} (${result['config']['value_usd']:g})")
    typer.echo(f"{'week':>4}  " + "  ".join(f"{title:>20}" for _, title in columns))
    for row in result["by_week"]:
        typer.echo(f"{row['week']:>4}  " + "  ".join(f"{_cell(row[c]):>20}" for c, _ in columns))
    typer.echo(
        f"bonus paid per true FTF point (area-week): {result['usd_per_true_ftf_point_area_week']}"
    )


def _cell(stat: dict[str, object]) -> str:
    mean, ci = stat.get("mean"), stat.get("ci95")
    if mean is None:
        return "n/a"
    if not isinstance(ci, list):
        return f"{mean:.3g}"
    return f"{mean:.3g} [{ci[0]:.3g}, {ci[1]:.3g}]"
