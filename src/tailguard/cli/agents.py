"""CLI commands: ``tailguard agents run | catalogue``, the area agents on your own events."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail

CATALOGUE_OPTION = typer.Option(
    None, "--catalogue", help="Intervention catalogue YAML (default: the built-in one)."
)
RULES_OPTION = typer.Option(
    None, "--rules", help="Tail rule file (YAML); default the built-in rules."
)


def _load(catalogue: Path | None, rules: Path | None) -> tuple[Any, Any]:
    """The rule set and the catalogue (whose triggers may name the rule set's rules)."""
    from tailguard.agents.catalogue import default_catalogue, load_catalogue
    from tailguard.rules import builtin_rules, load_rules

    ruleset = load_rules(rules) if rules is not None else builtin_rules()
    if catalogue is None:
        return ruleset, default_catalogue()
    names = ruleset.names() if rules is not None else None
    return ruleset, load_catalogue(catalogue, rules=names)


def _hours(value: float) -> float:
    return round(value / 3600.0, 4)


def _area_types(path: Path | None) -> dict[str, str] | None:
    """The ``--area-types`` CSV as area id -> type; a bad file is refused with its line."""
    import csv

    if path is None:
        return None
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"area_id", "area_type"} <= set(reader.fieldnames):
                fail(f"{path}: needs the columns area_id,area_type")
            out: dict[str, str] = {}
            for row in reader:
                kind = (row.get("area_type") or "").strip()
                if kind not in ("urban", "suburban", "rural"):
                    fail(
                        f"{path}:{reader.line_num}: area_type {kind!r} is not urban, "
                        "suburban or rural"
                    )
                out[(row.get("area_id") or "").strip()] = kind
            return out
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        fail(f"{path}: cannot read the area types: {exc}")


def catalogue_dict(cat: Any) -> dict[str, Any]:
    """A validated catalogue as JSON-ready data: entries, triggers, policies."""
    entries = []
    for e in cat.entries:
        entries.append(
            {
                "id": e.id,
                "doc": e.doc,
                "trigger": list(e.trigger),
                "group": e.group,
                "weight": e.weight,
                "downstream": e.downstream,
                "tool": e.tool,
                "kind": e.kind,
                "target": {
                    "unit": e.target.unit,
                    "pick": e.target.pick,
                    "by": e.target.by,
                    "where": {k: dict(v) for k, v in e.target.where.items()},
                    "max_units": e.target.max_units,
                },
                "args": dict(e.args),
                "policy": e.policy.to_dict(),
                "cost_usd": e.cost_usd,
                "cooldown_h": _hours(e.cooldown.total_seconds()),
                "weekly_budget_usd": e.weekly_budget_usd,
                "weekly_max_actions": e.weekly_max_actions,
                "outcome": None
                if e.outcome is None
                else {
                    "kpi": e.outcome.kpi,
                    "scope": e.outcome.scope,
                    "horizon_h": _hours(e.outcome.horizon.total_seconds()),
                },
                "source": e.source,
            }
        )
    return {
        "source": cat.source,
        "digest": cat.digest,
        "policy_version": cat.policy_version,
        "area_weekly_budget_usd": cat.area_weekly_budget_usd,
        "max_actions_per_area_hour": cat.max_actions_per_area_hour,
        "entries": entries,
        "triggers": {t: [e.id for e in es] for t, es in sorted(cat.by_trigger().items())},
        "downstreams": sorted({e.downstream for e in cat.entries}),
    }


