"""The role chat pages: a turn runs through the control plane and pauses at its approval card."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .conftest import LiveService, sign_in


def test_chat_shows_an_approval_card_and_resumes_on_approval(
    page: Page, service: LiveService
) -> None:
    """The recruiter's send_message waits at a card in the conversation; approving it runs the
    message and the agent answers."""
    sign_in(page, service, "alice", then="/chat/recruiter")
    page.fill("input[name=message]", 'Message John saying "Are you free for a call at 10?"')
    page.click("button:has-text('Send')")
    card = page.get_by_test_id("chat-approval-card")
    expect(card).to_be_visible()
    expect(card).to_contain_text("send_message")
    expect(card).to_contain_text("execute_high")
    expect(card).to_contain_text("Are you free for a call at 10?")
    expect(page.get_by_test_id("tool-call")).to_contain_text("send_message")
    expect(page.locator("input[name=message]")).to_be_disabled()
    gate_id = card.get_attribute("data-gate-id")
    assert gate_id
    assert service.gate(gate_id).decision == "pending"
    card.locator("input[name=reason]").fill("wording is fine")
    card.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("resumed")
    expect(page.get_by_test_id("chat-approval-card")).to_have_count(0)
    expect(page.get_by_test_id("tool-result").last).to_contain_text("send_message")
    expect(page.get_by_test_id("msg-assistant").last).to_be_visible()
    gate = service.gate(gate_id)
    assert (gate.decision, gate.decided_by) == ("approved", "alice")


def test_chat_read_tools_answer_without_a_card(page: Page, service: LiveService) -> None:
    """An admin's health check is a read: tool activity and an answer, no approval."""
    sign_in(page, service, "alice", then="/chat/admin")
    page.fill("input[name=message]", "Check system health")
    page.click("button:has-text('Send')")
    expect(page.get_by_test_id("tool-call")).to_contain_text("get_system_health")
    expect(page.get_by_test_id("msg-assistant").last).to_be_visible()
    expect(page.get_by_test_id("chat-approval-card")).to_have_count(0)


def test_a_viewer_can_read_chat_but_not_send(page: Page, service: LiveService) -> None:
    """Sending needs the operator role."""
    sign_in(page, service, "victor", then="/chat/driver")
    expect(page.locator("main")).to_contain_text("Sending messages needs the operator role")
    expect(page.locator("input[name=message]")).to_have_count(0)
