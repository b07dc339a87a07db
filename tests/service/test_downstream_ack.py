"""A downstream agent's acknowledgement of a job over HTTP: the run's engagement signal."""

from __future__ import annotations

from typing import Any

from .conftest import READ, Service


def _finished_run(service: Service) -> tuple[str, str, float]:
    """A run with one executed call, finished: (run id, step id, its score)."""
    run = service.client.post("/v1/runs", json={"role": "ops"}, headers=service.h("olga"))
    run_id = run.json()["run_id"]
    step = service.client.post(
        f"/v1/runs/{run_id}/steps",
        json={"tool_name": READ, "args": {"account_id": "acc-9"}},
        headers=service.h("olga"),
    )
    assert step.json()["outcome"] == "executed"
    done = service.client.post(
        f"/v1/runs/{run_id}/finish", json={"status": "completed"}, headers=service.h("olga")
    )
    assert done.status_code == 200, done.text
    return run_id, step.json()["step_id"], float(done.json()["quality_score"])


def _outcome(service: Service, run_id: str) -> dict[str, Any]:
    found = [dict(r.fields) for r in service.state.ledger.records(kind="outcome", run_id=run_id)]
    return found[-1]


def test_an_ack_within_the_window_rescores_the_run_once(service: Service) -> None:
    """Ten minutes after the run, the downstream agent acknowledges the job: the outcome is
    re-scored +20 (same outcome id) with an engagement record; a second ack adds nothing."""
    run_id, step_id, before = _finished_run(service)
    assert before <= 80.0  # room for the bonus, so the re-score is seen
    service.clock.advance(600)
    ack = service.client.post(f"/v1/steps/{step_id}/ack", headers=service.h("olga"))
    assert ack.status_code == 200, ack.text
    body = ack.json()
    assert (body["run_id"], body["step_id"], body["recorded"]) == (run_id, step_id, True)
    assert body["quality_score"] == before + 20.0
    assert float(_outcome(service, run_id)["quality_score"]) == before + 20.0
    [engaged] = [r.fields for r in service.state.ledger.records(kind="engagement", run_id=run_id)]
    assert (engaged["signal"], engaged["by"]) == ("downstream_ack", "olga")
    again = service.client.post(f"/v1/steps/{step_id}/ack", headers=service.h("olga")).json()
    assert (again["recorded"], again["quality_score"]) == (True, None)
    assert float(_outcome(service, run_id)["quality_score"]) == before + 20.0
    assert service.state.ledger.verify().ok


def test_a_late_ack_changes_nothing_and_bad_steps_are_refused(service: Service) -> None:
    """An ack an hour after the run is not engagement; an unknown step is 404, a step that
    waits at a gate (nothing done yet) 409, and a viewer may not acknowledge."""
    run_id, step_id, before = _finished_run(service)
    service.clock.advance(3600)
    late = service.client.post(f"/v1/steps/{step_id}/ack", headers=service.h("olga")).json()
    assert (late["recorded"], late["quality_score"]) == (False, None)
    assert float(_outcome(service, run_id)["quality_score"]) == before
    assert not list(service.state.ledger.records(kind="engagement", run_id=run_id))
    missing = service.client.post("/v1/steps/step_nope/ack", headers=service.h("olga"))
    assert missing.status_code == 404
    gated = service.gated_call()
    waiting = service.client.post(f"/v1/steps/{gated['step_id']}/ack", headers=service.h("olga"))
    assert waiting.status_code == 409
    assert "no job to acknowledge" in waiting.json()["error"]["message"]
    viewer = service.client.post(f"/v1/steps/{step_id}/ack", headers=service.h("vic"))
    assert viewer.status_code == 403
