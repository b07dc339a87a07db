"""Health, readiness, metrics, logs, pulse and tails, KPIs and the optional-router hook."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tailguard.clock import FakeClock
from tailguard.pulse import PulseStore
from tailguard.rules import parse_rules
from tailguard.service import ServiceSettings, create_app, include_optional_routers
from tailguard.service.observe import JsonFormatter

from .conftest import GATED, Service

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def test_healthz_and_readyz_need_no_key(service: Service) -> None:
    """Liveness and readiness answer anonymous probes."""
    assert service.client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = service.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"ledger": "ok"}


def test_readyz_is_503_when_the_database_is_gone(tmp_path: Path) -> None:
    """Remove the SQLite file's directory under a running app: not ready, still alive."""
    folder = tmp_path / "db"
    folder.mkdir()
    app = create_app(
        ServiceSettings(
            ledger_url=f"sqlite:///{folder / 'l.db'}", pulse_url=str(tmp_path / "p.db")
        ),
        optional_routers=False,
    )
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        app.state.tailguard.ledger.engine.dispose()
        shutil.rmtree(folder)
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert "ledger" in response.json()["checks"]
        assert client.get("/healthz").status_code == 200


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        metric, _, value = line.rpartition(" ")
        if metric.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in metric for k, v in labels.items()):
            return float(value)
    return None


def test_metrics_count_requests_by_route_template_and_gates(service: Service) -> None:
    """Route templates (not raw paths) label requests; pending gates and approvals show."""
    before = service.client.get("/metrics").text
    base = (
        _sample(before, "tailguard_http_requests_total", route="/v1/runs/{run_id}", status="200")
        or 0.0
    )
    approved_before = _sample(before, "tailguard_approvals_total", decision="approve") or 0.0
    step = service.gated_call("olga")
    for _ in range(3):
        service.client.get(f"/v1/runs/{step['run_id']}", headers=service.h("vic"))
    text = service.client.get("/metrics").text
    assert (
        _sample(text, "tailguard_http_requests_total", route="/v1/runs/{run_id}", status="200")
        == base + 3
    )
    assert _sample(text, "tailguard_gates_pending") == 1.0
    assert _sample(text, "tailguard_approval_bypasses_total") == 0.0
    assert "# TYPE tailguard_approval_bypasses_total counter" in text
    assert "tailguard_http_request_duration_seconds_bucket" in text
    assert "tailguard_tick_duration_seconds" in text
    records = _sample(text, "tailguard_ledger_records_total")
    assert records is not None
    assert records >= 3
    service.client.post(
        f"/v1/approvals/{step['gate_id']}", json={"decision": "approve"}, headers=service.h("alice")
    )
    text = service.client.get("/metrics").text
    assert _sample(text, "tailguard_gates_pending") == 0.0
    assert _sample(text, "tailguard_approvals_total", decision="approve") == approved_before + 1
    assert (_sample(text, "tailguard_ledger_records_total") or 0) > records


