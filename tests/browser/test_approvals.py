"""The approvals inbox in the browser: approve, reject, live updates and who may decide."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import LiveService, sign_in


def _card(page: Page, gate_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-testid=gate-row][data-gate-id="{gate_id}"]')


def _open(card):  # type: ignore[no-untyped-def]
    """Open a row's details (its reason field and edit form)."""
    card.get_by_test_id("details-toggle").click()
    return card


def test_approving_a_gate_from_the_inbox_resumes_the_run(page: Page, service: LiveService) -> None:
    """Alice approves olga's close_account: the call runs once, the run shows it executed."""
    gate_id = service.seeded.gates["approve"]
    run_id = service.seeded.runs["approve"]
    sign_in(page, service, "alice")
    card = _card(page, gate_id)
    expect(card).to_contain_text("close_account")
    expect(card).to_contain_text("execute high")
    expect(card).to_contain_text("acc-17")  # the audit field, in clear
    expect(card).to_contain_text("olga")
    _open(card).get_by_label("Reason", exact=True).fill("customer asked twice")
    card.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("close_account executed")
    expect(_card(page, gate_id)).to_have_count(0)
    assert [e["args"]["account_id"] for e in service.effects() if e["tool"] == "close_account"] == [
        "acc-17"
    ]
    gate = service.gate(gate_id)
    assert (gate.decision, gate.decided_by) == ("approved", "alice")
    page.goto(f"/runs/{run_id}")
    expect(page.get_by_test_id("run-status")).to_have_text("running")
    step = page.locator("[data-testid=steps] tr[data-tool=close_account]")
    expect(step).to_contain_text("executed")
    page.goto("/audit?decided_by=alice")
    expect(page.get_by_test_id("audit")).to_contain_text("customer asked twice")


def test_rejecting_a_gate_never_runs_the_call(page: Page, service: LiveService) -> None:
    """Bob rejects: the decision and reason are recorded, and the tool never runs."""
    gate_id = service.seeded.gates["reject"]
    sign_in(page, service, "bob")
    card = _card(page, gate_id)
    _open(card).get_by_label("Reason", exact=True).fill("wrong account")
    card.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_contain_text("will never run")
    gate = service.gate(gate_id)
    assert (gate.decision, gate.decided_by) == ("rejected", "bob")
    assert not [e for e in service.effects() if e["args"].get("account_id") == "acc-99"]
    page.goto(f"/runs/{service.seeded.runs['reject']}")
    expect(page.locator("[data-testid=steps] tr[data-tool=close_account]")).to_contain_text(
        "rejected"
    )


def _post_decision(page: Page, gate_id: str, csrf: str | None) -> int:
    form = {"decision": "approve", "reason": "forged"}
    if csrf is not None:
        form["csrf"] = csrf
    response = page.request.post(f"/approvals/{gate_id}", form=form, max_redirects=0)
    return response.status


def _csrf(page: Page) -> str:
    token = page.locator("header .me input[name=csrf]").get_attribute("value")
    assert token
    return token


def test_a_viewer_cannot_approve(page: Page, service: LiveService) -> None:
    """Victor (viewer) sees the cards without buttons, and a posted decision gets the 403 page."""
    gate_id = service.seeded.gates["area"]
    sign_in(page, service, "victor")
    card = _card(page, gate_id)
    expect(card).to_be_visible()
    expect(card.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    assert _post_decision(page, gate_id, _csrf(page)) == 403
    assert service.gate(gate_id).decision == "pending"
    page.goto("/approvals")
    expect(page.locator("main")).to_contain_text("deciding needs the approver role")


def test_an_approver_cannot_decide_a_gate_of_their_own_run(
    page: Page, service: LiveService
) -> None:
    """Alice started the apology_credit run: no buttons for her, and the control plane says no."""
    gate_id = service.seeded.gates["own"]
    sign_in(page, service, "alice")
    expect(_card(page, gate_id).get_by_test_id("own-run")).to_be_visible()
    response = page.request.post(
        f"/approvals/{gate_id}", form={"decision": "approve", "csrf": _csrf(page)}
    )
    assert response.status == 403
    assert "started this run" in response.text()
    assert service.gate(gate_id).decision == "pending"


def test_a_decision_without_the_csrf_token_is_refused(page: Page, service: LiveService) -> None:
    """A form post without (or with a wrong) token decides nothing."""
    gate_id = service.seeded.gates["area"]
    sign_in(page, service, "bob")
    assert _post_decision(page, gate_id, None) == 403
    assert _post_decision(page, gate_id, "not-the-token") == 403
    assert service.gate(gate_id).decision == "pending"


def test_the_inbox_updates_live(page: Page, service: LiveService) -> None:
    """A gate opened by another process appears without a reload, and leaves once decided."""
    sign_in(page, service, "bob")
    count_before = int(page.get_by_test_id("pending-count").inner_text())
    gate_id = service.new_gate("olga", "acc-live")
    card = _card(page, gate_id)
    expect(card).to_be_visible(timeout=15_000)
    expect(card).to_contain_text("acc-live")
    expect(page.get_by_test_id("pending-count")).to_have_text(str(count_before + 1))
    card.get_by_role("button", name="Reject").click()
    expect(page).to_have_url(re.compile(r"/approvals"))
    expect(_card(page, gate_id)).to_have_count(0)
