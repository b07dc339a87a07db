"""CLI commands: ``tailguard events schema | publish``, the event language for producers."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, fail


def schema(
    event_type: str | None = typer.Option(
        None, "--type", help="Only this event type's schema (e.g. job.completed)."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Print the JSON Schema of every event type (docs/events.schema.json is the same).

    The schema is derived from the Arrow schemas tailguard validates events against.
    """
    from tailguard.events.jsonschema import event_json_schema, type_schema
    from tailguard.events.schema import EVENT_TYPES

    if event_type is None:
        document = event_json_schema()
    elif event_type in EVENT_TYPES:
        document = type_schema(event_type)
    else:
        fail(f"--type {event_type!r} is not an event type (one of {', '.join(EVENT_TYPES)})")
    if fmt is OutputFormat.json:
        emit_json(document)
    else:
        typer.echo(json.dumps(document, indent=2))


def publish(
    file: Path = typer.Argument(..., help="Event file (.jsonl, .jsonl.gz, .parquet)."),
    bus: str = typer.Option(
        ...,
        "--bus",
        envvar="TAILGUARD_BUS",
        help="nats://host:port?stream=S or redis://host:port/0?stream=S (as `agents run`; "
        "&batch=N sets the events per message).",
    ),
    wire: str = typer.Option(
        "json", "--as", help="Message format: json (the default) or arrow (tailguard's IPC)."
    ),
    dead_letter: Path | None = typer.Option(
        None, "--dead-letter", help="Where invalid events go (default: beside FILE)."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Publish the valid events of a file to a bus as JSON; invalid ones go to the dead letter.

    Prints how many events were published and how many were set aside.
    """
    from tailguard.agents.runner import redact
    from tailguard.events import DeadLetterSink, open_bus, read_events
    from tailguard.events.bus.wire import WireFormat, parse_format
    from tailguard.events.io import event_format
    from tailguard.metrics.files import default_dead_letter_path

    chosen = parse_format(wire)
    if chosen is WireFormat.auto:
        fail("--as takes json or arrow")
    event_format(file)  # the suffix, before anything is opened
    if not file.is_file():
        fail(f"{str(file)!r}: no such event file")
    dl = dead_letter or default_dead_letter_path(file)
    published = 0
    with DeadLetterSink(dl) as sink:
        stream = open_bus(bus, format=chosen.value)
        try:
            for table in read_events(file, dead_letter=sink):
                published += stream.publish(table)
        finally:
            stream.close()
        rejected = sink.count
    data = {
        "file": str(file),
        "bus": redact(bus),
        "format": chosen.value,
        "published": published,
        "dead_letter": {"count": rejected, "path": str(dl)},
    }
    if fmt is OutputFormat.json:
        emit_json(data)
        return
    typer.echo(f"published {published} events to {data['bus']} as {chosen.value}")
    if rejected:
        typer.echo(f"  {rejected} invalid event(s) set aside in {dl}", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``events`` command group to ``app``."""
    events_app = typer.Typer(
        help="The event language: its JSON Schema, and publishing events to a bus.",
        no_args_is_help=True,
    )
    events_app.command("schema")(schema)
    events_app.command("publish")(publish)
    app.add_typer(events_app, name="events")
