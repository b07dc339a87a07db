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
        help="The layer under test: ftf_bonus (with the gaming flags), kit_streak (parts-kit "
        "streak prize), coop (team bonus), missions (sprint missions for the tail) or replays "
        "(peer replays recommended for weak job codes).",
    ),
    value_usd: float = typer.Option(
        None,
        "--value-usd",
        help="kit_streak or coop: the prize in USD (default $50 kit, $100 team bonus).",
    ),
    workers: int = typer.Option(1, "--workers", help="Processes (one seed each at a time)."),
    coop_target_pct: float = typer.Option(
        88.0,
        "--coop-target-pct",
        help="coop: the team's recorded first-time fix over a week that earns the bonus "
        "(the programme's default 88).",
    ),
    twin: bool = typer.Option(
        True,
        "--twin/--no-twin",
        help="Also run each network without the layer (same seed) for the true effects on the "
        "tails (about twice the time).",
    ),
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
            twin=twin,
            coop_target_pct=coop_target_pct,
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
    columns: tuple[tuple[str, str], ...] = (
        ("precision", "precision"),
        ("recall", "recall"),
        ("recorded_ftf_gain", "FTF measured"),
        ("ftf_true_effect", "FTF true"),
        ("earnings_p10_measured", "earn P10 measured"),
        ("earnings_p10_true_effect", "earn P10 true"),
        ("recall_p90_measured", "recall P90 measured"),
        ("recall_p90_true_effect", "recall P90 true"),
        ("spend_usd_per_area_week", "spend $/area-wk"),
    )
    if result["config"]["layer"] == "missions":
        columns += (("mission_ftf_measured", "mission techs FTF"), ("mission_ftf_true", "true"))
    typer.echo(f"layer: {result['config']['layer']} (${result['config']['value_usd']:g})")
    typer.echo(f"{'week':>4}  " + "  ".join(f"{title:>22}" for _, title in columns))
    for row in result["by_week"]:
        typer.echo(
            f"{row['week']:>4}  " + "  ".join(f"{_cell(row.get(c, {})):>22}" for c, _ in columns)
        )
    per_point = result["spend_per_true_point"]
    for tail in ("ftf_pts", "earnings_p10_usd_week", "recall_p90_pts"):
        typer.echo(
            f"spend per true point of {tail} (area-week): "
            f"{per_point[tail]['usd_per_point_area_week']}"
        )


def _cell(stat: dict[str, object]) -> str:
    mean, ci = stat.get("mean"), stat.get("ci95")
    if mean is None:
        return "n/a"
    if not isinstance(ci, list):
        return f"{mean:.3g}"
    return f"{mean:.3g} [{ci[0]:.3g}, {ci[1]:.3g}]"
