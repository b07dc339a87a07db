"""Delegated approval policies in the browser: decided by policy, waiting, sampled for a person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tailguard.clock import SystemClock, format_ts
from tailguard.control import ControlPlane
from tailguard.control.approval_policies import parse_approval_policies
from tailguard.control.delegation import sampled
from tailguard.ledger import Ledger
from tailguard.service.auth import KeyStore

from .conftest import LiveService, live_service, sign_in
from .seed import make_registry

POLICIES = """\
approval_policies:
  - name: small-credits
    description: Credits up to $50 need no person; half are sampled for review.
    tools: [apology_credit]
    limits:
      - {arg: amount_usd, max: 50}
    spend: {arg: amount_usd}
    caps: {day_usd: 100000}
    sample_pct: 50
"""

GATES: dict[str, str] = {}


def _credit(plane: ControlPlane, customer: str, amount: float) -> tuple[str, dict[str, Any]]:
    args = _args(customer, amount)
    run = plane.start_run("cx", "olga", f"apology for {customer}")
    gate_id = plane.execute(run, "apology_credit", args).gate_id
    assert gate_id is not None
    return gate_id, args


def _open_gates(ledger_url: str) -> None:
    """Before the service starts (its startup sweep assesses them): one covered credit the
    hash leaves to the policy, one it samples for a person, and one over the limit."""
    (policy,) = parse_approval_policies(POLICIES)
    day = format_ts(SystemClock().now())[:10]

    def drawn(customer: str) -> bool:
        call = SimpleNamespace(tool_name="apology_credit", args=_args(customer, 20.0))
        return sampled(policy, call, None, day)  # type: ignore[arg-type]

    candidates = [f"cust-pol-{i}" for i in range(40)]
    auto = next(c for c in candidates if not drawn(c))
    review = next(c for c in candidates if drawn(c))
    with Ledger.open(ledger_url) as ledger:
        plane = ControlPlane(make_registry(), ledger, approvers=KeyStore(ledger.engine))
        GATES["policy"] = _credit(plane, auto, 20.0)[0]
        GATES["sampled"] = _credit(plane, review, 20.0)[0]
        GATES["outside"] = _credit(plane, "cust-pol-big", 80.0)[0]


def _args(customer: str, amount: float) -> dict[str, Any]:
    return {"customer_id": customer, "amount_usd": amount, "message": "Sorry"}


@pytest.fixture(scope="module")
def delegated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A service of its own with the small-credits policy, over the seed plus three credits."""
    root = tmp_path_factory.mktemp("policies-web")
    policy_file = Path(root) / "policies.yaml"
    policy_file.write_text(POLICIES)
    with live_service(root, prepare=_open_gates, approval_policies=policy_file) as live:
        yield live


@pytest.fixture
def ppage(browser: Browser, delegated: LiveService) -> Iterator[Page]:
    """A fresh profile on the policies' service."""
    ctx = browser.new_context(base_url=delegated.base_url, viewport={"width": 1360, "height": 900})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def test_covered_gates_are_decided_by_policy_and_the_rest_reach_a_person(
    ppage: Page, delegated: LiveService
) -> None:
    """The covered credit ran, decided by policy:small-credits@v1; the sampled one and the
    $80 one wait in the inbox with the policy's reason, and a person decides the sample."""
    decided = delegated.gate(GATES["policy"])
    assert (decided.decision, decided.decided_by) == ("approved", "policy:small-credits@v1")
    assert any(
        e["tool"] == "apology_credit" and e["args"]["amount_usd"] == 20.0
        for e in delegated.effects()
    )
    sign_in(ppage, delegated, "bob")
    outside = ppage.locator(f'[data-testid=gate-row][data-gate-id="{GATES["outside"]}"]')
    expect(outside.get_by_test_id("policy-note")).to_contain_text(
        "outside small-credits: amount_usd 80 is over 50"
    )
    # The policy's own decision never reached the inbox.
    covered = ppage.locator(f'[data-testid=gate-row][data-gate-id="{GATES["policy"]}"]')
    expect(covered).to_have_count(0)
    sample = ppage.locator(f'[data-testid=gate-row][data-gate-id="{GATES["sampled"]}"]')
    expect(sample.get_by_test_id("policy-note")).to_contain_text("sampled (50 %)")
    sample.get_by_role("button", name="Reject").click()
    expect(ppage.get_by_role("status")).to_contain_text("will never run")
    reviewed = delegated.gate(GATES["sampled"])
    assert (reviewed.decision, reviewed.decided_by) == ("rejected", "bob")
    assert delegated.gate(GATES["outside"]).decision == "pending"
