"""The area agents on real parts: a replayed event file, REST downstream agents, people at gates.

Every test talks to a real HTTP downstream server on loopback and real stores: SQLite, or
PostgreSQL for the ledger with Redis for the pulse table; the follow test reads NATS JetStream.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tailguard.agents.routing import DownstreamRoutes
from tailguard.agents.runner import AgentRunner, HourBuffer, RunnerConfig, hour_end
from tailguard.agents.testing import RecordingDownstreamServer
from tailguard.cli import main
from tailguard.errors import InvalidInputError
from tailguard.events import open_bus, read_all

from ._runs import MALFORMED, Person, with_malformed, write_sim_events


@pytest.fixture(scope="module")
def sim_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight simulated days of three areas (seven fill the windows, the eighth is ticked)."""
    return write_sim_events(tmp_path_factory.mktemp("events") / "events.jsonl")


def _config(
    db: str, pulse: str, url: str, tmp_path: Path, *, warmup: timedelta = timedelta(days=7)
) -> RunnerConfig:
    return RunnerConfig(
        db=db,
        pulse=pulse,
        downstream=DownstreamRoutes.parse([url]),
        dead_letter=tmp_path / "dead.jsonl",
        warmup=warmup,
    )


def _steps(runner: AgentRunner) -> pl.DataFrame:
    """The latest record of every ledger step."""
    rows = [dict(r.fields, seq=r.seq) for r in runner.ledger.records(kind="step")]
    return pl.DataFrame(rows, infer_schema_length=None).sort("seq").unique("step_id", keep="last")


def test_replay_executes_low_risk_once_and_high_risk_only_after_a_person_approves(
    stores: tuple[str, str], sim_file: Path, tmp_path: Path
) -> None:
    """Low-risk calls reach the downstream once; gated ones wait, and run once when approved."""
    db, pulse = stores
    with (
        RecordingDownstreamServer() as server,
        AgentRunner(_config(db, pulse, server.url, tmp_path)) as runner,
    ):
        person = Person(db, runner.clock)
        try:
            hours = runner.replay_hours(sim_file, hours=10)
            gates: list[str] = []
            while len(gates) < 3:  # tick until three gates wait for a person
                _as_of, report = next(hours)
                if report is not None:
                    gates = [g.gate_id for g in runner.control.pending_gates()]
            waiting = {g.gate_id: g for g in runner.control.pending_gates()}
            at_tick, between, rejected = gates[:3]
            keys = {g: waiting[g].idempotency_key for g in (at_tick, between, rejected)}
            # Nothing gated has reached the downstream agent while its gate is pending.
            assert not set(keys.values()) & {r.idempotency_key for r in server.received}
            person.decide(at_tick, "approve")
            person.decide(rejected, "reject")
            # Decided, not yet run: the service holds no handler for the agents' tools.
            assert keys[at_tick] not in server.executed
            next(hours)  # the next tick resumes the approved call
            assert keys[at_tick] in server.executed
            # Between ticks the runner's gate poll (what follow mode runs) resumes at once.
            person.decide(between, "approve")
            assert keys[between] not in server.executed
            runner.poll_gates(runner.clock.now() + timedelta(minutes=20))
            assert keys[between] in server.executed
            for _ in hours:
                pass
            summary = runner.finish()
        finally:
            person.close()
        received = Counter(r.idempotency_key for r in server.received)
        executed = server.executed
        steps = _steps(runner)
    # Each approved call ran exactly once; the rejected one never reached the agent.
    assert received[keys[at_tick]] == received[keys[between]] == 1
    assert keys[rejected] not in received
    # Every low-risk step the ledger records as executed reached the agent exactly once.
    low = steps.filter((pl.col("risk_level") == "execute_low") & (pl.col("status") == "executed"))
    assert low.height > 0
    assert all(received[s] == 1 for s in low["step_id"])
    # No high-risk step ran without an approved gate, and nothing ran twice.
    high = steps.filter((pl.col("risk_level") == "execute_high") & (pl.col("status") == "executed"))
    assert set(high["step_id"]) <= set(executed)
    assert high.height >= 2
    assert max(received.values()) == 1
    assert summary.ticks == 10
    assert summary.gates["approved"] >= 2
    assert summary.gates["rejected"] >= 1
    assert summary.executed == len(executed)
    assert summary.approvers == 1
    # The run's trail passes `tailguard ledger verify`.
    with pytest.raises(SystemExit) as done:
        main(["ledger", "verify", "--db", db])
    assert done.value.code == 0


