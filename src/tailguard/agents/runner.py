"""Wiring for a real deployment: your events, your stores, REST downstream agents, people at gates.

The counterpart of :mod:`.world` (which stays the simulator's): the same :class:`AreaAgents`
with a :class:`~tailguard.metrics.ScorecardEngine`, a pulse store (SQLite or Redis), a ledger
(SQLite or PostgreSQL), a control plane, the self-learn store and REST downstream agents, but
no simulated approver: a gated call waits until a person decides it (the dashboard or the
``/v1`` API of ``tailguard serve`` on the same ledger database), and the control plane's
approvers are the ledger's API keys of role ``approver`` or ``admin``, as in the service. No
such key means nobody can approve: gates wait and time out, nothing gated ever runs.

The runner is fed by :meth:`AgentRunner.replay` (an event file) or :meth:`AgentRunner.follow`
(a bus), its :class:`~.feed.Feeder`'s; how events become hours and ticks is :mod:`.feed`.

A runner started on stores where agents already acted picks up where the last one stopped
(:meth:`AreaAgents.recover`, before its first tick): it adopts the runs waiting at gates, so a
gate a person decides after the restart is resumed once by this runner, and it rebuilds the
cooldowns and weekly budgets from the recorded decisions. Until the warm-up ends it only
reconciles those gates; the KPI windows and the signals' history are rebuilt from the events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from opentelemetry import trace

from tailguard.agents.catalogue import Catalogue, default_catalogue
from tailguard.agents.feed import Feeder, HourBuffer, hour_end
from tailguard.agents.recovery import Recovery
from tailguard.agents.routing import DownstreamRoutes, RoutedDownstream
from tailguard.agents.summary import RunSummary
from tailguard.agents.tick import AreaAgents, TickReport, build_registry
from tailguard.agents.weekly import LiveWeekly, WeekSchedule
from tailguard.clock import Clock, FakeClock, SystemClock, format_ts
from tailguard.compendium import Compendium, CuratorSettings, Schedule, curate
from tailguard.control import ControlPlane
from tailguard.control import queries as control_queries
from tailguard.control.gates import Approvers
from tailguard.engine import ENGINES, Engine, open_engine
from tailguard.errors import InvalidInputError, TailguardError
from tailguard.events import Bus, DeadLetterSink, Deduplicator
from tailguard.events.skew import DEFAULT_MAX_SKEW
from tailguard.learning import Decision, SelfLearnStore, StatusUpdate
from tailguard.learning.loop import PolicyLearner
from tailguard.learning.versions import PolicyStore
from tailguard.ledger import Ledger
from tailguard.pulse import PulseStore
from tailguard.rules import RuleSet, builtin_rules

__all__ = ["AgentRunner", "HourBuffer", "RunSummary", "RunnerConfig", "hour_end", "redact"]


# ------------------------------------------------------------------ what a run did


class _Tally(SelfLearnStore):
    """The self-learn store, also noting this run's decisions (kind, gate, latest status)."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.kinds: Counter[str] = Counter()
        self.status: dict[str, str] = {}
        self.gate_of: dict[str, str] = {}

    def record_decisions(self, decisions: Sequence[Decision]) -> None:
        super().record_decisions(decisions)
        for d in decisions:
            self.kinds[d.kind] += 1
            self.status[d.decision_id] = "decided"

    def update_status(self, updates: Iterable[StatusUpdate]) -> None:
        batch = list(updates)
        super().update_status(batch)
        for u in batch:
            if u.decision_id in self.status:
                self.status[u.decision_id] = u.status
                if u.gate_id:
                    self.gate_of[u.decision_id] = u.gate_id


