"""``tailguard agents run --engine ray --shards N``: the runner on a replayed file gives the
same summary on Ray actors (ledger on PostgreSQL) as in one process (ledger on SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailguard.agents.testing import RecordingDownstreamServer
from tailguard.cli import main
from tailguard.events.io import EventWriter
from tailguard.sim import NetworkConfig, Simulator

# Engine equality does not depend on the date: left out of the year-ahead run.
pytestmark = pytest.mark.slow


def write_sim_events(path: Path, *, areas: int, days: int) -> Path:
    """``days`` of a simulated network's events in ``path`` (as ``tailguard simulate``)."""
    with EventWriter(path) as writer:
        for table in Simulator(NetworkConfig(areas=areas, seed=11)).run(days * 24):
            writer.write(table)
    return path


def _cli(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(args)
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), out, err


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code, out, err = _cli(capsys, args)
    assert code == 0, err
    summary: dict[str, object] = json.loads(out)
    return summary


@pytest.mark.usefixtures("local_ray")
def test_agents_run_on_ray_shards_matches_one_process(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two Ray actors hold the areas; decisions, gates and events counted are unchanged."""
    events = write_sim_events(tmp_path / "events.jsonl", areas=6, days=3)
    summaries = []
    with RecordingDownstreamServer() as server:
        for name, db, extra in (
            ("local", f"sqlite:///{tmp_path / 'one.db'}", []),
            ("ray", pg_url, ["--engine", "ray", "--shards", "2"]),
        ):
            args = ["agents", "run", "--events", str(events), "--db", db, "--warmup-days", "2"]
            args += ["--pulse", str(tmp_path / f"{name}-pulse.db"), "--downstream", server.url]
            args += ["--dead-letter", str(tmp_path / f"{name}.dead.jsonl"), "--format", "json"]
            summaries.append(_run([*args, *extra], capsys))
    one, ray = summaries
    for key in ("ticks", "events", "decisions", "executed", "gates", "failed"):
        assert one[key] == ray[key], key
    assert one["decisions"]["total"] > 0  # type: ignore[index]


def test_agents_run_with_per_shard_streams_matches_one_process(
    tmp_path: Path, nats_url: str, unique_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two worker processes, each reading its own areas' events from its own JetStream
    stream: the same ticks, events, decisions and gates as one process."""
    from tailguard.engine.streams import ShardStreams

    events = write_sim_events(tmp_path / "events.jsonl", areas=6, days=3)
    streams_url = f"{nats_url}?stream={unique_prefix}"
    summaries = []
    try:
        with RecordingDownstreamServer() as server:
            for name, extra in (
                ("one", []),
                ("streams", ["--shards", "2", "--shard-streams", streams_url]),
            ):
                args = ["agents", "run", "--events", str(events), "--warmup-days", "2"]
                args += ["--db", f"sqlite:///{tmp_path / f'{name}.db'}"]
                args += ["--pulse", str(tmp_path / f"{name}-pulse.db"), "--downstream", server.url]
                args += ["--dead-letter", str(tmp_path / f"{name}.dead.jsonl"), "--format", "json"]
                summaries.append(_run([*args, *extra], capsys))
    finally:
        streams = ShardStreams(streams_url, 2)
        streams.drop()
        streams.close()
    one, split = summaries
    for key in ("ticks", "events", "decisions", "executed", "gates", "failed"):
        assert one[key] == split[key], key
    assert one["decisions"]["total"] > 0  # type: ignore[index]


def test_agents_run_refuses_a_bad_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown engine or shard count is one line on stderr and exit code 2."""
    events = write_sim_events(tmp_path / "events.jsonl", areas=1, days=1)
    base = ["agents", "run", "--events", str(events), "--db", f"sqlite:///{tmp_path / 'x.db'}"]
    base += ["--downstream", "http://127.0.0.1:9"]
    bad = (
        ["--engine", "spark"],
        ["--shards", "0"],
        ["--ray-address", "auto"],
        ["--shards", "2", "--shard-streams", "memory://"],
        ["--shard-streams", "nats://127.0.0.1:4222?stream=x"],
    )
    for extra in bad:
        code, _out, text = _cli(capsys, [*base, *extra])
        assert code == 2
        err = text.strip().splitlines()
        assert len(err) == 1
        assert err[0].startswith("tailguard: error:")
