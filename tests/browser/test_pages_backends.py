"""The dashboard pages over both ledger backends (SQLite and PostgreSQL), in process.

The browser tests run on SQLite; this suite drives the same pages with an HTTP client so the
Polars/Arrow queries behind them, the inbox decision and the chat page run on PostgreSQL too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from _service_fixtures import ledger_url as ledger_url
from tailguard.service import ServiceSettings, create_app

from .seed import Seeded, make_registry, seed


@pytest.fixture
def app_client(ledger_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Seeded, Path]]:
    """The app over a seeded ledger, and what was seeded."""
    pulse = str(tmp_path / "pulse.db")
    seeded = seed(ledger_url, pulse, n_areas=40, history_days=3)
    effects = tmp_path / "effects.jsonl"
    settings = ServiceSettings(
        ledger_url=ledger_url,
        pulse_url=pulse,
        registry=make_registry(effects),
        secret_key="backend-tests",
    )
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield client, seeded, effects


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def _sign_in(client: TestClient, key: str) -> str:
    form = client.get("/signin")
    done = client.post(
        "/signin",
        data={"api_key": key, "csrf": _csrf(form.text), "next": "/approvals"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/approvals"
    inbox = client.get("/approvals")
    assert inbox.status_code == 200
    return _csrf(inbox.text)


def test_every_page_renders_with_data(app_client: tuple[TestClient, Seeded, Path]) -> None:
    """Each dashboard page answers 200 and shows the seeded facts."""
    client, seeded, _ = app_client
    _sign_in(client, seeded.keys["victor"])
    expectations = {
        "/approvals": "close_account",
        "/runs": "waiting_approval",
        f"/runs/{seeded.runs['area']}": "cust-3012",
        "/costs": "$0.50",
        "/audit": "credit already given last week",
        "/quality": "area_agent",
        "/network": 'data-area="PA-0040"',
        "/network/PA-0007": "late_tail",
        "/chat": "recruiter",
    }
    for path, text in expectations.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert text in response.text, path
    csv_text = client.get("/audit.csv?decision=rejected").text
    assert csv_text.splitlines()[0].startswith("decided_at,decision,decided_by")
    assert "bob" in csv_text
    assert "alice" not in csv_text


def test_unknown_run_and_area_get_the_404_page(
    app_client: tuple[TestClient, Seeded, Path],
) -> None:
    """Drilling into something that does not exist is a 404 page, not an error."""
    client, seeded, _ = app_client
    _sign_in(client, seeded.keys["victor"])
    assert client.get("/runs/run_nope").status_code == 404
    assert client.get("/network/PA-9999").status_code == 404


def test_approving_through_the_page_resumes_the_run(
    app_client: tuple[TestClient, Seeded, Path],
) -> None:
    """The inbox form decides as the signed-in person and the approved call runs once."""
    client, seeded, effects = app_client
    csrf = _sign_in(client, seeded.keys["bob"])
    done = client.post(
        f"/approvals/{seeded.gates['approve']}",
        data={
            "decision": "edit",
            "args": '{"account_id": "acc-17", "note": "checked"}',
            "reason": "ok",
            "csrf": csrf,
        },
    )
    assert done.status_code == 200
    assert "Edited and approved close_account" in done.text
    assert "close_account executed" in done.text
    assert '"account_id": "acc-17", "note": "checked"' in effects.read_text()
    audit = client.get("/audit?decided_by=bob&decision=approved").text
    assert "edited" in audit


def test_chat_turn_pauses_at_its_card(app_client: tuple[TestClient, Seeded, Path]) -> None:
    """A recruiter message that sends a message waits at an approval card in the page."""
    client, seeded, _ = app_client
    csrf = _sign_in(client, seeded.keys["alice"])
    page = client.post(
        "/chat/recruiter", data={"message": "Message John saying hello", "csrf": csrf}
    )
    assert page.status_code == 200
    assert 'data-testid="chat-approval-card"' in page.text
    assert "send_message" in page.text
    assert 'data-testid="stand-in"' in page.text  # the scripted model says it is one