def test_replay_dead_letters_malformed_lines_and_counts_them(
    tmp_path: Path, sim_file: Path
) -> None:
    """Malformed lines go to the dead-letter file with their reasons; the rest is replayed."""
    bad = with_malformed(sim_file, tmp_path / "bad.jsonl")
    with (
        RecordingDownstreamServer() as server,
        AgentRunner(
            _config(
                f"sqlite:///{tmp_path / 'l.db'}",
                str(tmp_path / "p.db"),
                server.url,
                tmp_path,
                warmup=timedelta(0),
            )
        ) as runner,
    ):
        summary = runner.replay(bad, hours=2)
    assert summary.dead_lettered == len(MALFORMED)
    letters = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert len(letters) == len(MALFORMED)
    for letter, (raw, word) in zip(letters, MALFORMED, strict=True):
        assert letter["raw"] == raw
        assert word in letter["reason"]
    assert summary.ticks == 2
    assert summary.warmup_hours == 0


def test_hours_are_ticked_in_event_time_with_late_events_in_the_next_tick() -> None:
    """The buffer hands out events up to each hour's end; a late event joins the next take."""
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    frame = pl.DataFrame(
        {"ts": [t0 + timedelta(minutes=m) for m in (10, 60, 61, 130)], "n": [1, 2, 3, 4]}
    )
    buffer = HourBuffer()
    buffer.add(frame)
    assert hour_end(t0 + timedelta(minutes=10)) == t0 + timedelta(hours=1)
    assert hour_end(t0 + timedelta(hours=1)) == t0 + timedelta(hours=1)
    assert buffer.take(t0 + timedelta(hours=1))["n"].to_list() == [1, 2]
    buffer.add(pl.DataFrame({"ts": [t0 + timedelta(minutes=5)], "n": [5]}))  # late
    assert buffer.take(t0 + timedelta(hours=2))["n"].to_list() == [3, 5]
    assert buffer.take(t0 + timedelta(hours=3))["n"].to_list() == [4]
    assert len(buffer) == 0


@pytest.mark.nats
def test_follow_ticks_the_published_hours_in_compressed_time(
    tmp_path: Path, nats_url: str, unique_prefix: str
) -> None:
    """Events published on NATS JetStream are ticked hour by hour with --tick-every."""
    events = write_sim_events(tmp_path / "day.jsonl", areas=2, days=1, seed=5)
    table = read_all(events)
    publisher = open_bus(f"{nats_url}?stream={unique_prefix}")
    try:
        publisher.publish(table)
        with (
            RecordingDownstreamServer() as server,
            AgentRunner(
                _config(
                    f"sqlite:///{tmp_path / 'l.db'}",
                    str(tmp_path / "p.db"),
                    server.url,
                    tmp_path,
                    warmup=timedelta(hours=2),
                )
            ) as runner,
        ):
            consumer = open_bus(f"{nats_url}?stream={unique_prefix}")
            try:
                summary = runner.follow(
                    consumer, source="nats", hours=2, tick_every=0.05, poll_s=0.02
                )
            finally:
                consumer.close()
            assert runner.pulse is not None
            history = runner.pulse.history()
    finally:
        publisher.drop()
        publisher.close()
    first = hour_end(table.column("ts").to_pylist()[0])
    assert summary.warmup_hours == 2
    assert summary.ticks == 2
    assert summary.first_as_of == first + timedelta(hours=2)
    assert summary.stopped_by == "hours"
    assert sorted(set(history["as_of"].to_list())) == [
        first + timedelta(hours=2),
        first + timedelta(hours=3),
    ]
    assert summary.events > 0


def test_stop_ends_a_follow_between_steps(tmp_path: Path) -> None:
    """A stop request (what SIGINT and SIGTERM send) ends a follow cleanly with a summary."""
    with (
        RecordingDownstreamServer() as server,
        AgentRunner(
            _config(f"sqlite:///{tmp_path / 'l.db'}", str(tmp_path / "p.db"), server.url, tmp_path)
        ) as runner,
    ):
        bus = open_bus("memory://")
        timer = threading.Timer(0.2, runner.stop)
        timer.start()
        summary = runner.follow(bus, source="memory", tick_every=0.01, poll_s=0.02)
        timer.join()
        bus.close()
    assert summary.stopped_by == "stopped"
    assert summary.ticks == 0  # no event arrived, so the compressed clock never started


_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_urls = st.builds(
    lambda host, port, path: f"http://{host}:{port}{path}",
    st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,5})?", fullmatch=True),
    st.integers(1, 65535),
    st.sampled_from(["", "/", "/agents", "/a/b/"]),
)