def redact(url: str) -> str:
    """``url`` without its password (for summaries and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


# ------------------------------------------------------------------ the runner


@dataclass(frozen=True, kw_only=True)
class RunnerConfig:
    """What a real deployment of the area agents runs on.

    Attributes:
        db: the ledger URL (``sqlite:///x.db``, a bare path, ``postgresql://...``); the
            control plane, the self-learn store and the API keys (approvers) live there too.
        pulse: the pulse store URL (``sqlite:///x.db``, a bare path, ``redis://...``).
        downstream: which URL serves each downstream agent.
        catalogue: the intervention catalogue (default: the built-in one).
        rules: the tail rules (default: the built-in set).
        dead_letter: where rejected events go.
        warmup: event time, from the first event, that only fills windows (no tick acts).
        window_days: the scorecard window W.
        seed: the choice policy's seed.
        downstream_timeout_s: per-attempt timeout of a REST call.
        downstream_headers: headers every REST call carries (an auth token).
        approvers: who may decide gates (default: the ledger's approver and admin API keys).
        policy: ``fixed`` (the catalogue's weights) or ``learning`` (the nightly-updated
            policy with its guardrail; docs/learning.md).
        area_types: area id -> urban, suburban or rural, the learning policy's context.
        max_future_skew: events dated later than the wall clock plus this go to the dead
            letter (a year-2999 ``ts``), in replay and follow alike.
        wall: the wall clock a replay compares event times with (default the system clock;
            :meth:`follow` takes its own).
        tracer_provider: where the control plane's spans go (default: the global provider,
            which ``tailguard agents run`` configures from the ``OTEL_*`` variables).
        compendium: the compendium directory the curator keeps (None: no automatic curation).
        curate_every_runs: with a compendium, curate after this many area-agent runs (0: off).
        curate_nightly: with a compendium, curate at the first tick of each event-time day.
        crowd: run the crowd exchange every event-time night (publish, exchange, local tests
            served by the chooser, approval-gated roll-outs; :mod:`tailguard.crowd.night`).
        engine: where the areas' scorecard state lives: ``local`` (this process, or worker
            processes with ``shards`` above one) or ``ray`` (Ray actors; tailguard.engine).
        shards: parts the areas are split into.
        ray_address: with ``ray``, a cluster to join (None: a local Ray).
        shard_streams: partitioned ingest: a NATS or Redis bus URL on which each shard reads
            its own areas' events from a stream of its own, and from which a lost shard is
            rebuilt (:mod:`tailguard.engine.streams`); needs ``shards`` above one.
        week: when weeks end (event time; None: no week snapshots, no weekly cycle). At each
            week's end the runner keeps the week's snapshot in the ledger's database, runs
            the weekly cycle and carries out the committed OKR levers (:mod:`.weekly`).
        week_cycle: with ``week``, run the weekly cycle itself (False: only keep the
            snapshots; ``tailguard week --db`` runs it on demand, the levers follow).
        week_out: where the cycle's pages go (default ``weekly/`` beside a SQLite ledger,
            else ``tailguard-weekly/``), one directory per week.
    """

    db: str
    pulse: str
    downstream: DownstreamRoutes
    catalogue: Catalogue | None = None
    rules: RuleSet | None = None
    dead_letter: Path = Path("tailguard-agents.deadletter.jsonl")
    warmup: timedelta = timedelta(days=7)
    window_days: int = 7
    seed: int = 0
    downstream_timeout_s: float = 2.0
    downstream_headers: Mapping[str, str] | None = None
    approvers: Approvers | None = None
    max_future_skew: timedelta = DEFAULT_MAX_SKEW
    wall: Clock | None = None
    policy: str = "fixed"
    area_types: Mapping[str, str] | None = None
    tracer_provider: trace.TracerProvider | None = None
    compendium: Path | None = None
    curate_every_runs: int = 0
    curate_nightly: bool = True
    crowd: bool = False
    engine: str = "local"
    shards: int = 1
    ray_address: str | None = None
    shard_streams: str | None = None
    week: WeekSchedule | None = None
    week_cycle: bool = True
    week_out: Path | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InvalidInputError(f"--engine must be local or ray, got {self.engine!r}")
        if self.shards < 1:
            raise InvalidInputError(f"--shards must be at least 1, got {self.shards}")
        if self.curate_every_runs < 0:
            raise InvalidInputError("curate_every_runs must be >= 0 (0: off)")
        if self.policy not in ("fixed", "learning"):
            raise InvalidInputError(f"unknown policy {self.policy!r} (fixed or learning)")


class AgentRunner:
    """The area agents on real stores, fed by :meth:`replay` or :meth:`follow`.

    Use as a context manager (or call :meth:`close`). ``clock`` is the agents' clock; the
    runner moves it (hour ends at ticks, the wall or compressed time between them). On stores
    where agents already acted it first recovers their state (:meth:`recover`).
    """

    def __init__(self, config: RunnerConfig, *, clock: FakeClock | None = None) -> None:
        self.config = config
        # The clock only moves forward and follows the events, which may be old: start early.
        self.clock = clock or FakeClock(datetime(1970, 1, 1, tzinfo=UTC))
        cat = config.catalogue or default_catalogue()
        config.downstream.check(e.downstream for e in cat.entries)
        self.dead_letter = DeadLetterSink(config.dead_letter, clock=SystemClock())
        self.downstream = RoutedDownstream(
            config.downstream,
            timeout_s=config.downstream_timeout_s,
            headers=config.downstream_headers,
        )
        self.ledger = Ledger.open(config.db, clock=self.clock)
        self.pulse: PulseStore | None = None
        self.areas_engine: Engine | None = None
        self._keys: Any = None
        self.weekly: LiveWeekly | None = None
        try:
            approvers = config.approvers
            if approvers is None:
                # The service's approvers: whoever holds an approver or admin API key.
                from tailguard.identity.keys import KeyStore

                approvers = self._keys = KeyStore(self.ledger.engine, clock=self.clock)
            self.control = ControlPlane(
                build_registry(cat, lambda: self.downstream, self.clock),
                self.ledger,
                clock=self.clock,
                approvers=approvers,
                tracer_provider=config.tracer_provider or trace.get_tracer_provider(),
            )
            self.learning = _Tally(self.ledger.engine)
            self.pulse = PulseStore.open(config.pulse)
            self.areas_engine = open_engine(
                config.engine,
                shards=config.shards,
                address=config.ray_address,
                bus=config.shard_streams,
            )
            self.engine = self.areas_engine.scorecards(
                window_days=config.window_days, prefetch=("tech", "zip", "sku")
            )
            learner = None
            if config.policy == "learning":
                learner = PolicyLearner(
                    store=self.learning,
                    versions=PolicyStore(self.ledger),
                    groups=cat.groups(),
                    arms=cat.arm_info(),
                )
            self.agents = AreaAgents(
                catalogue=cat,
                control=self.control,
                learning=self.learning,
                scorecard=self.engine,
                rules=config.rules or builtin_rules(),
                clock=self.clock,
                pulse=self.pulse,
                seed=config.seed,
                learner=learner,
                area_types=config.area_types,
            )
            self.summary = RunSummary(mode="", source="", dead_letter_path=str(config.dead_letter))
            #: The last hour an earlier runner on these stores decided in: hours up to it are
            #: caught up (they fill the windows, nothing is chosen again).
            self.resumed_after = self.learning.last_decided_at()
            if self.resumed_after is not None:
                # What recovery records carries the time the stores had reached, not the epoch.
                self.clock.set(max(self.clock.now(), self.resumed_after))
                self.recover()
        except BaseException:
            self.close()
            raise
        self._curator: tuple[Schedule, Compendium] | None = None
        if config.compendium is not None:
            settings = CuratorSettings(
                every_runs=config.curate_every_runs, nightly=config.curate_nightly
            )
            self._curator = (Schedule(settings), Compendium(config.compendium))
        self._crowd: Any = None
        if config.crowd:
            from tailguard.crowd.night import ServiceCrowd  # only when asked for

            self._crowd = ServiceCrowd(
                ledger=self.ledger,
                control=self.control,
                learning=self.learning,
                pulse=self.pulse,
                catalogue=cat,
                area_types=dict(config.area_types or {}),
                seed=config.seed,
            )
            self.agents.chooser.cells = self._crowd.cells
        if config.week is not None:
            self.weekly = self._live_weekly(config.week, cat)
        self._dedup = Deduplicator()
        self._acting_from: datetime | None = None
        #: Cuts the events into hours and ticks them (:meth:`replay`, :meth:`follow`).
        self.feeder = Feeder(self)

    def _live_weekly(self, schedule: WeekSchedule, cat: Catalogue) -> LiveWeekly:
        """The weekly cycle of this deployment (agents/weekly.py) and the levers it applies."""
        from tailguard.agents.levers import LeverActions
        from tailguard.weekly.cycle import beside_ledger

        out = self.config.week_out
        if out is None:
            home = beside_ledger(self.config.db)
            out = home / "weekly" if home is not None else Path("tailguard-weekly")
        levers = LeverActions(
            control=self.control,
            ledger=self.ledger,
            catalogue=cat,
            scorecard=self.engine,
            signals=self.agents.signals,
            downstream=lambda: self.downstream,
            clock=self.clock,
        )
        return LiveWeekly(
            schedule=schedule,
            ledger=self.ledger,
            ledger_url=self.config.db,
            pulse_url=self.config.pulse,
            engine=self.engine,
            levers=levers,
            out_dir=out,
            cycle=self.config.week_cycle,
        )

    def recover(self) -> Recovery:
        """Pick up where an earlier runner on these stores stopped (done at construction).

        Adopts its runs waiting at gates (reconciled from the first hour on, warm-up hours
        included), settles its decisions left unrecorded, and rebuilds the chooser's cooldowns
        and weekly budgets (:meth:`AreaAgents.recover`). The adopted gates count in this
        run's gate summary.
        """
        found = self.agents.recover()
        for d in self.learning.decision_states(statuses=("pending_approval",)):
            if d.gate_id and d.decision_id not in self.learning.status:
                self.learning.status[d.decision_id] = d.status
                self.learning.gate_of[d.decision_id] = d.gate_id
        self.summary.recovered = found
        return found

    def holds_gates(self) -> bool:
        """True when runs wait at gates (this runner's or adopted from an earlier one)."""
        return self.agents.open_runs > 0

    # -------------------------------------------------------------- one hour, one poll

    def hour(self, as_of: datetime, events: pl.DataFrame, *, act: bool = True) -> TickReport | None:
        """The tick at ``as_of`` with the events of its hour (None: a warm-up hour, no tick).

        A warm-up hour (``act`` false, within the warm-up, or an hour an earlier runner on
        these stores already acted in: :attr:`resumed_after`) only feeds the KPI windows and
        the signals' history.
        """
        s = self.summary
        catching_up = self.resumed_after is not None and as_of <= self.resumed_after
        # Caught-up hours are older than the clock a restart set: it does not go back.
        self.clock.set(max(as_of, self.clock.now()) if catching_up else as_of)
        warming = self.warming_up(as_of)  # (the first hour fixes the warm-up)
        if warming or not act or catching_up:
            s.events += self.engine.ingest(events)
            self.agents.signals.update(events, as_of)
            s.warmup_hours += 1
            self.engine.advance(as_of)
            if self.holds_gates():  # adopted from an earlier runner: people may decide them
                self.poll_gates(as_of)
            return None
        report = self.agents.tick(events)
        self.engine.advance(as_of)
        s.ticks += 1
        s.first_as_of = s.first_as_of or as_of
        s.last_as_of = as_of
        self._add(report)
        self._maybe_curate(report, as_of)
        self._maybe_crowd(as_of)
        if self.weekly is not None:
            self.weekly.hour(as_of)  # a week's end: snapshot, cycle, next week's levers
        return report

    def _maybe_curate(self, report: TickReport, as_of: datetime) -> None:
        """The compendium's automatic trigger: after N runs or at each new night (docs/
        compendium.md). A failed curation is counted and reported, never stops the agents."""
        if self._curator is None:
            return
        schedule, compendium = self._curator
        if not schedule.runs_finished(report.runs, as_of):
            return
        try:
            curate(self.control, compendium, self.learning, settings=schedule.settings)
        except TailguardError as exc:
            self.summary.curation_errors.append(f"{format_ts(as_of)}: {exc.message}")
        else:
            self.summary.curations += 1

    def _maybe_crowd(self, as_of: datetime) -> None:
        """The crowd exchange's night at the first tick of each event-time day (docs/crowd.md).
        A failed night is counted and reported, never stops the agents."""
        if self._crowd is None:
            return
        try:
            night = self._crowd.tick(as_of)
        except TailguardError as exc:
            self.summary.crowd_errors.append(f"{format_ts(as_of)}: {exc.message}")
        else:
            self.summary.crowd_nights += night is not None

    def warming_up(self, as_of: datetime) -> bool:
        """True when the hour ending at ``as_of`` only fills windows (the first fixes the start)."""
        if self._acting_from is None:
            self._acting_from = as_of + self.config.warmup
        return as_of < self._acting_from

    def warm_up_again(self, start: datetime) -> None:
        """Only fill windows for a warm-up from ``start`` on (after a gap in the events)."""
        self._acting_from = start + self.config.warmup

    def poll_gates(self, now: datetime) -> TickReport:
        """Settle gates decided (or timed out) since the last tick; approved calls run once.

        This is the tick's own reconciliation step, run between ticks so a person's approval
        takes effect within a poll interval rather than at the next hour.
        """
        self.clock.set(max(now, self.clock.now()))
        report = TickReport(at=self.clock.now())
        self.agents.reconcile(report)  # the tick's gate phase alone
        if self.weekly is not None:
            self.weekly.poll()  # the levers' gates
        self._add(report)
        return report

    def _add(self, report: TickReport) -> None:
        s = self.summary
        s.events += report.events
        s.executed += report.executed
        s.failed += report.failed
        s.rejected += report.rejected
        s.timeouts += report.timeouts

    def fresh(self, table: pa.Table) -> pl.DataFrame:
        """``table`` without the events this runner has seen before."""
        frame = pl.from_arrow(self._dedup(table))
        assert isinstance(frame, pl.DataFrame)
        return frame

    # -------------------------------------------------------------- feeding

    def replay_hours(
        self, path: str | Path, *, hours: int | None = None, batch_size: int = 65_536
    ) -> Iterator[tuple[datetime, TickReport | None]]:
        """Tick through an event file hour by hour: :meth:`Feeder.replay_hours`."""
        return self.feeder.replay_hours(path, hours=hours, batch_size=batch_size)

    def replay(
        self,
        path: str | Path,
        *,
        hours: int | None = None,
        on_hour: Callable[[datetime, TickReport | None], None] | None = None,
    ) -> RunSummary:
        """Replay an event file to its end (or ``hours`` ticks): :meth:`Feeder.replay`."""
        return self.feeder.replay(path, hours=hours, on_hour=on_hour)

    def follow(
        self,
        bus: Bus,
        *,
        source: str = "bus",
        hours: int | None = None,
        tick_every: float | None = None,
        start: datetime | None = None,
        poll_s: float = 5.0,
        max_events: int = 10_000,
        wall: Clock | None = None,
        on_hour: Callable[[datetime, TickReport | None], None] | None = None,
    ) -> RunSummary:
        """Consume a bus and tick at each hour boundary: :meth:`Feeder.follow`."""
        return self.feeder.follow(
            bus,
            source=source,
            hours=hours,
            tick_every=tick_every,
            start=start,
            poll_s=poll_s,
            max_events=max_events,
            wall=wall,
            on_hour=on_hour,
        )

    def stop(self) -> None:
        """Ask a running :meth:`follow` (or :meth:`replay`) to stop after its current step."""
        self.feeder.stop()

    # -------------------------------------------------------------- summary, close

    def finish(self) -> RunSummary:
        """Flush the dead letter and complete the summary (gates read from the database)."""
        self.dead_letter.flush()
        s = self.summary
        s.duplicates = self._dedup.duplicates + self.engine.duplicates
        s.dead_lettered = self.dead_letter.count
        s.decisions_by_kind = dict(self.learning.kinds)
        s.gates = self._gate_counts()
        if self.weekly is not None:
            self.weekly.close()  # the last cycle's pages
            s.weekly = self.weekly.tally.to_dict()
        if self._keys is not None:
            keys = self._keys.list(include_revoked=False)
            s.approvers = sum(1 for k in keys if k.role.value in ("approver", "admin"))
        return s

    def _gate_counts(self) -> dict[str, int]:
        tally = self.learning
        counts = dict.fromkeys(("opened", "pending", "approved", "rejected", "timed_out"), 0)
        waiting: list[str] = []
        for decision_id, gate_id in tally.gate_of.items():
            counts["opened"] += 1
            status = tally.status[decision_id]
            if status in ("executed", "failed"):
                counts["approved"] += 1
            elif status == "rejected":
                counts["rejected"] += 1
            elif status == "timeout":
                counts["timed_out"] += 1
            else:
                waiting.append(gate_id)
        names = {"pending": "pending", "approved": "approved", "rejected": "rejected"}
        found = control_queries.gate_decisions(self.control.ledger.engine, waiting)
        for state in found.values():
            counts[names.get(state.decision, "timed_out")] += 1
        return counts

    def close(self) -> None:
        """Release the stores, the HTTP clients and the dead-letter file."""
        if self.weekly is not None:
            self.weekly.close()
        self.downstream.close()
        if self.areas_engine is not None:
            self.areas_engine.close()
        if self.pulse is not None:
            self.pulse.close()
        self.ledger.close()
        self.dead_letter.close()

    def __enter__(self) -> AgentRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
