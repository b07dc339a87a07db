"""A real service over a real ledger (a SQLite file, or a fresh PostgreSQL schema) per test."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from _service_fixtures import ledger_url as ledger_url
from tailguard.clock import FakeClock
from tailguard.control import Policy, RiskLevel, Tool, ToolContext, ToolRegistry
from tailguard.service import ServiceSettings, create_app
from tailguard.service.settings import ServiceState

GATED = "close_account"
READ = "lookup_account"


@dataclass
class Calls:
    """Every call a test tool's handler received (its side effects)."""

    made: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, tool: str, args: Mapping[str, Any], ctx: ToolContext) -> None:
        """Record one call."""
        with self.lock:
            self.made.append((tool, dict(args), ctx.step_id))

    def of(self, tool: str) -> list[dict[str, Any]]:
        """The arguments of every call of ``tool``."""
        return [args for name, args, _ in self.made if name == tool]


def make_registry(calls: Calls) -> ToolRegistry:
    """A read tool and an execute_high tool that needs approval."""

    def close_account(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        calls.add(GATED, args, ctx)
        return {"closed": args["account_id"]}

    def lookup(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        calls.add(READ, args, ctx)
        return {"account_id": args["account_id"], "balance": 12}

    schema = {
        "type": "object",
        "properties": {"account_id": {"type": "string"}, "note": {"type": "string"}},
        "required": ["account_id"],
        "additionalProperties": False,
    }
    registry = ToolRegistry()
    registry.register(
        Tool(
            name=GATED,
            description="Close a customer account (irreversible).",
            parameters=schema,
            handler=close_account,
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_HIGH,
                requires_approval=True,
                audit_fields=("account_id",),
                approval_timeout=3600.0,
            ),
        )
    )
    registry.register(
        Tool(
            name=READ,
            description="Look an account up.",
            parameters=schema,
            handler=lookup,
            policy=Policy(risk_level=RiskLevel.READ),
        )
    )
    return registry


@dataclass
class Service:
    """A running app, its keys by person, and what its tools did."""

    app: FastAPI
    client: TestClient
    keys: dict[str, str]
    calls: Calls
    clock: FakeClock
    ledger_url: str

    @property
    def state(self) -> ServiceState:
        """The app's state (ledger, control plane, key store)."""
        state: ServiceState = self.app.state.tailguard
        return state

    def h(self, who: str) -> dict[str, str]:
        """Headers authenticating as ``who``."""
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def gated_call(self, who: str = "olga", account: str = "acc-1") -> dict[str, Any]:
        """Start a run as ``who`` and make a gated call in it; returns the step result."""
        run = self.client.post("/v1/runs", json={"role": "ops"}, headers=self.h(who))
        assert run.status_code == 201, run.text
        step = self.client.post(
            f"/v1/runs/{run.json()['run_id']}/steps",
            json={"tool_name": GATED, "args": {"account_id": account, "note": "churned"}},
            headers=self.h(who),
        )
        assert step.status_code == 200, step.text
        body: dict[str, Any] = step.json()
        assert body["outcome"] == "pending_approval"
        return body


PEOPLE = {
    "root": "admin",
    "alice": "approver",
    "bob": "approver",
    "olga": "operator",
    "vic": "viewer",
}


def _service(ledger_url: str, tmp_path: Path, *, pages: bool) -> Iterator[Service]:
    calls = Calls()
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    settings = ServiceSettings(
        ledger_url=ledger_url,
        pulse_url=str(tmp_path / "pulse.db"),
        clock=clock,
        registry=make_registry(calls),
        metrics_refresh_s=0.0,
        **({"secret_key": "service-page-tests"} if pages else {}),
    )
    app = create_app(settings, optional_routers=pages)
    state: ServiceState = app.state.tailguard
    keys = {name: state.keys.create(name, role)[1] for name, role in PEOPLE.items()}
    base = "http://127.0.0.1" if pages else "http://testserver"
    with TestClient(app, base_url=base, raise_server_exceptions=False) as client:
        yield Service(
            app=app, client=client, keys=keys, calls=calls, clock=clock, ledger_url=ledger_url
        )


@pytest.fixture
def service(ledger_url: str, tmp_path: Path) -> Iterator[Service]:
    """The service with a test tool registry and one key per person of :data:`PEOPLE`."""
    yield from _service(ledger_url, tmp_path, pages=False)


@pytest.fixture
def web(ledger_url: str, tmp_path: Path) -> Iterator[Service]:
    """The same with the dashboard pages (sign in with a key at ``/signin``)."""
    yield from _service(ledger_url, tmp_path, pages=True)