@given(default=st.none() | _urls, named=st.dictionaries(_names, _urls, max_size=5))
def test_downstream_routes_parse_what_they_are_given(
    default: str | None, named: dict[str, str]
) -> None:
    """A default URL and NAME=URL pairs parse back to the same routes, trailing slash dropped."""
    values = [f"{n}={u}" for n, u in named.items()] + ([default] if default else [])
    routes = DownstreamRoutes.parse(values)
    assert routes.default == (default.rstrip("/") if default else None)
    assert dict(routes.by_name) == {n: u.rstrip("/") for n, u in named.items()}
    for name in named:
        assert routes.url_for(name) == named[name].rstrip("/")


@given(st.text(max_size=40))
def test_downstream_routes_refuse_anything_else_with_a_clear_error(text: str) -> None:
    """Arbitrary text either parses to http(s) routes or is refused with InvalidInputError."""
    routes: DownstreamRoutes | None = None
    error = ""
    try:
        routes = DownstreamRoutes.parse([text])
    except InvalidInputError as exc:
        error = str(exc)
    if routes is None:
        assert error.startswith("--downstream")
        assert "\n" not in error
    else:
        assert all(u.startswith(("http://", "https://")) for u in routes.urls())


def test_replay_jumps_a_gap_longer_than_the_window_and_warms_up_again(
    tmp_path: Path, sim_file: Path
) -> None:
    """A stray epoch-zero event does not make a replay tick through decades of empty hours."""
    stray = {
        "event_id": "STRAY-1",
        "type": "tech.status",
        "ts": "1970-01-01T00:00:00Z",
        "area_id": "PA-0001",
        "tech_id": "T-STRAY",
        "status": "available",
    }
    events = tmp_path / "stray.jsonl"
    events.write_text(json.dumps(stray) + "\n" + sim_file.read_text(encoding="utf-8"))
    with (
        RecordingDownstreamServer() as server,
        AgentRunner(
            _config(f"sqlite:///{tmp_path / 'l.db'}", str(tmp_path / "p.db"), server.url, tmp_path)
        ) as runner,
    ):
        summary = runner.replay(events, hours=1)
    first_real = hour_end(read_all(sim_file).column("ts").to_pylist()[0])
    assert summary.skipped_hours == round(
        (first_real - datetime(1970, 1, 1, 1, tzinfo=UTC)) / timedelta(hours=1)
    )
    assert summary.warmup_hours == 1 + 7 * 24  # the stray hour, then a fresh warm-up
    assert summary.first_as_of == first_real + timedelta(days=7)


