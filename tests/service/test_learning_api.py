"""The learning loop over HTTP: versions, off-policy estimates, rollbacks and switches."""

from __future__ import annotations

from datetime import timedelta

from learning.test_loop import GROUPS, fill
from tailguard.learning import SelfLearnStore
from tailguard.learning.loop import PolicyLearner
from tailguard.learning.versions import PolicyStore

from .conftest import Service


def _two_versions(service: Service) -> tuple[str, str]:
    ledger = service.state.ledger
    store = SelfLearnStore(ledger.engine)
    fill(store, 30)
    learner = PolicyLearner(store=store, versions=PolicyStore(ledger), groups=GROUPS)
    first = learner.start(service.clock.now()).version
    second = learner.update(service.clock.now() + timedelta(days=3)).policy_version
    return first, second


def test_viewers_see_versions_and_their_off_policy_value(service: Service) -> None:
    """GET /v1/learning/policies lists versions; /evaluate gives every estimator."""
    first, second = _two_versions(service)
    body = service.client.get("/v1/learning/policies", headers=service.h("vic")).json()
    assert body["active"] == second
    assert [v["version_id"] for v in body["versions"]] == [second, first]
    assert body["rollbacks"] == []
    ev = service.client.get(
        "/v1/learning/evaluate",
        params={"policy": "learning", "bootstrap": 20},
        headers=service.h("vic"),
    )
    assert ev.status_code == 200, ev.text
    assert ev.json()["n"] == 30
    assert set(ev.json()["estimators"]) == {"ips", "snips", "dm", "dr", "sndr"}
    missing = service.client.get(
        "/v1/learning/evaluate", params={"policy": "lp-nope"}, headers=service.h("vic")
    )
    assert missing.status_code == 404


def test_only_an_admin_rolls_back_or_freezes(service: Service) -> None:
    """Rollback and switches need the admin role; each is recorded and shown."""
    first, second = _two_versions(service)
    denied = service.client.post(
        "/v1/learning/rollback", json={"reason": "x"}, headers=service.h("olga")
    )
    assert denied.status_code == 403
    done = service.client.post(
        "/v1/learning/rollback", json={"reason": "odd lift"}, headers=service.h("root")
    )
    assert done.status_code == 200, done.text
    assert done.json() == {"active": first}
    shown = service.client.get("/v1/learning/policies", headers=service.h("vic")).json()
    assert shown["rollbacks"][0]["by"] == "root"
    assert shown["rollbacks"][0]["policy_id"] == second
    frozen = service.client.post(
        "/v1/learning/switches", json={"frozen": True}, headers=service.h("root")
    )
    assert frozen.json()["frozen"] is True
    bad = service.client.post(
        "/v1/learning/switches", json={"frozen": "maybe"}, headers=service.h("root")
    )
    assert bad.status_code == 422
    again = service.client.post(
        "/v1/learning/rollback", json={"reason": "x"}, headers=service.h("root")
    )
    assert again.status_code == 409


def test_switches_take_only_booleans(service: Service) -> None:
    """A number where a boolean belongs is a 422, not a silent false."""
    for body in ({"pinned": 0.0}, {"frozen": 1}, {"pinned": "true"}):
        bad = service.client.post("/v1/learning/switches", json=body, headers=service.h("root"))
        assert bad.status_code == 422, body
