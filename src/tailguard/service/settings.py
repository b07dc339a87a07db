"""What the service is configured with, and the objects it opens from that configuration."""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from opentelemetry import trace

from tailguard.clock import Clock, SystemClock
from tailguard.control import Approvers, ControlPlane, ToolRegistry, builtin_policies
from tailguard.control.approval_policies import gated_tool_schemas, load_approval_policies
from tailguard.control.delegation import (
    ActivePolicy,
    DelegatedApprovers,
    PolicyDecider,
    PolicySweep,
    register_policies,
)
from tailguard.control.policy import Policy
from tailguard.control.rollback_requests import ensure_rollback_tool
from tailguard.errors import InvalidInputError
from tailguard.ledger import Ledger, parse_url
from tailguard.ledger.checkpoint import Checkpointer, CheckpointKey
from tailguard.pulse import PulseStore
from tailguard.rules import RuleSet, builtin_rules
from tailguard.rules.yoy import load_baseline
from tailguard.service.auth import KeyStore


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """Configuration of :func:`tailguard.service.create_app`.

    Attributes:
        ledger_url: the ledger (``sqlite:///x.db``, a bare path, ``postgresql://...``); the API
            keys and the control plane's tables live in the same database.
        pulse_url: the pulse store; default ``pulse.db`` beside a SQLite ledger file (in the
            working directory for PostgreSQL).
        secret_key: signs the dashboard's session cookies; default a random key per process
            (sessions then end when the service restarts).
        clock: the time source (a FakeClock in tests and simulated runs).
        registry: the governed tools this process can resume after approval; default: no
            handlers, the built-in policy table only.
        policies: the policy table listed for tools without a handler here.
        rules: the tail rules evaluated over the pulse; default the built-in set.
        tracer_provider: OpenTelemetry provider for request and control-plane spans; default
            the global one.
        metrics_refresh_s: how long a database-derived metric (bypass count) is reused.
        resume_grace_s: the sweep at startup and every 30 s resumes approved calls nobody
            ran (a process died between the approval and the call) once they were approved
            this long ago.
        checkpoint_key: an Ed25519 private key (PEM) kept outside the database; with
            ``checkpoint_file``, the service signs the ledger's head into that file at startup
            and every ``checkpoint_every_s`` (see docs/ledger.md), and ``GET /v1/ledger/verify``
            checks the ledger against it.
        checkpoint_file: the checkpoint file (JSON Lines, appended).
        checkpoint_every_s: how often a checkpoint is written.
        max_body_bytes: the largest request body accepted (413 beyond).
        max_json_depth: the deepest nesting of arrays and objects a JSON body may have (422
            beyond).
        approval_policies: a delegated approval-policy file (docs/approval-policies.md): its
            policies are versioned in the ledger at startup, and the gate sweep (at startup
            and every 30 s, or :meth:`ServiceState.sweep_policies`) decides the gates they
            cover as ``policy:<name>@v<n>``; everything else waits for a person.
        yoy_baseline: last year's jobs per week per area (CSV, :mod:`tailguard.rules.yoy`),
            for the jobs/week +12 % YoY guard-band on the network board; read at startup (a
            bad file is refused with its line). Without it, last year's figure comes from the
            pulse store's history when that reaches a year back; with neither, the band is
            "no data", never "inside".
    """

    ledger_url: str
    pulse_url: str | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    clock: Clock = field(default_factory=SystemClock)
    registry: ToolRegistry | None = None
    policies: dict[str, Policy] | None = None
    rules: RuleSet | None = None
    tracer_provider: trace.TracerProvider | None = None
    metrics_refresh_s: float = 60.0
    resume_grace_s: float = 30.0
    checkpoint_key: Path | None = None
    checkpoint_file: Path | None = None
    checkpoint_every_s: float = 3600.0
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 64
    approval_policies: Path | None = None
    yoy_baseline: Path | None = None

    def resolved_pulse_url(self) -> str:
        """The pulse store URL, defaulting to ``pulse.db`` beside a SQLite ledger."""
        if self.pulse_url:
            return self.pulse_url
        sa_url, backend = parse_url(self.ledger_url)
        if backend.name == "sqlite" and sa_url.database not in (None, "", ":memory:"):
            return str(Path(sa_url.database or "").expanduser().resolve().with_name("pulse.db"))
        return str(Path("pulse.db").resolve())


