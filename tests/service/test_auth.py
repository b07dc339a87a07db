"""API keys and roles: nothing under /v1 answers without a key, and roles are enforced."""

from __future__ import annotations

import sqlalchemy as sa

from tailguard.service.auth import KeyStore, Role, api_keys

from .conftest import Service


def _v1_routes(service: Service) -> list[tuple[str, str]]:
    out = []
    for path, operations in service.app.openapi()["paths"].items():
        if path.startswith("/v1"):
            concrete = path.replace("{run_id}", "run_x").replace("{gate_id}", "gate_x")
            out.extend((method.upper(), concrete) for method in operations)
    return out


def test_every_v1_endpoint_refuses_a_request_without_a_key(service: Service) -> None:
    """Each /v1 route answers 401 in the error shape when no key is sent."""
    routes = _v1_routes(service)
    assert len(routes) >= 15
    for method, path in routes:
        response = service.client.request(method, path, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_v1_paths_do_not_answer_without_a_key(service: Service) -> None:
    """Even a missing endpoint under /v1 is a 401 for an anonymous caller, a 404 with a key."""
    assert service.client.get("/v1/no-such-thing").status_code == 401
    response = service.client.get("/v1/no-such-thing", headers=service.h("vic"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_bad_or_revoked_key_is_refused(service: Service) -> None:
    """Malformed, unknown and revoked keys are all 401."""
    real = service.keys["vic"]
    key_id = real.split("_")[1]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    for raw in ("nonsense", f"tg_{'0' * 16}_{'x' * 43}", forged):
        response = service.client.get("/v1/runs", headers={"Authorization": f"Bearer {raw}"})
        assert response.status_code == 401, raw
    assert service.client.get("/v1/runs", headers=service.h("vic")).status_code == 200
    service.state.keys.revoke(key_id)
    assert service.client.get("/v1/runs", headers=service.h("vic")).status_code == 401


def test_both_header_forms_authenticate(service: Service) -> None:
    """``Authorization: Bearer`` and ``X-API-Key`` are accepted alike."""
    raw = service.keys["vic"]
    assert service.client.get("/v1/runs", headers={"X-API-Key": raw}).status_code == 200
    assert (
        service.client.get("/v1/runs", headers={"Authorization": f"bearer {raw}"}).status_code
        == 200
    )


def test_a_lesser_role_gets_403(service: Service) -> None:
    """A viewer cannot start runs or decide gates; an operator cannot decide gates."""
    step = service.gated_call("olga")
    gate = step["gate_id"]
    viewer_run = service.client.post("/v1/runs", json={"role": "ops"}, headers=service.h("vic"))
    assert viewer_run.status_code == 403
    assert viewer_run.json()["error"]["code"] == "permission_denied"
    assert viewer_run.json()["error"]["details"] == {"needed": "operator", "role": "viewer"}
    for who in ("vic", "olga"):
        response = service.client.post(
            f"/v1/approvals/{gate}", json={"decision": "approve"}, headers=service.h(who)
        )
        assert response.status_code == 403, who
    assert service.calls.of("close_account") == []
    pending = service.client.get("/v1/approvals", headers=service.h("vic")).json()["items"]
    assert [p["gate_id"] for p in pending] == [gate]


def test_keys_are_stored_hashed(service: Service) -> None:
    """The database holds a salted digest, never the key or its secret."""
    with service.state.ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys)).all()
    assert len(rows) == len(service.keys)
    secrets = [raw.split("_", 2)[2] for raw in service.keys.values()]
    dumped = repr([tuple(row) for row in rows])
    assert not any(secret in dumped for secret in secrets)
    assert len({row.salt for row in rows}) == len(rows)


def test_key_store_roundtrip_and_approver_check(service: Service) -> None:
    """verify gives the principal; can_decide follows the role and revocation."""
    store = KeyStore(service.state.ledger.engine)
    key, raw = store.create("carol", Role.APPROVER)
    principal = store.verify(raw)
    assert principal is not None
    assert (principal.key_id, principal.name, principal.role) == (
        key.key_id,
        "carol",
        Role.APPROVER,
    )
    assert store.can_decide("carol", tool_name="t", risk_level="execute_high")
    assert not store.can_decide("olga", tool_name="t", risk_level="execute_high")
    store.revoke(key.key_id)
    assert store.verify(raw) is None
    assert not store.can_decide("carol", tool_name="t", risk_level="execute_high")
    listed = {k.key_id: k for k in store.list()}
    assert not listed[key.key_id].active
    assert [k.key_id for k in store.list(include_revoked=False)].count(key.key_id) == 0


def test_role_order() -> None:
    """viewer < operator < approver < admin."""
    order = [Role.VIEWER, Role.OPERATOR, Role.APPROVER, Role.ADMIN]
    for i, low in enumerate(order):
        for j, high in enumerate(order):
            assert high.allows(low) == (j >= i)