def catalogue(
    catalogue: Path | None = CATALOGUE_OPTION,
    rules: Path | None = RULES_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Validate a catalogue and print its entries, triggers and policies.

    A bad file exits 2 with file:line: reason.
    """
    _, cat = _load(catalogue, rules)
    data = catalogue_dict(cat)
    if fmt is OutputFormat.json:
        emit_json(data)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{data['source']} ({data['policy_version']}, "
        f"at most {data['max_actions_per_area_hour']} per area-hour)"
    )
    for col in ("entry", "trigger", "downstream", "kind", "policy", "cost", "cooldown"):
        table.add_column(col, no_wrap=col == "entry")
    for e in data["entries"]:
        policy = e["policy"]
        gate = ", gate" if policy.get("requires_approval") else ""
        table.add_row(
            e["id"],
            ", ".join(e["trigger"]),
            e["downstream"],
            e["kind"],
            f"{policy.get('risk_level')}{gate}",
            f"${e['cost_usd']:,.0f}",
            f"{e['cooldown_h']:g} h",
        )
    # Seven columns do not fit 80: widen rather than squash (a pager shows them whole).
    Console(width=max(Console().width, 150)).print(table)
    typer.echo(f"downstream agents: {', '.join(data['downstreams'])}")


@contextmanager
def _stop_on_signals(runner: Any) -> Iterator[None]:
    """SIGINT and SIGTERM ask the runner to stop after its current step (then print)."""
    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: object) -> None:
        runner.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        # Outside the main thread (embedded use) there are no handlers to set.
        with contextlib.suppress(ValueError):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for done, old in previous.items():
            signal.signal(done, old)


def _start(text: str | None) -> datetime | None:
    from tailguard.clock import parse_ts

    if text is None:
        return None
    try:
        return parse_ts(text)
    except ValueError:
        fail(f"--start {text!r} is not an RFC 3339 timestamp")


def run(
    events: Path | None = typer.Option(
        None, "--events", help="Replay an event file (.jsonl or .parquet), hour by hour."
    ),
    bus: str | None = typer.Option(
        None,
        "--bus",
        envvar="TAILGUARD_BUS",
        help="Follow a bus: nats://host:port?stream=S or redis://host:port/0?stream=S.",
    ),
    db: str = typer.Option(
        "tailguard.db",
        "--db",
        envvar="TAILGUARD_DB",
        help="Ledger URL (sqlite:///path.db, a path, postgresql://...); `tailguard serve --db` "
        "on the same URL is where people decide the gates.",
    ),
    pulse: str | None = typer.Option(
        None,
        "--pulse",
        envvar="TAILGUARD_PULSE",
        help="Pulse store URL (sqlite:///x.db or redis://...); default pulse.db beside the ledger.",
    ),
    downstream: list[str] = typer.Option(
        [],
        "--downstream",
        envvar="TAILGUARD_DOWNSTREAM",
        help="Base URL of the downstream agents (jobs go to URL/v1/interventions); repeat as "
        "NAME=URL to give one agent its own (see `tailguard agents catalogue`).",
    ),
    downstream_header: list[str] = typer.Option(
        [],
        "--downstream-header",
        help="A header every downstream call carries, as 'Name: value' (repeat for more), "
        "e.g. 'Authorization: Bearer TOKEN'.",
    ),
    catalogue: Path | None = CATALOGUE_OPTION,
    rules: Path | None = RULES_OPTION,
    hours: int | None = typer.Option(
        None, "--hours", min=1, help="Stop after N ticks (warm-up hours not counted)."
    ),
    warmup_days: float = typer.Option(
        7.0,
        "--warmup-days",
        min=0.0,
        help="Event time from the first event that only fills the KPI windows (no tick acts).",
    ),
    tick_every: float | None = typer.Option(
        None,
        "--tick-every",
        min=0.001,
        help="With --bus: tick every S seconds, each tick the next hour (tests, demos); "
        "default: at each wall-clock hour.",
    ),
    start: str | None = typer.Option(
        None,
        "--start",
        help="With --bus: the first tick's hour end, a whole UTC hour (default: the next "
        "wall-clock hour, or with --tick-every the first event's hour).",
    ),
    poll: float = typer.Option(
        5.0, "--poll", min=0.01, help="With --bus: seconds between polls for decided gates."
    ),
    dead_letter: Path | None = typer.Option(
        None,
        "--dead-letter",
        envvar="TAILGUARD_DEAD_LETTER",
        help="Where rejected events go (default: beside --events, or "
        "tailguard-agents.deadletter.jsonl).",
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the choice policy's draws."),
    policy: str = typer.Option(
        "fixed",
        "--policy",
        help="fixed (the catalogue's weights) or learning (nightly-updated, with a guardrail).",
    ),
    area_types: Path | None = typer.Option(
        None,
        "--area-types",
        help="CSV with columns area_id,area_type (urban, suburban, rural): the learning "
        "policy's context.",
    ),
    max_skew: str = typer.Option(
        "1d",
        "--max-skew",
        help="Events dated later than the wall clock plus this (1d, 6h, 90m, 30s) are "
        "rejected to the dead letter as future events.",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=0,
        max=65535,
        envvar="TAILGUARD_METRICS_PORT",
        help="Serve Prometheus metrics (tick durations, decisions) at :PORT/metrics while running.",
    ),
    metrics_host: str = typer.Option(
        "127.0.0.1", "--metrics-host", help="Address the metrics endpoint listens on."
    ),
    compendium: Path | None = typer.Option(
        None,
        "--compendium",
        file_okay=False,
        help="Keep this compendium directory curated while running (docs/compendium.md).",
    ),
    curate_every_runs: int = typer.Option(
        0, "--curate-every-runs", min=0, help="With --compendium: curate after N agent runs."
    ),
    curate_nightly: bool = typer.Option(
        True,
        "--curate-nightly/--no-curate-nightly",
        help="With --compendium: curate at the first tick of each day (event time).",
    ),
    crowd: bool = typer.Option(
        False,
        "--crowd/--no-crowd",
        help="Run the crowd exchange each night (event time): publish, estimate, local "
        "A/B tests, approval-gated roll-outs (docs/crowd.md).",
    ),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="Where the areas' scorecard state lives: local (this machine) or ray (Ray "
        "actors; needs the ray extra).",
    ),
    shards: int = typer.Option(
        1, "--shards", help="Parts the areas are split into (local processes or Ray actors)."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="With --engine ray: a Ray cluster to join (default: local)."
    ),
    shard_streams: str | None = typer.Option(
        None,
        "--shard-streams",
        help="Partitioned ingest (with --shards 2 or more): each shard reads its own areas' "
        "events from a stream of its own on this NATS or Redis bus (nats://HOST:PORT?stream="
        "NAME or redis://...), and a lost shard is rebuilt from it (docs/scale.md).",
    ),
    week_end: str = typer.Option(
        "sun 23:00",
        "--week-end",
        envvar="TAILGUARD_WEEK_END",
        help="When weeks end, in event time and the --tz zone: a weekday and a time ('sun "
        "23:00'), or 'off'. There the runner keeps the week's snapshot in the ledger's "
        "database, runs the weekly cycle and carries out next week's OKR levers (docs/weekly.md).",
    ),
    tz: str = typer.Option(
        "UTC", "--tz", envvar="TAILGUARD_TZ", help="The network's time zone (IANA name)."
    ),
    week_cycle: bool = typer.Option(
        True,
        "--week-cycle/--no-week-cycle",
        help="Run the weekly cycle at each week's end; with --no-week-cycle only keep the "
        "snapshots and run `tailguard week --db` on demand (the levers follow its OKRs).",
    ),
    week_out: Path | None = typer.Option(
        None,
        "--week-out",
        file_okay=False,
        help="Where the weekly cycle's pages go, one directory per week (default: weekly/ "
        "beside a SQLite ledger, else ./tailguard-weekly).",
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Run the area agents on your events: REST downstream agents, people at the gates.

    Prints what the run did (ticks, decisions by kind, gates, executed, dead letters).
    Spans of the governed calls are exported as the OTEL_* variables say (docs/service.md).
    """
    from datetime import timedelta

    from tailguard.agents.routing import DownstreamRoutes
    from tailguard.agents.runner import RunnerConfig, redact
    from tailguard.agents.weekly import WeekSchedule
    from tailguard.events.io import event_format
    from tailguard.events.skew import parse_skew
    from tailguard.metrics.files import default_dead_letter_path
    from tailguard.service.settings import ServiceSettings

    if (events is None) == (bus is None):
        fail("give exactly one of --events FILE (replay) or --bus URL (follow)")
    if events is not None:
        event_format(events)  # the suffix, before anything is opened
        if not events.is_file():
            fail(f"--events {str(events)!r}: no such file")
        if tick_every is not None or start is not None:
            fail("--tick-every and --start go with --bus (a replay follows the events' time)")
    if not downstream:
        fail("give --downstream URL (the downstream agents' base URL)")
    if engine not in ("local", "ray"):
        fail(f"--engine must be local or ray, got {engine!r}")
    if not 1 <= shards <= 256:
        fail(f"--shards must be between 1 and 256, got {shards}")
    if ray_address is not None and engine != "ray":
        fail("--ray-address needs --engine ray")
    if shard_streams is not None:
        from tailguard.engine.streams import shard_bus_url
        from tailguard.errors import InvalidInputError

        if shards < 2:
            fail("--shard-streams needs --shards 2 or more")
        try:
            shard_bus_url(shard_streams, 0)
        except InvalidInputError as exc:
            fail(f"--shard-streams: {exc.message}")
    when = _start(start)
    routes = DownstreamRoutes.parse(downstream)
    ruleset, cat = _load(catalogue, rules)
    dl = dead_letter or (
        default_dead_letter_path(events)
        if events is not None
        else Path("tailguard-agents.deadletter.jsonl")
    )
    config = RunnerConfig(
        downstream_headers=_headers(downstream_header),
        db=db,
        pulse=ServiceSettings(ledger_url=db, pulse_url=pulse).resolved_pulse_url(),
        downstream=routes,
        catalogue=cat,
        rules=ruleset,
        dead_letter=dl,
        warmup=timedelta(days=warmup_days),
        seed=seed,
        policy=policy,
        area_types=_area_types(area_types),
        max_future_skew=parse_skew(max_skew),
        compendium=compendium,
        curate_every_runs=curate_every_runs,
        curate_nightly=curate_nightly,
        crowd=crowd,
        engine=engine,
        shards=shards,
        ray_address=ray_address,
        shard_streams=shard_streams,
        week=WeekSchedule.parse(week_end, tz),
        week_cycle=week_cycle,
        week_out=week_out,
    )
    from tailguard.telemetry import configure_tracing, serve_metrics

    provider = configure_tracing("tailguard-agents")
    stop_metrics = (
        serve_metrics(metrics_port, host=metrics_host) if metrics_port is not None else None
    )
    try:
        summary = _run(
            runner_config=config,
            events=events,
            bus=bus,
            hours=hours,
            when=when,
            tick_every=tick_every,
            poll=poll,
            fmt=fmt,
        )
    finally:
        if stop_metrics is not None:
            stop_metrics()
        if provider is not None:
            provider.force_flush()
    data = {"db": redact(db), **summary.to_dict()}
    if fmt is OutputFormat.json:
        emit_json(data)
    else:
        _print(data)


def _run(
    *,
    runner_config: Any,
    events: Path | None,
    bus: str | None,
    hours: int | None,
    when: datetime | None,
    tick_every: float | None,
    poll: float,
    fmt: OutputFormat,
) -> Any:
    from tailguard.agents.runner import AgentRunner, redact

    config = runner_config
    with AgentRunner(config) as runner, _stop_on_signals(runner):
        if events is not None:
            summary = _replay(runner, events, hours, show=_tty(fmt))
        else:
            from tailguard.events import open_bus

            assert bus is not None
            stream = open_bus(bus, dead_letter=runner.dead_letter)
            typer.echo(f"following {redact(bus)}; Ctrl-C or SIGTERM stops", err=True)
            try:
                summary = runner.follow(
                    stream,
                    source=redact(bus),
                    hours=hours,
                    tick_every=tick_every,
                    start=when,
                    poll_s=poll,
                    on_hour=CatchUpProgress(runner, stream),
                )
            finally:
                stream.close()
    return summary


class CatchUpProgress:
    """Progress on stderr while a follow catches up the hours behind it (a backlog, the
    warm-up): a line at the first such hour, then at most one every ``every`` seconds, with
    the messages still waiting on the bus, and one line when the agents start acting."""

    def __init__(self, runner: Any, bus: Any, *, every: float = 5.0) -> None:
        self._runner = runner
        self._bus = bus
        self._every = every
        self._last: float | None = None
        self.hours = 0
        self._done = False

    def _left(self) -> str:
        from tailguard.errors import TailguardError

        try:
            left = self._bus.backlog()
        except TailguardError:
            left = None
        return "unknown" if left is None else str(left)

    def __call__(self, as_of: datetime, report: Any) -> None:
        import time

        events = self._runner.summary.events
        if report is None:
            self.hours += 1
            now = time.monotonic()
            if self._last is None or now - self._last >= self._every:
                self._last = now
                typer.echo(
                    f"catching up: hour ending {as_of:%Y-%m-%d %H:%M}Z, {self.hours} hours, "
                    f"{events} events read, {self._left()} messages waiting on the bus",
                    err=True,
                )
        elif self.hours and not self._done:
            self._done = True
            typer.echo(
                f"caught up: {self.hours} hours, {events} events read; acting from the hour "
                f"ending {as_of:%Y-%m-%d %H:%M}Z",
                err=True,
            )


def _headers(values: list[str]) -> dict[str, str]:
    """``--downstream-header 'Name: value'`` options as a mapping; a bad one is refused."""
    headers: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n") or "\n" in text:
            # The value is a secret more often than not: never echoed.
            fail("--downstream-header: give each as 'Name: value' (e.g. 'Authorization: Bearer T')")
        headers[name] = text.strip()
    return headers


def _tty(fmt: OutputFormat) -> bool:
    return fmt is OutputFormat.table and sys.stderr.isatty()


def _replay(runner: Any, events: Path, hours: int | None, *, show: bool) -> Any:
    if not show:
        return runner.replay(events, hours=hours)
    from rich.progress import Progress, SpinnerColumn, TextColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True) as progress:
        task = progress.add_task("reading events", total=None)

        def step(as_of: datetime, report: Any) -> None:
            s = runner.summary
            phase = "warm-up" if report is None else "tick"
            progress.update(
                task,
                description=f"{phase} {as_of:%Y-%m-%d %H:%M}Z: {s.ticks} ticks, "
                f"{sum(runner.learning.kinds.values())} decisions, {s.executed} executed",
            )

        return runner.replay(events, hours=hours, on_hour=step)


