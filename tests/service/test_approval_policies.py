"""The service with delegated approval policies: covered gates decided by policy, the rest wait."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tailguard.clock import FakeClock
from tailguard.errors import ConfigFileError
from tailguard.service import ServiceSettings, create_app
from tailguard.service.settings import ServiceState

from .conftest import GATED, PEOPLE, Calls, Service, make_registry

POLICIES = """\
approval_policies:
  - name: test-closures
    description: Test accounts may be closed without a person.
    tools: [close_account]
    limits:
      - {arg: account_id, one_of: [acc-test-1, acc-test-2]}
"""


def _settings(ledger_url: str, tmp_path: Path, policy_file: Path, calls: Calls) -> ServiceSettings:
    return ServiceSettings(
        ledger_url=ledger_url,
        pulse_url=str(tmp_path / "pulse.db"),
        clock=FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),
        registry=make_registry(calls),
        metrics_refresh_s=0.0,
        approval_policies=policy_file,
    )


@pytest.fixture
def delegated(ledger_url: str, tmp_path: Path) -> Iterator[Service]:
    """The API service with the test-closures policy and one key per person."""
    policy_file = tmp_path / "policies.yaml"
    policy_file.write_text(POLICIES)
    calls = Calls()
    settings = _settings(ledger_url, tmp_path, policy_file, calls)
    app = create_app(settings, optional_routers=False)
    state: ServiceState = app.state.tailguard
    keys = {name: state.keys.create(name, role)[1] for name, role in PEOPLE.items()}
    with TestClient(app, raise_server_exceptions=False) as client:
        assert isinstance(settings.clock, FakeClock)
        yield Service(
            app=app,
            client=client,
            keys=keys,
            calls=calls,
            clock=settings.clock,
            ledger_url=ledger_url,
        )


def test_a_covered_gate_is_decided_by_policy_and_runs_once(delegated: Service) -> None:
    """close_account of a test account is approved by policy:test-closures@v1 and runs."""
    step = delegated.gated_call("olga", account="acc-test-1")
    report = delegated.state.sweep_policies()
    assert report is not None
    assert report.approved == [step["gate_id"]]
    assert delegated.calls.of(GATED) == [{"account_id": "acc-test-1", "note": "churned"}]
    gate = delegated.state.plane.gates.get(step["gate_id"])
    assert (gate.decision, gate.decided_by) == ("approved", "policy:test-closures@v1")
    # The inbox no longer lists it; a second sweep decides nothing again.
    pending = delegated.client.get("/v1/approvals", headers=delegated.h("alice")).json()
    assert step["gate_id"] not in [p["gate_id"] for p in pending["items"]]
    assert delegated.state.sweep_policies().approved == []  # type: ignore[union-attr]


def test_an_uncovered_gate_waits_for_a_person(delegated: Service) -> None:
    """A real customer's account is outside the policy: it waits, and alice decides it."""
    step = delegated.gated_call("olga", account="acc-9")
    report = delegated.state.sweep_policies()
    assert report is not None
    assert report.approved == []
    assert report.assessed["outside"] == 1
    pending = delegated.client.get("/v1/approvals", headers=delegated.h("alice")).json()
    assert step["gate_id"] in [p["gate_id"] for p in pending["items"]]
    assert delegated.calls.of(GATED) == []
    decided = delegated.client.post(
        f"/v1/approvals/{step['gate_id']}",
        json={"decision": "approve", "reason": "checked"},
        headers=delegated.h("alice"),
    )
    assert decided.status_code == 200, decided.text
    assert delegated.state.plane.gates.get(step["gate_id"]).decided_by == "alice"


def test_a_bad_policy_file_stops_the_service_from_starting(ledger_url: str, tmp_path: Path) -> None:
    """A policy naming a tool nobody gates is refused with file and line at startup."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICIES.replace("[close_account]", "[lookup_account]"))
    with pytest.raises(ConfigFileError, match=r"bad.yaml:4: .*'lookup_account' is not a gated"):
        create_app(_settings(ledger_url, tmp_path, bad, Calls()), optional_routers=False)
