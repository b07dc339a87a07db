"""The operations roles on the service's chat pages: the field-service domain beside the
recruiting reference domain, answering from the deployment's own ledger, pulse and store."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from tailguard.clock import FakeClock
from tailguard.control.queries import runs_of
from tailguard.identity.keys import KeyStore
from tailguard.ledger import Ledger
from tailguard.service import ServiceSettings, create_app
from tailguard.service.chat import close

from .network import Network


def _signed_in(client: TestClient, key: str) -> str:
    form = client.get("/signin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    signed = client.post("/signin", data={"csrf": csrf.group(1), "api_key": key})
    assert signed.status_code == 200, signed.text
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/chat").text)
    assert token is not None
    return token.group(1)


def test_the_operations_manager_chats_from_the_service_pages(
    db_url: str, pulse_url: str, network: Network, tmp_path: Path
) -> None:
    """The chat index lists the operations roles apart from the recruiting ones; the reference
    question sent from the page is answered from the deployment's records, through a governed
    read tool recorded in the service's own ledger, and the page says the model is a stand-in."""
    ledger = Ledger.open(db_url, clock=FakeClock(network.now))
    try:
        _, key = KeyStore(ledger.engine).create("maria", "operator")
    finally:
        ledger.close()
    settings = ServiceSettings(ledger_url=db_url, pulse_url=pulse_url, clock=FakeClock(network.now))
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        csrf = _signed_in(client, key)
        index = client.get("/chat").text
        ops_part = index.split('data-testid="ops-roles"')[1].split("</div>\n<h2")[0]
        assert 'href="/chat/ops_manager"' in ops_part
        assert 'href="/chat/ops_analyst"' in ops_part
        assert 'href="/chat/recruiter"' not in ops_part
        assert "Reference domain: trucking recruiting" in index

        sent = client.post(
            "/chat/ops_manager",
            data={
                "csrf": csrf,
                "message": "Why did PA-0004 get a surge window yesterday, and did it work?",
            },
        )
        assert sent.status_code == 200, sent.text
        page = sent.text
        day = network.yesterday.date().isoformat()
        assert f"PA-0004 on {day}" in page
        assert "it worked" in page
        assert "fs_explain_intervention" in page
        assert 'data-testid="stand-in"' in page
        runs = runs_of(app.state.tailguard.ledger.engine, role="ops_manager", initiator_id="maria")
        assert len(runs) == 1
        assert runs[0].status == "completed"
        assert client.get("/chat/no_such_role").status_code == 422  # named in the error

        api = client.post(
            "/v1/agents/ops_analyst/messages",
            headers={"X-API-Key": key},
            json={"message": "Why did PA-0004 get a surge window yesterday, and did it work?"},
        )
        assert api.status_code == 200, api.text
        body = api.json()
        assert body["status"] == "completed"
        assert body["stand_in"] is True
        assert "it worked" in (body["answer"] or "")
        unknown = client.post(
            "/v1/agents/nobody/messages", headers={"X-API-Key": key}, json={"message": "hi"}
        )
        assert unknown.status_code == 404
        assert "ops_manager" in unknown.text
        close(app)
