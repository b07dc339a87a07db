"""``/v1/ops``: campaigns over HTTP with their sends approved as a batch in the inbox API, and
the incidents list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tailguard.clock import FakeClock
from tailguard.errors import InvalidInputError
from tailguard.roles.recruiting import schema as t
from tailguard.service import ServiceSettings, create_app
from tailguard.service.chat import close
from tailguard.service.chatstack import chat_stack

BODY: dict[str, Any] = {
    "objective": "20 CDL-A flatbed drivers for the Dallas lane in 3 weeks",
    "recruiter_id": "rec-001",
    "target_hires": 1,
    "max_candidates": 3,
    "seed": 0,
    "profile": {
        "channels": ["sms"],
        "cadence_hours": 24,
        "touches": 1,
        "daily_send_cap": 10,
        "budget_usd": 50.0,
    },
}


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    """The whole service with keys for the recruiter (operator), an approver and a viewer."""
    app = create_app(
        ServiceSettings(ledger_url=db_url, pulse_url=str(tmp_path / "pulse.db"), clock=FakeClock())
    )
    state = app.state.tailguard
    state.extras["compendium_dir"] = str(tmp_path / "compendium")
    keys = {
        name: {"Authorization": f"Bearer {state.keys.create(name, role)[1]}"}
        for name, role in (("rec-001", "operator"), ("anna", "approver"), ("val", "viewer"))
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, keys
        close(app)


def test_a_campaign_runs_over_http_with_batch_approval_in_the_inbox(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    """Create, approve the profile as the recruiter, advance, batch-approve, advance: each
    message sent once, the campaign completes with its postmortem."""
    client, keys = api
    created = client.post("/v1/ops/campaigns", json=BODY, headers=keys["rec-001"])
    assert created.status_code == 201, created.text
    cid = created.json()["campaign_id"]
    assert created.json()["status"] == "draft"
    assert (
        client.post(f"/v1/ops/campaigns/{cid}/approve-profile", headers=keys["anna"]).status_code
        == 403
    )
    started = client.post(f"/v1/ops/campaigns/{cid}/approve-profile", headers=keys["rec-001"])
    assert started.json()["status"] == "active"
    waiting = client.post(f"/v1/ops/campaigns/{cid}/advance", headers=keys["rec-001"]).json()
    assert waiting["sends"]["pending"] == waiting["candidates"] == 3
    detail = client.get(f"/v1/ops/campaigns/{cid}", headers=keys["val"]).json()
    gates = [s["gate_id"] for s in detail["send_rows"]]
    decided = client.post(
        "/v1/approvals",
        json={"decisions": [{"gate_id": g, "decision": "approve"} for g in gates]},
        headers=keys["anna"],
    )
    assert decided.status_code == 200, decided.text
    # The replies call for interviews: each waits in the inbox too; days pass on the service's
    # clock until the campaign stops at its objective (one hire).
    clock = client.app.state.tailguard.settings.clock  # type: ignore[attr-defined]
    for _ in range(20):
        done = client.post(f"/v1/ops/campaigns/{cid}/advance", headers=keys["rec-001"]).json()
        if done["status"] != "active":
            break
        detail = client.get(f"/v1/ops/campaigns/{cid}", headers=keys["val"]).json()
        waiting_gates = [s["gate_id"] for s in detail["send_rows"] if s["status"] == "pending"]
        if waiting_gates:
            decided = client.post(
                "/v1/approvals",
                json={"decisions": [{"gate_id": g, "decision": "approve"} for g in waiting_gates]},
                headers=keys["anna"],
            )
            assert decided.status_code == 200, decided.text
        else:
            clock.advance(timedelta(hours=25))
    assert done["status"] == "objective_met"
    assert done["hires"] == done["target_hires"] == 1
    assert done["sends"]["sent"] == 3
    assert done["interviews"]["booked"] >= 1
    assert done["postmortem"].endswith(f"campaign/{cid}")
    detail = client.get(f"/v1/ops/campaigns/{cid}", headers=keys["val"]).json()
    booked = [s for s in detail["send_rows"] if s["kind"] == "interview" and s["status"] == "sent"]
    assert {s["outcome"] for s in booked} <= {"hired", "not_hired", "no_show"}
    assert all(s["scheduled_for"] > s["queued_at"][:10] for s in booked)
    stack = chat_stack(client.app.state.tailguard)  # type: ignore[attr-defined]
    rows = stack.store.rows(sa.select(t.messages).where(t.messages.c.content.like(f"[{cid} t%")))
    assert len(rows) == 3  # the inbox ran them; the campaign's pass did not send them again
    hired = stack.store.rows(
        sa.select(t.pipeline).where(
            t.pipeline.c.interest_id.in_([s["interest_id"] for s in booked]),
            t.pipeline.c.status == "hired",
        )
    )
    assert len(hired) == 1
    listed = client.get("/v1/ops/campaigns", headers=keys["val"]).json()["campaigns"]
    assert [c["campaign_id"] for c in listed] == [cid]


def test_bad_requests_are_422_and_unknown_campaigns_404(
    api: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    """Body and path errors are refused with details; a viewer cannot create."""
    client, keys = api
    bad = {**BODY, "profile": {**BODY["profile"], "channels": ["fax"]}}
    response = client.post("/v1/ops/campaigns", json=bad, headers=keys["rec-001"])
    assert response.status_code == 422
    assert "channels" in response.text
    assert client.post("/v1/ops/campaigns", json=BODY, headers=keys["val"]).status_code == 403
    assert client.get("/v1/ops/campaigns/cmp-000000000000", headers=keys["val"]).status_code == 404
    assert client.get("/v1/ops/campaigns/nope", headers=keys["val"]).status_code == 422
    assert client.get("/v1/ops/incidents", headers=keys["val"]).json() == {"incidents": []}
    criteria = client.get("/v1/ops/exit-criteria", headers=keys["val"]).json()
    assert criteria["total"] == 8
    assert {c["id"] for c in criteria["criteria"]} >= {"policy_tags", "human_override"}
    # Nothing has run: no run scored, so that criterion has no value and is not met.
    quality = next(c for c in criteria["criteria"] if c["id"] == "quality_60")
    assert quality["value"] is None
    assert quality["met"] is False


def test_the_service_starts_the_scheduler_when_asked(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``TAILGUARD_OPS_SCHEDULE=1h``: a tick at start-up, then ticks advance campaigns that
    the service's own API created, each tick once (claimed in the database)."""
    monkeypatch.setenv("TAILGUARD_OPS_SCHEDULE", "1h")
    clock = FakeClock()
    app = create_app(
        ServiceSettings(ledger_url=db_url, pulse_url=str(tmp_path / "pulse.db"), clock=clock)
    )
    state = app.state.tailguard
    state.extras["compendium_dir"] = str(tmp_path / "compendium")
    _, key = state.keys.create("rec-001", "operator")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        first = state.extras["ops_schedule_last"]
        assert first["claimed"] is True
        assert first["campaigns"] == []
        cid = client.post("/v1/ops/campaigns", json=BODY, headers=headers).json()["campaign_id"]
        client.post(f"/v1/ops/campaigns/{cid}/approve-profile", headers=headers)
        scheduler = state.extras["ops_scheduler"]
        assert scheduler.tick()["claimed"] is False  # the start-up tick's window
        clock.advance(timedelta(hours=1))
        report = scheduler.tick()
        assert report["campaigns"] == [{"campaign_id": cid, "status": "active"}]
        summary = client.get(f"/v1/ops/campaigns/{cid}", headers=headers).json()
        assert summary["sends"]["pending"] == 3  # the tick queued the first touches
        close(app)