class _Wall:
    """A wall clock that moves a minute each time it is read (a day of waiting in no time)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._mono = 0.0

    def now(self) -> datetime:
        self._now += timedelta(minutes=1)
        return self._now

    def monotonic(self) -> float:
        self._mono += 60.0
        return self._mono


def test_follow_on_the_wall_clock_catches_up_the_backlog_then_ticks_live(tmp_path: Path) -> None:
    """Hours that ended before the runner started only fill windows; the next hour is ticked."""
    events = write_sim_events(tmp_path / "day.jsonl", areas=2, days=1, seed=6)
    table = read_all(events)
    first = hour_end(table.column("ts").to_pylist()[0])
    bus = open_bus("memory://")
    bus.publish(table)
    with (
        RecordingDownstreamServer() as server,
        AgentRunner(
            _config(
                f"sqlite:///{tmp_path / 'l.db'}",
                str(tmp_path / "p.db"),
                server.url,
                tmp_path,
                warmup=timedelta(hours=12),
            )
        ) as runner,
    ):
        wall = _Wall(datetime(2026, 1, 6, 0, 30, tzinfo=UTC))
        summary = runner.follow(bus, source="memory", hours=1, poll_s=0.01, wall=wall)
    bus.close()
    live = datetime(2026, 1, 6, 1, tzinfo=UTC)
    assert summary.warmup_hours == round((live - first) / timedelta(hours=1))
    assert summary.ticks == 1
    assert summary.first_as_of == live


def test_follow_resumes_a_person_s_approval_between_ticks(tmp_path: Path) -> None:
    """An approval made after a tick runs at the next gate poll, before the next tick."""
    table = read_all(write_sim_events(tmp_path / "day.jsonl", areas=2, days=1, seed=6))
    bus = open_bus("memory://")
    bus.publish(table)
    db = f"sqlite:///{tmp_path / 'l.db'}"
    decided: dict[str, object] = {}
    with (
        RecordingDownstreamServer() as server,
        AgentRunner(
            _config(db, str(tmp_path / "p.db"), server.url, tmp_path, warmup=timedelta(hours=12))
        ) as runner,
    ):
        person = Person(db, runner.clock)

        def approve_first_gate(as_of: datetime, report: object) -> None:
            waiting = runner.control.pending_gates()
            if report is None or decided or not waiting:
                return
            person.decide(waiting[0].gate_id, "approve")
            decided.update(as_of=as_of, key=waiting[0].idempotency_key, gate=waiting[0].gate_id)

        try:
            runner.follow(
                bus,
                source="memory",
                hours=6,
                poll_s=0.01,
                wall=_Wall(datetime(2026, 1, 6, 0, 30, tzinfo=UTC)),
                on_hour=approve_first_gate,
            )
        finally:
            person.close()
        row = runner.learning.frame().filter(pl.col("gate_id") == decided["gate"])
        received = Counter(r.idempotency_key for r in server.received)
    bus.close()
    assert received[decided["key"]] == 1
    executed_at = row["executed_at"].item()
    assert isinstance(decided["as_of"], datetime)
    assert decided["as_of"] < executed_at < decided["as_of"] + timedelta(hours=1)


def test_the_learning_policy_runs_on_a_real_deployment(sim_file: Path, tmp_path: Path) -> None:
    """``--policy learning``: versions in the ledger, decisions logged with arms and hold."""
    import json

    db, pulse = f"sqlite:///{tmp_path / 'l.db'}", f"sqlite:///{tmp_path / 'p.db'}"
    config = replace(
        _config(db, pulse, "http://127.0.0.1:9", tmp_path),
        policy="learning",
        area_types={"PA-0000": "urban", "PA-0001": "rural"},
    )
    with RecordingDownstreamServer() as server:
        config = replace(config, downstream=DownstreamRoutes.parse([server.url]))
        with AgentRunner(config) as runner:
            for _ in runner.replay_hours(sim_file, hours=24):
                pass
            frame = runner.learning.frame()
            versions = [r.fields for r in runner.ledger.records(kind="policy")]
            assert runner.ledger.verify().ok
    assert versions
    assert versions[0]["policy_id"] == "lp-0001-prior"
    assert frame.height > 0
    assert all(v.startswith("lp-") for v in frame["policy_version"].to_list())
    contexts = [json.loads(c) for c in frame["context"].to_list()]
    assert all(c["arms"][-1].startswith("hold:") for c in contexts)
    assert {c["bucket"].split("|")[0] for c in contexts} <= {"urban", "rural", "unknown"}
    with pytest.raises(InvalidInputError, match="unknown policy"):
        replace(config, policy="greedy")


def test_a_running_deployment_keeps_its_compendium_curated(sim_file: Path, tmp_path: Path) -> None:
    """``--compendium DIR``: the curator runs at each new night of event time and after every
    N agent runs, as a governed ``curator`` run; the compendium verifies."""
    from tailguard.compendium import Compendium, verify

    db, pulse = f"sqlite:///{tmp_path / 'l.db'}", f"sqlite:///{tmp_path / 'p.db'}"
    book = tmp_path / "compendium"
    with RecordingDownstreamServer() as server:
        config = replace(
            _config(db, pulse, server.url, tmp_path),
            compendium=book,
            curate_every_runs=5,
            curate_nightly=True,
        )
        with AgentRunner(config) as runner:
            for _ in runner.replay_hours(sim_file, hours=24):
                pass
            summary = runner.finish().to_dict()
            curator_runs = [
                r.fields for r in runner.ledger.records(kind="run") if r.fields["role"] == "curator"
            ]
            assert verify(runner.ledger, Compendium(book)).ok
    assert summary["compendium"]["curations"] >= 1
    assert summary["compendium"]["errors"] == []
    assert curator_runs
    assert (book / "admin" / "metrics" / "weekly-summary.md").is_file()
    with pytest.raises(InvalidInputError):
        replace(config, curate_every_runs=-1)


def test_a_running_deployment_runs_the_crowd_exchange_each_night(
    sim_file: Path, tmp_path: Path
) -> None:
    """``--crowd``: at each new night of event time the areas publish their tactics (``tactic``
    ledger records) and the exchange runs; the chooser asks its local tests (none yet)."""
    db, pulse = f"sqlite:///{tmp_path / 'l.db'}", f"sqlite:///{tmp_path / 'p.db'}"
    with RecordingDownstreamServer() as server:
        config = replace(_config(db, pulse, server.url, tmp_path), crowd=True)
        with AgentRunner(config) as runner:
            assert runner.agents.chooser.cells is not None
            for _ in runner.replay_hours(sim_file, hours=24):
                pass
            summary = runner.finish().to_dict()
            published = list(runner.ledger.records(kind="tactic"))
            assert runner.ledger.verify().ok
    assert summary["crowd"]["errors"] == []
    assert summary["crowd"]["nights"] >= 1
    assert published
    assert {r.fields["area_id"] for r in published} <= {"PA-0001", "PA-0002", "PA-0003"}