def _print(data: dict[str, Any]) -> None:
    gates, dec = data["gates"], data["decisions"]
    span = f"{data['first_as_of']} .. {data['last_as_of']}" if data["ticks"] else "no tick"
    typer.echo(f"tailguard agents run ({data['mode']} {data['source']} -> {data['db']})")
    typer.echo(
        f"  ticks: {data['ticks']} ({span}), warm-up hours: {data['warmup_hours']}, "
        f"stopped by: {data['stopped_by']}"
    )
    typer.echo(
        f"  events: {data['events']['ingested']} ingested, "
        f"{data['events']['duplicates']} duplicates, "
        f"{data['dead_letter']['count']} dead-lettered -> {data['dead_letter']['path']}"
    )
    kinds = ", ".join(f"{k} {n}" for k, n in dec["by_kind"].items()) or "none"
    typer.echo(f"  decisions: {dec['total']} ({kinds})")
    typer.echo(
        f"  gates: {gates['opened']} opened, {gates['pending']} pending, "
        f"{gates['approved']} approved, {gates['rejected']} rejected, "
        f"{gates['timed_out']} timed out"
    )
    typer.echo(
        f"  executed: {data['executed']}, failed: {data['failed']}, "
        f"rejected: {data['rejected']}, timeouts: {data['timeouts']}"
    )
    weekly = data["weekly"]
    if weekly["schedule"] != "off":
        typer.echo(
            f"  weekly ({weekly['schedule']}): weeks kept {len(weekly['snapshots'])}, cycles "
            f"{len(weekly['cycles'])}, lever calls {sum(weekly['lever_calls'].values())}"
            + (f", errors: {weekly['errors'][-1]}" if weekly["errors"] else "")
        )
    if gates["pending"]:
        typer.echo(
            f"  note: {gates['pending']} gate(s) still pending; this runner's gates are not "
            "carried out after it ends (docs/agents.md, limits)",
            err=True,
        )
    if data["approvers"] == 0 and gates["opened"]:
        typer.echo(
            "  note: no approver key in this ledger, so nobody can approve a gate "
            "(tailguard keys create --role approver)",
            err=True,
        )


def register(app: typer.Typer) -> None:
    """Add the ``agents`` command group to ``app``."""
    agents_app = typer.Typer(
        help="The planning-area agents on your own events.", no_args_is_help=True
    )
    agents_app.command("run")(run)
    agents_app.command("catalogue")(catalogue)
    app.add_typer(agents_app, name="agents")
