"""Lists: cursor pages walk every item exactly once, filters hold, bad input gets one shape."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from .conftest import Service


def _walk(service: Service, path: str, who: str = "vic", **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = service.client.get(path, params=query, headers=service.h(who))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= params.get("limit", 50)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def _start(service: Service, role: str = "ops") -> str:
    response = service.client.post("/v1/runs", json={"role": role}, headers=service.h("olga"))
    assert response.status_code == 201
    run_id: str = response.json()["run_id"]
    return run_id


@pytest.mark.parametrize("limit", [1, 4, 7, 50])
def test_run_pages_walk_every_run_once_newest_first(service: Service, limit: int) -> None:
    """Every run appears once, newest first, for any page size."""
    started = [_start(service, role="ops" if i % 3 else "coach") for i in range(13)]
    walked = _walk(service, "/v1/runs", limit=limit)
    assert [r["run_id"] for r in walked] == started[::-1]


def test_runs_added_while_paging_do_not_shift_the_walk(service: Service) -> None:
    """A client paging through old runs sees each once even as new runs arrive."""
    old = [_start(service) for _ in range(9)]
    first = service.client.get("/v1/runs", params={"limit": 4}, headers=service.h("vic")).json()
    fresh = [_start(service) for _ in range(3)]
    rest = _walk(service, "/v1/runs", limit=4, cursor=first["next_cursor"])
    seen = [r["run_id"] for r in first["items"] + rest]
    assert seen == old[::-1]
    assert not set(fresh) & set(seen)


def test_run_filters(service: Service) -> None:
    """role, status, initiator and since narrow the list; a state change moves a run."""
    coach = [_start(service, role="coach") for _ in range(3)]
    service.clock.advance(timedelta(hours=2))
    later = service.clock.now()
    ops = [_start(service, role="ops") for _ in range(2)]
    got = _walk(service, "/v1/runs", role="coach", limit=2)
    assert sorted(r["run_id"] for r in got) == sorted(coach)
    assert {r["run_id"] for r in _walk(service, "/v1/runs", since=later.isoformat())} == set(ops)
    assert {r["run_id"] for r in _walk(service, "/v1/runs", until=later.isoformat())} == set(coach)
    assert _walk(service, "/v1/runs", initiator_id="nobody") == []
    service.client.post(
        f"/v1/runs/{ops[0]}/finish", json={"status": "aborted"}, headers=service.h("olga")
    )
    assert [r["run_id"] for r in _walk(service, "/v1/runs", status="aborted")] == [ops[0]]
    running = {r["run_id"] for r in _walk(service, "/v1/runs", status="running")}
    assert running == set(coach) | {ops[1]}


def test_pending_approval_pages_walk_every_gate_once(service: Service) -> None:
    """The inbox pages oldest first; every pending gate once."""
    gates = []
    for i in range(11):
        gates.append(service.gated_call("olga", account=f"acc-{i}")["gate_id"])
        if i % 4 == 0:
            service.clock.advance(1)
    walked = _walk(service, "/v1/approvals", who="alice", limit=3)
    keys = [(g["presented_at"], g["gate_id"]) for g in walked]
    assert keys == sorted(keys)
    assert sorted(g["gate_id"] for g in walked) == sorted(gates)
    assert len({g["presented_at"] for g in walked}) == 4


def test_steps_and_gates_pages(service: Service) -> None:
    """Steps and gates page too, filtered by run and status."""
    made = [service.gated_call("olga", account=f"a{i}") for i in range(5)]
    gates = _walk(service, "/v1/gates", limit=2, decision="pending")
    assert sorted(g["gate_id"] for g in gates) == sorted(m["gate_id"] for m in made)
    one = _walk(service, "/v1/gates", run_id=made[0]["run_id"])
    assert [g["gate_id"] for g in one] == [made[0]["gate_id"]]
    # A gated step is recorded (pending_approval) when its gate is presented.
    steps = _walk(service, "/v1/steps", limit=2, status="pending_approval")
    assert sorted(s["step_id"] for s in steps) == sorted(g["step_id"] for g in gates)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/runs", {"limit": 0}),
        ("/v1/runs", {"limit": 100000}),
        ("/v1/runs", {"status": "sleeping"}),
        ("/v1/runs", {"since": "yesterday"}),
        ("/v1/runs", {"until": "2026-01-01"}),  # a date is not the documented date-time
        ("/v1/steps", {"until": "0"}),  # nor a number of seconds
        ("/v1/gates", {"until": "2026-01-01T00:00:00"}),  # nor a time without its offset
        ("/v1/kpis", {"since": "1767225600"}),
        ("/v1/steps", {"since": "9999-12-31T23:59:59-23:59"}),  # past year 9999 in UTC: was a 500
        ("/v1/runs", {"until": "2026-01-01T00:00:00+99:99"}),
        ("/v1/runs", {"cursor": "!!!"}),
        ("/v1/runs", {"cursor": "WyJnYXRlcyIsWzFdXQ"}),
        ("/v1/approvals", {"cursor": "WyJydW4iLFsxXV0"}),
    ],
)
def test_bad_parameters_get_422_in_the_error_shape(
    service: Service, path: str, params: dict[str, Any]
) -> None:
    """Bad query values and foreign cursors are 422 with code invalid_input."""
    response = service.client.get(path, params=params, headers=service.h("vic"))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert set(error) == {"code", "message", "details"}


def test_a_bad_body_gets_422_with_pydantic_details(service: Service) -> None:
    """The details list each problem with its location and pydantic's error type."""
    cases = [
        ({"decision": "maybe"}, ["body"], "union_tag_invalid"),
        ({"decision": "approve", "extra": 1}, ["body", "approve", "extra"], "extra_forbidden"),
        ({"decision": "edit"}, ["body", "edit", "args"], "missing"),
        ({"decision": "reject", "reason": 7}, ["body", "reject", "reason"], "string_type"),
    ]
    for body, loc, kind in cases:
        response = service.client.post(
            "/v1/approvals/gate_x", json=body, headers=service.h("alice")
        )
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert [(e["loc"], e["type"]) for e in error["details"]["errors"]] == [(loc, kind)]
        assert error["message"].startswith("invalid request: " + ".".join(loc))
    response = service.client.post(
        "/v1/runs",
        content=b"{not json",
        headers={**service.h("olga"), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


def test_unknown_run_is_404(service: Service) -> None:
    """A run id that the ledger does not hold."""
    response = service.client.get("/v1/runs/run_nope", headers=service.h("vic"))
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "unknown run 'run_nope'",
        "details": {},
    }


def test_tools_list_policies(service: Service) -> None:
    """Loaded tools come with their schema; the built-in policy table is listed too."""
    tools = service.client.get("/v1/tools", headers=service.h("vic")).json()
    by_name = {t["tool"]: t for t in tools}
    gated = by_name["close_account"]
    assert gated["registered"] is True
    assert (gated["risk_level"], gated["requires_approval"]) == ("execute_high", True)
    assert gated["parameters"]["required"] == ["account_id"]
    assert any(not t["registered"] for t in tools)
    ranks = ["read", "suggest", "execute_low", "execute_high"]
    assert [ranks.index(t["risk_level"]) for t in tools] == sorted(
        ranks.index(t["risk_level"]) for t in tools
    )


def test_pages_span_long_stretches_of_other_records(service: Service) -> None:
    """Runs far apart in the chain (hundreds of other records between them) still page once."""
    ledger = service.state.ledger
    started = []
    for i in range(5):
        started.append(_start(service))
        filler = [("note", {"note_id": f"n{i}-{j}", "text": "x"}) for j in range(300 * (i % 3))]
        if filler:
            ledger.append_many(filler)
    for limit in (1, 2, 50):
        walked = _walk(service, "/v1/runs", limit=limit)
        assert [r["run_id"] for r in walked] == started[::-1]
    assert _walk(service, "/v1/runs", status="failed") == []