@dataclass(kw_only=True)
class ServiceState:
    """The objects one app serves from (kept on ``app.state.tailguard``).

    Routers get it with :func:`tailguard.service.deps.state`; nothing here is a global.
    """

    settings: ServiceSettings
    ledger: Ledger
    keys: KeyStore
    plane: ControlPlane
    registry: ToolRegistry
    policies: dict[str, Policy]
    rules: RuleSet
    _pulse: PulseStore | None = None
    checkpointer: Checkpointer | None = None
    """Signs the ledger's head now and then, when the settings name a key and a file."""
    extras: dict[str, Any] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)
    """Run last-first by :meth:`close`, before the pulse store and the ledger: what optional
    modules opened for this state (each closer must be safe to call after a manual close)."""
    decider: PolicyDecider | None = None
    """Decides the gates the delegated approval policies cover (None: no policies)."""
    yoy_baseline: pl.DataFrame | None = None
    """Last year's jobs per week per area from the settings' baseline file (None: none)."""
    decide_lock: AbstractContextManager[Any] = field(default_factory=contextlib.nullcontext)
    """Held around :meth:`ControlPlane.decide` (database work only, never a tool handler). On
    SQLite, a lock: the database has one writer, and concurrent deciders queued here wait in
    turn instead of in SQLite's busy-timeout backoff, whose sleeps of up to 100 ms give a few
    of them very long waits (docs/performance.md, service section). On PostgreSQL, nothing."""

    @classmethod
    def open(cls, settings: ServiceSettings) -> ServiceState:
        """Open the ledger, key store and control plane named by ``settings``."""
        ledger = Ledger.open(settings.ledger_url, clock=settings.clock)
        try:
            keys = KeyStore(ledger.engine, clock=settings.clock)
            registry = settings.registry if settings.registry is not None else ToolRegistry()
            policies = dict(settings.policies or builtin_policies())
            active: list[ActivePolicy] = []
            if settings.approval_policies is not None:
                parsed = load_approval_policies(
                    settings.approval_policies, tools=gated_tool_schemas(registry, policies)
                )
                active = register_policies(
                    ledger,
                    parsed,
                    registered_by="service",
                    source=str(settings.approval_policies),
                )
            approvers: Approvers = keys
            if active:
                approvers = DelegatedApprovers(policies=tuple(active), people=keys)
            plane = ControlPlane(
                registry,
                ledger,
                clock=settings.clock,
                approvers=approvers,
                # Default: the global provider (tailguard.telemetry, opentelemetry-instrument).
                tracer_provider=settings.tracer_provider or trace.get_tracer_provider(),
            )
            ensure_rollback_tool(plane)  # people's rollbacks resume here once approved
            yoy = None if settings.yoy_baseline is None else load_baseline(settings.yoy_baseline)
            checkpointer = None
            if settings.checkpoint_key is not None or settings.checkpoint_file is not None:
                if settings.checkpoint_key is None or settings.checkpoint_file is None:
                    raise InvalidInputError("checkpoints need both a key and a checkpoint file")
                checkpointer = Checkpointer(
                    ledger,
                    CheckpointKey.load(settings.checkpoint_key),
                    settings.checkpoint_file,
                    clock=settings.clock,
                    every_s=settings.checkpoint_every_s,
                )
        except BaseException:
            ledger.close()
            raise
        return cls(
            checkpointer=checkpointer,
            decider=PolicyDecider(plane, active) if active else None,
            decide_lock=threading.Lock()
            if ledger.backend.name == "sqlite"
            else contextlib.nullcontext(),
            settings=settings,
            ledger=ledger,
            keys=keys,
            plane=plane,
            registry=registry,
            policies=policies,
            rules=settings.rules or builtin_rules(),
            yoy_baseline=yoy,
        )

    def sweep_policies(self) -> PolicySweep | None:
        """Let the delegated approval policies decide the gates they cover, then run the
        approved calls whose tools this process holds (others: their owner's process runs
        them, as after a person's approval). None when no policy is set."""
        if self.decider is None:
            return None
        with self.decide_lock:
            report = self.decider.sweep()
        mine = [g for g in report.approved if self.plane.gates.get(g).tool_name in self.registry]
        if mine:
            self.plane.resume_batch(mine)
        return report

    @property
    def pulse(self) -> PulseStore:
        """The pulse store, opened on first use (a service without one still starts)."""
        if self._pulse is None:
            self._pulse = PulseStore.open(self.settings.resolved_pulse_url())
        return self._pulse

    def close(self) -> None:
        """Release database connections (the optional modules' first, then ours)."""
        while self.closers:
            self.closers.pop()()
        if self._pulse is not None:
            self._pulse.close()
            self._pulse = None
        self.ledger.close()
