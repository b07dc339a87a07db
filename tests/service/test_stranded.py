"""Approved calls that never ran (the approving process died): the inbox lists them, a restart
runs them once, and an operator can resume or cancel one."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tailguard.clock import FakeClock
from tailguard.service import ServiceSettings, create_app

from .conftest import GATED, Calls, Service, make_registry


def _strand(service: Service, account: str = "acc-1") -> dict[str, Any]:
    """A gated call approved without being run: what a kill after the approval's commit leaves
    (tests/control/test_stranded_approvals.py kills a real process at that point)."""
    step = service.gated_call("olga", account=account)
    service.state.plane.decide(step["gate_id"], "approve", "alice")
    return step


def _awaiting(service: Service, who: str = "alice") -> list[dict[str, Any]]:
    response = service.client.get(
        "/v1/approvals", params={"status": "awaiting_execution"}, headers=service.h(who)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_the_inbox_lists_approved_calls_that_never_ran(service: Service) -> None:
    """Not in the pending list (nothing to decide) but in awaiting_execution, with who approved."""
    step = _strand(service)
    pending = service.client.get("/v1/approvals", headers=service.h("alice")).json()["items"]
    assert pending == []
    (card,) = _awaiting(service)
    assert (card["gate_id"], card["status"], card["decided_by"]) == (
        step["gate_id"],
        "awaiting_execution",
        "alice",
    )
    assert card["args"] == {"account_id": "acc-1", "note": "churned"}
    assert _awaiting(service, "vic")[0]["args"] is None


def test_an_operator_resumes_an_approved_call_once(service: Service) -> None:
    """POST .../resume runs it; a second resume replays the stored result."""
    step = _strand(service)
    first = service.client.post(f"/v1/approvals/{step['gate_id']}/resume", headers=service.h("bob"))
    assert first.status_code == 200, first.text
    assert (first.json()["outcome"], first.json()["replayed"]) == ("executed", False)
    again = service.client.post(f"/v1/approvals/{step['gate_id']}/resume", headers=service.h("bob"))
    assert (again.json()["outcome"], again.json()["replayed"]) == ("executed", True)
    assert len(service.calls.of(GATED)) == 1
    assert _awaiting(service) == []
    viewer = service.client.post(
        f"/v1/approvals/{step['gate_id']}/resume", headers=service.h("vic")
    )
    assert viewer.status_code == 403


def test_an_operator_cancels_an_approved_call(service: Service) -> None:
    """POST .../cancel: the call never runs, the step is rejected; a second cancel is 409."""
    step = _strand(service)
    response = service.client.post(
        f"/v1/approvals/{step['gate_id']}/cancel",
        json={"reason": "customer stayed"},
        headers=service.h("bob"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "rejected"
    again = service.client.post(
        f"/v1/approvals/{step['gate_id']}/cancel", json={}, headers=service.h("bob")
    )
    assert again.status_code == 409
    resumed = service.client.post(
        f"/v1/approvals/{step['gate_id']}/resume", headers=service.h("bob")
    )
    assert (resumed.json()["outcome"], resumed.json()["replayed"]) == ("rejected", True)
    assert service.calls.of(GATED) == []
    steps = service.client.get(
        "/v1/steps", params={"run_id": step["run_id"]}, headers=service.h("vic")
    ).json()["items"]
    assert [s["status"] for s in steps] == ["rejected"]
    unknown = service.client.post(
        "/v1/approvals/gate_nope/cancel", json={}, headers=service.h("bob")
    )
    assert unknown.status_code == 404


def test_a_restarted_service_runs_approved_calls_exactly_once(
    service: Service, tmp_path: Path
) -> None:
    """Startup sweeps the approved, unclaimed gates past the grace period; a second start runs
    nothing again."""
    first = _strand(service, "acc-1")
    second = _strand(service, "acc-2")
    service.clock.advance(service.state.settings.resume_grace_s + 1)
    fresh = _strand(service, "acc-3")  # approved within the grace period: left for now
    calls = Calls()
    for _ in range(2):
        settings = ServiceSettings(
            ledger_url=service.ledger_url,
            pulse_url=str(tmp_path / "pulse2.db"),
            clock=service.clock,
            registry=make_registry(calls),
        )
        with TestClient(create_app(settings, optional_routers=False)):
            pass
    assert sorted(a["account_id"] for a in calls.of(GATED)) == ["acc-1", "acc-2"]
    left = [c["gate_id"] for c in _awaiting(service)]
    assert left == [fresh["gate_id"]]
    assert {first["gate_id"], second["gate_id"]}.isdisjoint(left)


def test_the_web_inbox_shows_and_settles_approved_calls_that_never_ran(
    ledger_url: str, tmp_path: Path
) -> None:
    """The dashboard lists them under "Approved, never run", with Run now and Cancel."""
    calls = Calls()
    settings = ServiceSettings(
        ledger_url=ledger_url,
        pulse_url=str(tmp_path / "pulse.db"),
        registry=make_registry(calls),
        clock=FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)),  # the sweep's grace holds
    )
    app = create_app(settings)
    state = app.state.tailguard
    key = state.keys.create("alice", "approver")[1]
    plane = state.plane
    gate_ids = []
    for account in ("acc-1", "acc-2"):
        run = plane.start_run("ops", "olga", None)
        gate_id = plane.execute(run, GATED, {"account_id": account}).gate_id
        assert gate_id is not None
        plane.decide(gate_id, "approve", "alice")
        gate_ids.append(gate_id)
    with TestClient(app) as client:
        form = client.get("/signin").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        signed = client.post("/signin", data={"csrf": csrf.group(1), "api_key": key})
        assert signed.status_code == 200, signed.text
        page = client.get("/approvals").text
        assert "Approved, never run" in page
        assert all(g in page for g in gate_ids)
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        ran = client.post(f"/approvals/{gate_ids[0]}/resume", data={"csrf": token.group(1)})
        assert "executed" in ran.text
        gone = client.post(
            f"/approvals/{gate_ids[1]}/cancel", data={"csrf": token.group(1), "reason": "no"}
        )
        assert "never run" in gone.text
        assert "Approved, never run" not in client.get("/approvals").text
    assert [c["account_id"] for c in calls.of(GATED)] == ["acc-1"]
