"""Rollback by people in the browser: asked from the run page, approved by another person."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .conftest import LiveService, sign_in


def _as(page: Page, service: LiveService, who: str, then: str = "/approvals") -> None:
    """Sign in as ``who`` in a fresh session (the cookies of the last person dropped)."""
    page.context.clear_cookies()
    sign_in(page, service, who, then=then)


def test_an_operator_asks_for_a_rollback_and_another_person_approves_it(
    page: Page, service: LiveService
) -> None:
    """Olga asks from the run page (the button shows only on the reversible, executed step);
    nothing is undone until Alice approves the rollback_step gate in the inbox; then the step
    shows rolled_back and the compensating tool ran once."""
    run_id, step_id = service.new_flag("olga", "acc-flag-7")
    _as(page, service, "victor", then=f"/runs/{run_id}")
    expect(page.get_by_test_id(f"rollback-{step_id}")).to_have_count(0)  # viewers cannot ask
    _as(page, service, "olga", then=f"/runs/{run_id}")
    form = page.get_by_test_id(f"rollback-{step_id}")
    form.get_by_label("Why roll back flag_account").fill("flagged the wrong account")
    form.get_by_role("button", name="Roll back…").click()
    expect(page.get_by_role("status")).to_contain_text("waits for another person's approval")
    assert not [e for e in service.effects() if e["tool"] == "unflag_account"]

    _as(page, service, "alice")
    card = page.locator("[data-testid=gate-row]", has_text=step_id)
    expect(card).to_contain_text("rollback_step")
    card.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("rollback_step executed")
    undone = [e for e in service.effects() if e["tool"] == "unflag_account"]
    assert [e["args"]["account_id"] for e in undone] == ["acc-flag-7"]
    page.goto(f"/runs/{run_id}")
    step = page.locator("[data-testid=steps] tr[data-tool=flag_account]")
    expect(step).to_contain_text("rolled_back")
    expect(page.get_by_test_id(f"rollback-{step_id}")).to_have_count(0)