def test_one_json_log_line_per_request_with_ids(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    """The access line carries the request id (echoed in the response) and the run id."""
    step = service.gated_call("olga")
    with caplog.at_level(logging.INFO, logger="tailguard.service.access"):
        response = service.client.get(
            f"/v1/runs/{step['run_id']}", headers={**service.h("vic"), "X-Request-ID": "req-42"}
        )
    assert response.headers["x-request-id"] == "req-42"
    lines = [r for r in caplog.records if r.name == "tailguard.service.access"]
    assert len(lines) == 1
    payload = json.loads(JsonFormatter().format(lines[0]))
    assert payload["request_id"] == "req-42"
    assert payload["run_id"] == step["run_id"]
    assert payload["route"] == "/v1/runs/{run_id}"
    assert payload["status"] == 200
    assert payload["key_id"] == service.keys["vic"].split("_")[1]
    assert payload["level"] == "info"


def test_a_decision_log_line_names_the_run(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    """Deciding a gate logs the run it belongs to, though the path names only the gate."""
    step = service.gated_call("olga")
    with caplog.at_level(logging.INFO, logger="tailguard.service.access"):
        service.client.post(
            f"/v1/approvals/{step['gate_id']}",
            json={"decision": "reject"},
            headers=service.h("bob"),
        )
    (line,) = [r for r in caplog.records if r.name == "tailguard.service.access"]
    assert line.run_id == step["run_id"]  # type: ignore[attr-defined]
    assert line.gate_id == step["gate_id"]  # type: ignore[attr-defined]


def _write_pulse(path: Path) -> None:
    with PulseStore.open(str(path)) as store:
        for hour in range(4):
            store.write(
                T0 + timedelta(hours=hour),
                pl.DataFrame(
                    {
                        "area_id": ["a1", "a2", "a3"],
                        "lateness_p90_min": [45.0, 12.0 + hour, 31.0 if hour >= 2 else 10.0],
                        "nps_p10": [7.0, 3.0, None],
                    }
                ),
            )


def test_pulse_latest_history_and_tails(tmp_path: Path) -> None:
    """Tails honour ``for`` over the pulse history; history pages walk every row once."""
    pulse = tmp_path / "pulse.db"
    _write_pulse(pulse)
    rules = parse_rules(
        """
groups:
  - name: t
    rules:
      - alert: late_tail
        expr: "lateness_p90_min > 30"
        for: 2h
        labels: {severity: critical}
      - alert: nps_detractor_tail
        expr: "nps_p10 < 5"
        labels: {severity: critical}
"""
    )
    app = create_app(
        ServiceSettings(
            ledger_url=f"sqlite:///{tmp_path / 'l.db'}",
            pulse_url=str(pulse),
            clock=FakeClock(T0 + timedelta(hours=4)),
            rules=rules,
        ),
        optional_routers=False,
    )
    raw = app.state.tailguard.keys.create("vic", "viewer")[1]
    h = {"X-API-Key": raw}
    with TestClient(app) as client:
        latest = client.get("/v1/pulse", headers=h).json()["areas"]
        assert [(r["area_id"], r["kpis"]["lateness_p90_min"]) for r in latest] == [
            ("a1", 45.0),
            ("a2", 15.0),
            ("a3", 31.0),
        ]
        assert client.get("/v1/pulse", params={"area_id": "zz"}, headers=h).status_code == 404
        tails = client.get("/v1/tails", headers=h).json()
        assert tails["as_of"] == "2026-03-02T09:00:00Z"
        firing = {(t["area_id"], t["rule"]) for t in tails["tails"]}
        # a3 breached at 08:00 and 09:00 only: one hour held, less than the 2h `for`.
        assert firing == {("a1", "late_tail"), ("a2", "nps_detractor_tail")}
        with_pending = client.get("/v1/tails", params={"include_pending": True}, headers=h).json()
        assert ("a3", "late_tail", "pending") in {
            (t["area_id"], t["rule"], t["state"]) for t in with_pending["tails"]
        }
        rows = []
        cursor = None
        while True:
            params: dict[str, object] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/pulse/history", params=params, headers=h).json()
            rows += [(r["area_id"], r["as_of"]) for r in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(rows) == 12
        assert rows == sorted(set(rows))


def test_kpis_over_a_range(service: Service) -> None:
    """The control-plane KPIs count runs started in the range."""
    step = service.gated_call("olga")
    service.client.post(
        f"/v1/approvals/{step['gate_id']}", json={"decision": "reject"}, headers=service.h("alice")
    )
    now = service.clock.now()
    report = service.client.get("/v1/kpis", headers=service.h("vic")).json()
    assert report["overall"]["runs"] == 1
    assert report["overall"]["human_override_rate"] == 1.0
    assert report["overall"]["approval_bypass_count"] == 0
    assert GATED in report["per_tool"]
    later = service.client.get(
        "/v1/kpis",
        params={"since": (now + timedelta(hours=1)).isoformat()},
        headers=service.h("vic"),
    ).json()
    assert later["overall"]["runs"] == 0


def test_okrs_list_the_okr_records(service: Service) -> None:
    """Ledger records of kind okr are listed in their current state, filtered by area."""
    assert service.client.get("/v1/okrs", headers=service.h("vic")).json()["items"] == []
    ledger = service.state.ledger
    ledger.append("okr", {"okr_id": "okr-1", "area_id": "a1", "objective": "cut lateness"})
    ledger.append("okr", {"okr_id": "okr-2", "area_id": "a2", "objective": "fewer recalls"})
    ledger.append("okr", {"okr_id": "okr-1", "area_id": "a1", "objective": "cut lateness more"})
    items = service.client.get("/v1/okrs", headers=service.h("vic")).json()["items"]
    assert [(i["id"], i["fields"]["objective"]) for i in items] == [
        ("okr-2", "fewer recalls"),
        ("okr-1", "cut lateness more"),
    ]
    only = service.client.get("/v1/okrs", params={"area_id": "a1"}, headers=service.h("vic"))
    assert [i["id"] for i in only.json()["items"]] == ["okr-1"]


def test_optional_routers_are_included_when_their_module_exists(tmp_path: Path) -> None:
    """A module with ``router`` is included; a missing module is skipped."""
    (tmp_path / "tg_extra_router.py").write_text(
        "from fastapi import APIRouter\n"
        "router = APIRouter()\n"
        "@router.get('/extra')\n"
        "def extra() -> dict[str, str]:\n"
        "    return {'hello': 'there'}\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        app = FastAPI()
        included = include_optional_routers(app, ("tg_extra_router", "tg_missing_router_xyz"))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("tg_extra_router", None)
    assert included == ["tg_extra_router"]
    assert TestClient(app).get("/extra").json() == {"hello": "there"}


def test_interventions_page_through_the_self_learn_store(service: Service) -> None:
    """Every decision appears once across pages, oldest first; filters by area and status."""
    from tailguard.learning import Decision, SelfLearnStore, StatusUpdate

    assert service.client.get("/v1/interventions", headers=service.h("vic")).json() == {
        "items": [],
        "next_cursor": None,
    }
    store = SelfLearnStore(service.state.ledger.engine)
    decisions = [
        Decision(
            decision_id=f"dec-{i}",
            area_id=f"a{i % 3}",
            entry_id="surge-1",
            kind="surge_shift_offer",
            tool_name="offer_shift",
            trigger="late_tail",
            target_type="tech",
            target_id=f"tech-{i}",
            args={"tech_id": f"tech-{i}"},
            context={"lateness_p90_min": 40.0 + i},
            propensity=0.5,
            policy_version="v1",
            decided_at=T0 + timedelta(minutes=i),
        )
        for i in range(8)
    ]
    store.record_decisions(decisions)
    store.update_status([StatusUpdate(decision_id="dec-4", status="rejected", reason="no")])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = service.client.get("/v1/interventions", params=params, headers=service.h("vic"))
        assert page.status_code == 200, page.text
        seen += [item["decision_id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"dec-{i}" for i in range(8)]
    area = service.client.get(
        "/v1/interventions", params={"area_id": "a1"}, headers=service.h("vic")
    ).json()["items"]
    assert [i["decision_id"] for i in area] == ["dec-1", "dec-4", "dec-7"]
    assert area[0]["context"] == {"lateness_p90_min": 41.0}
    assert area[0]["propensity"] == 0.5
    rejected = service.client.get(
        "/v1/interventions", params={"status": "rejected"}, headers=service.h("vic")
    ).json()["items"]
    assert [(i["decision_id"], i["reason"]) for i in rejected] == [("dec-4", "no")]


def test_each_request_is_a_server_span_and_runs_nest_under_it(tmp_path: Path) -> None:
    """The span is named by the route template; a run started by a request is its child."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(
        ServiceSettings(
            ledger_url=f"sqlite:///{tmp_path / 'l.db'}",
            pulse_url=str(tmp_path / "p.db"),
            tracer_provider=provider,
        ),
        optional_routers=False,
    )
    raw = app.state.tailguard.keys.create("olga", "operator")[1]
    with TestClient(app) as client:
        run = client.post("/v1/runs", json={"role": "ops"}, headers={"X-API-Key": raw}).json()
        client.get(f"/v1/runs/{run['run_id']}", headers={"X-API-Key": raw})
        client.get("/v1/runs/run_missing", headers={"X-API-Key": raw})
    app.state.tailguard.plane.tracer.end_run(
        run_id=run["run_id"], status="completed", input_tokens=0, output_tokens=0, cost_usd=0.0
    )
    spans = {s.name: s for s in exporter.get_finished_spans()}
    started = spans["POST /v1/runs"]
    assert started.attributes is not None
    assert started.attributes["http.route"] == "/v1/runs"
    assert started.attributes["http.response.status_code"] == 201
    assert started.attributes["tailguard.run_id"] == run["run_id"]
    (agent,) = [s for s in spans.values() if s.name.startswith("invoke_agent")]
    assert agent.parent is not None
    assert agent.parent.span_id == started.context.span_id
    got = [s for s in exporter.get_finished_spans() if s.name == "GET /v1/runs/{run_id}"]
    assert [s.attributes["http.response.status_code"] for s in got if s.attributes] == [200, 404]


def test_every_v1_operation_documents_the_error_shape(tmp_path: Path) -> None:
    """With every optional router included, /v1 errors are documented as ErrorResponse."""
    app = create_app(
        ServiceSettings(ledger_url=str(tmp_path / "l.db"), pulse_url=str(tmp_path / "p.db"))
    )
    schema = app.openapi()
    assert "HTTPValidationError" not in json.dumps(schema["paths"])
    operations = [
        op for path, ops in schema["paths"].items() if path.startswith("/v1") for op in ops.values()
    ]
    assert len(operations) >= 18
    for op in operations:
        for code in ("401", "403", "422"):
            content = op["responses"][code]["content"]["application/json"]["schema"]
            assert content == {"$ref": "#/components/schemas/ErrorResponse"}
    app.state.tailguard.close()
