"""The inbox built for volume: plain words, filters, bulk decisions, keyboard, schema edit form."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import LiveService, sign_in


def _sign_in_to(page: Page, service: LiveService, who: str, path: str) -> None:
    sign_in(page, service, who)
    page.goto(path)


def _row(page: Page, gate_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'[data-testid=gate-row][data-gate-id="{gate_id}"]')


def _shown_ids(page: Page) -> list[str]:
    return [
        str(el.get_attribute("data-gate-id")) for el in page.locator("[data-testid=gate-row]").all()
    ]


def test_rows_say_the_action_in_plain_words_and_filter_by_amount(
    page: Page, service: LiveService
) -> None:
    """A $912 credit reads as money with its target; the amount filter keeps only its band."""
    gate = service.new_credit_gate("olga", "cust-912", 912.0)
    _sign_in_to(page, service, "bob", "/approvals?min_usd=912&max_usd=912")
    expect(page.locator("[data-testid=gate-row]")).to_have_count(1)
    row = _row(page, gate)
    expect(row.get_by_test_id("action")).to_have_text("$912 apology credit for customer cust-912")
    expect(row).to_contain_text("$912.00")
    expect(page.get_by_test_id("filtered-of")).to_be_visible()


def test_bulk_approve_decides_every_selected_gate_at_once(page: Page, service: LiveService) -> None:
    """Bob selects three credits and approves them together: all three run, recorded as his."""
    gates = [service.new_credit_gate("olga", f"cust-bulk-{i}", 921.0 + i) for i in range(3)]
    _sign_in_to(page, service, "bob", "/approvals?min_usd=921&max_usd=923")
    expect(page.locator("[data-testid=gate-row]")).to_have_count(3)
    page.get_by_test_id("select-all").check()
    expect(page.get_by_test_id("selected-count")).to_have_text("3")
    page.get_by_label("Reason for the selected").fill("routine credits")
    page.get_by_test_id("approve-selected").click()
    expect(page.get_by_role("status")).to_contain_text("Approved 3 gates. 3 calls executed.")
    expect(page.locator("[data-testid=gate-row]")).to_have_count(0)
    for gate in gates:
        decided = service.gate(gate)
        assert (decided.decision, decided.decided_by) == ("approved", "bob")
    credited = {
        e["args"]["customer_id"] for e in service.effects() if e["tool"] == "apology_credit"
    }
    assert {f"cust-bulk-{i}" for i in range(3)} <= credited


def test_the_keyboard_moves_selects_and_decides(page: Page, service: LiveService) -> None:
    """j/k move the cursor, x selects, a approves the selection, r rejects the current row."""
    for i in range(3):
        service.new_credit_gate("olga", f"cust-key-{i}", 931.0 + i)
    _sign_in_to(page, service, "alice", "/approvals?min_usd=931&max_usd=933")
    expect(page.locator("[data-testid=gate-row]")).to_have_count(3)
    first, second, third = _shown_ids(page)
    page.keyboard.press("j")
    expect(_row(page, first)).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(_row(page, second)).to_have_class(re.compile(r"\bcursor\b"))
    page.keyboard.press("x")
    expect(page.get_by_test_id("selected-count")).to_have_text("2")
    page.keyboard.press("a")
    expect(page.get_by_role("status")).to_contain_text("Approved 2 gates")
    assert service.gate(first).decision == "approved"
    assert service.gate(second).decision == "approved"
    assert service.gate(third).decision == "pending"
    expect(page.locator("[data-testid=gate-row]")).to_have_count(1)
    page.keyboard.press("j")
    page.keyboard.press("r")
    expect(page.get_by_role("status")).to_contain_text("will never run")
    assert (service.gate(third).decision, service.gate(third).decided_by) == ("rejected", "alice")


def test_the_schema_form_refuses_an_invalid_value_in_place(
    page: Page, service: LiveService
) -> None:
    """Over the schema's maximum, the form says so beside the field, keeps what was typed and
    sends nothing; a valid value then approves the edited call."""
    gate = service.new_credit_gate("olga", "cust-edit", 941.0)
    _sign_in_to(page, service, "bob", "/approvals?min_usd=941&max_usd=941")
    row = _row(page, gate)
    row.get_by_test_id("details-toggle").click()
    row.get_by_text("Edit and approve").click()
    form = row.get_by_test_id("edit-form")
    amount = form.locator("input[name='arg.amount_usd']")
    expect(amount).to_have_value("941")
    form.locator("input[name='arg.message']").fill("Sorry, again")
    amount.fill("5000")
    error = amount.locator("xpath=..").get_by_test_id("field-error")
    expect(error).to_contain_text("1000")  # the schema's maximum, said beside the field
    form.get_by_role("button", name="Approve with these arguments").click()
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_have_value("5000")
    expect(form.locator("input[name='arg.message']")).to_have_value("Sorry, again")
    assert service.gate(gate).decision == "pending"
    amount.fill("45")
    expect(amount).to_have_attribute("aria-invalid", "false")
    form.get_by_role("button", name="Approve with these arguments").click()
    expect(page.get_by_role("status")).to_contain_text("Edited and approved apology_credit")
    decided = service.gate(gate)
    assert decided.decision == "approved"
    assert decided.args["amount_usd"] == 45.0
    assert decided.args["message"] == "Sorry, again"