def test_a_bad_schedule_setting_stops_the_service_from_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick length that does not parse is refused when the app is built, naming it."""
    monkeypatch.setenv("TAILGUARD_OPS_SCHEDULE", "often")
    with pytest.raises(InvalidInputError, match="--every"):
        create_app(
            ServiceSettings(
                ledger_url=f"sqlite:///{tmp_path / 'l.db'}", pulse_url=str(tmp_path / "p.db")
            )
        )


def test_change_proposals_are_listed_and_shown(
    api: tuple[TestClient, dict[str, dict[str, str]]], db_url: str, tmp_path: Path
) -> None:
    """The dev swarm's proposal on the service's database: in the list with its tests and
    gate, filtered by status, in full by id; bad ids and statuses refused."""
    from ._swarm import GOOD_DIFF, make_repo, swarm

    client, keys = api
    repo = make_repo(tmp_path)
    with swarm(db_url, repo) as sw:
        (filed,) = sw.scout(["ruff"])
        row = sw.advance(filed.proposal_id)
    pid = row.proposal_id
    listed = client.get("/v1/ops/proposals", headers=keys["val"])
    assert listed.status_code == 200, listed.text
    (brief,) = listed.json()["proposals"]
    assert brief["proposal_id"] == pid
    assert brief["status"] == "awaiting_approval"
    assert brief["files"] == ["calc.py"]
    assert brief["tests"] == ["tests/test_calc.py"]
    assert brief["selection"] == {"calc.py": "name"}
    assert brief["green"] is True
    assert brief["gate_id"] == row.state["gate_id"]
    waiting = client.get("/v1/ops/proposals?status=awaiting_approval", headers=keys["val"])
    assert [p["proposal_id"] for p in waiting.json()["proposals"]] == [pid]
    applied = client.get("/v1/ops/proposals?status=applied", headers=keys["val"])
    assert applied.json()["proposals"] == []
    bad = client.get("/v1/ops/proposals?status=merged", headers=keys["val"])
    assert bad.status_code == 422
    full = client.get(f"/v1/ops/proposals/{pid}", headers=keys["val"]).json()
    assert full["build"]["diff"] == GOOD_DIFF
    assert full["tests"]["green"] is True
    assert client.get("/v1/ops/proposals/prp-000000000000", headers=keys["val"]).status_code == 404
    assert client.get("/v1/ops/proposals/nope", headers=keys["val"]).status_code == 422
    assert client.get("/v1/ops/proposals").status_code == 401
