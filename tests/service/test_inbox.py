"""The inbox's plain words, filters and schema form, and its bulk decision route."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tailguard.errors import InvalidInputError
from tailguard.service.web.inbox import (
    InboxFilter,
    amount_of,
    args_of_form,
    describe,
    form_fields,
)

from .conftest import GATED, Service

CREDIT = {
    "type": "object",
    "properties": {
        "customer_ids": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "amount_usd": {"type": "number", "minimum": 0, "maximum": 100},
        "jobs": {"type": "integer", "minimum": 0},
        "urgent": {"type": "boolean"},
        "channel": {"type": "string", "enum": ["sms", "email"]},
    },
    "required": ["customer_ids", "amount_usd"],
}


@pytest.mark.parametrize(
    ("tool", "args", "words", "amount"),
    [
        (
            "send_apology_credit",
            {"customer_ids": ["C1", "C2", "C3", "C4", "C5"], "amount_usd": 25},
            "$25 apology credit to 5 customers",
            125.0,
        ),
        (
            "offer_nearby_jobs",
            {"tech_id": "T000123", "jobs": 2, "bonus_usd": 17.5},
            "Offer tech T000123 2 nearby jobs at $17.50 each",
            35.0,
        ),
        (
            "open_surge_pay_window",
            {"zip": "32837", "bonus_usd": 10, "hours": 6},
            "$10 a job surge pay in zip 32837 for 6 h",
            10.0,
        ),
        ("close_account", {"account_id": "acc-17"}, "Close account for account acc-17", None),
    ],
)
def test_a_call_reads_in_plain_words_with_its_money(
    tool: str, args: dict[str, Any], words: str, amount: float | None
) -> None:
    """Each catalogue tool is described with its amount and target; the total is counted."""
    assert describe(tool, args) == words
    assert amount_of(args) == amount


def test_filters_keep_only_matching_rows_and_refuse_a_bad_amount() -> None:
    """Area, tool, risk and amount bounds all apply; a call with no money fails an amount bound."""
    where = InboxFilter.of_query({"area": "A1", "min_usd": "$20", "max_usd": "1,000"})
    assert where.keeps(area="A1", tool="t", risk="execute_high", amount=125.0)
    assert not where.keeps(area="A2", tool="t", risk="execute_high", amount=125.0)
    assert not where.keeps(area="A1", tool="t", risk="execute_high", amount=None)
    assert where.query() == {"area": "A1", "min_usd": "20", "max_usd": "1000"}
    with pytest.raises(InvalidInputError, match="min_usd must be a number") as caught:
        InboxFilter.of_query({"min_usd": "lots"})
    assert caught.value.details == {"field": "min_usd"}


def test_the_edit_form_follows_the_schema_and_reads_back_typed_values() -> None:
    """One field per argument with its bounds; posted text comes back as the schema's types."""
    fields = {f.name: f for f in form_fields(CREDIT, {"customer_ids": ["C1"], "amount_usd": 25})}
    assert fields["amount_usd"].kind == "number"
    assert (fields["amount_usd"].minimum, fields["amount_usd"].maximum) == (0.0, 100.0)
    assert fields["customer_ids"].kind == "list"
    assert fields["customer_ids"].value == "C1"
    assert fields["channel"].choices == ("sms", "email")
    assert fields["customer_ids"].required
    assert not fields["jobs"].required
    posted = {
        "arg.customer_ids": "C1\nC2, C3",
        "arg.amount_usd": "12.5",
        "arg.jobs": "3",
        "arg.urgent": "true",
        "arg.channel": "sms",
    }
    assert args_of_form(CREDIT, posted) == {
        "customer_ids": ["C1", "C2", "C3"],
        "amount_usd": 12.5,
        "jobs": 3,
        "urgent": True,
        "channel": "sms",
    }
    with pytest.raises(InvalidInputError, match=r"jobs: '2\.5' is not a valid integer"):
        args_of_form(CREDIT, {**posted, "arg.jobs": "2.5"})
    with pytest.raises(InvalidInputError, match="amount_usd is required"):
        args_of_form(CREDIT, {**posted, "arg.amount_usd": " "})


def _signed_in(client: TestClient, key: str) -> str:
    form = client.get("/signin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    signed = client.post("/signin", data={"csrf": csrf.group(1), "api_key": key})
    assert signed.status_code == 200, signed.text
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/approvals").text)
    assert token is not None
    return token.group(1)


def test_the_batch_form_decides_the_selected_and_refuses_an_empty_selection(web: Service) -> None:
    """Two gates approved in one post run once each; a post without gates is a 422."""
    gates = [web.gated_call("olga", account=f"acc-b{i}")["gate_id"] for i in range(2)]
    client = web.client
    token = _signed_in(client, web.keys["alice"])
    page = client.get("/approvals").text
    assert all(f'data-gate-id="{g}"' in page for g in gates)
    done = client.post(
        "/approvals/batch",
        data={"csrf": token, "decision": "approve", "gate_id": gates, "reason": "fine"},
    )
    assert done.status_code == 200, done.text
    assert "Approved 2 gates. 2 calls executed." in done.text
    assert [c["account_id"] for c in web.calls.of(GATED)] == ["acc-b0", "acc-b1"]
    empty = client.post("/approvals/batch", data={"csrf": token, "decision": "approve"})
    assert empty.status_code == 422
    assert "select at least one gate" in empty.text
    bad_filter = client.get("/approvals?min_usd=lots")
    assert bad_filter.status_code == 422
    assert "min_usd must be a number" in bad_filter.text


def _recorded_edit(web: Service, run_id: str) -> dict[str, Any]:
    """What the ledger holds of a run's edited decision, without its ids and times."""
    ledger = web.state.ledger
    # The latest version of each record (a gate is recorded when presented and when decided).
    (detail,) = {
        r.record_id: r.fields for r in ledger.records(kind="gate_detail", run_id=run_id)
    }.values()
    (gate,) = {r.record_id: r.fields for r in ledger.records(kind="gate", run_id=run_id)}.values()
    (step,) = {r.record_id: r.fields for r in ledger.records(kind="step", run_id=run_id)}.values()
    return {
        "detail": {k: v for k, v in detail.items() if k not in ("gate_detail_id", "run_id")},
        "gate": (gate["decision"], gate["decided_by"]),
        "step": (step["args_hash"], step["status"], step["result_summary"]),
    }


def test_an_edit_means_the_same_on_the_api_and_in_the_inbox(web: Service) -> None:
    """The same edit through the API, the inbox's schema form and its JSON editor runs the
    same call and records the same decision: the edited arguments are the whole arguments."""
    api, form, text = (web.gated_call("olga", account=f"acc-e{i}") for i in range(3))
    client = web.client
    edited = client.post(
        f"/v1/approvals/{api['gate_id']}",
        json={"decision": "edit", "args": {"account_id": "acc-9"}, "reason": "wrong account"},
        headers=web.h("alice"),
    )
    assert edited.status_code == 200, edited.text
    token = _signed_in(client, web.keys["alice"])
    posts = {
        form["gate_id"]: {"arg.account_id": "acc-9", "arg.note": ""},
        text["gate_id"]: {"args": '{"account_id": "acc-9"}'},
    }
    for gate_id, fields in posts.items():
        done = client.post(
            f"/approvals/{gate_id}",
            data={"csrf": token, "decision": "edit", "reason": "wrong account", **fields},
        )
        assert done.status_code == 200, done.text
        assert "Edited and approved close_account" in done.text
    # The note left out of each edit is not run (nor recorded) with the call.
    assert web.calls.of(GATED) == [{"account_id": "acc-9"}] * 3
    recorded = [_recorded_edit(web, step["run_id"]) for step in (api, form, text)]
    assert recorded[0]["detail"]["edited"] is True
    assert recorded[0]["detail"]["edited_audit_args"] == {"account_id": "acc-9"}
    assert recorded[0]["gate"] == ("approved", "alice")
    assert recorded[1] == recorded[0]
    assert recorded[2] == recorded[0]


def test_an_edit_without_arguments_or_arguments_without_an_edit_decide_nothing(
    web: Service,
) -> None:
    """One meaning for the words: an edit needs arguments and only an edit takes them."""
    from tailguard.service import approvals

    gate_id = web.gated_call("olga")["gate_id"]
    with pytest.raises(InvalidInputError, match="an edit needs the edited arguments"):
        approvals.decide(web.state, "alice", gate_id, "edit")
    with pytest.raises(InvalidInputError, match="only with an edit"):
        approvals.decide(web.state, "alice", gate_id, "approve", edited_args={"account_id": "x"})
    items = [
        approvals.DecisionItem(gate_id, "maybe"),
        approvals.DecisionItem(gate_id, "edit", edited_args={"account_id": "acc-9"}),
    ]
    unknown, done = approvals.decide_many(web.state, "alice", items)
    assert isinstance(unknown, InvalidInputError)
    assert "not 'maybe'" in unknown.message
    assert not isinstance(done, Exception)
    assert (done.decision, done.edited) == ("approved", True)


def _credit_decision(
    web: Service,
    gate_id: str,
    *,
    decision_id: str,
    area: str,
    context: dict[str, Any],
    cost_usd: float | None = None,
) -> None:
    """An apology-credit decision of an area agent, pending at ``gate_id``."""
    from tailguard.learning import SelfLearnStore
    from tailguard.learning.store import Decision, StatusUpdate

    store = SelfLearnStore(web.state.ledger.engine)
    store.record_decisions(
        [
            Decision(
                decision_id=decision_id, area_id=area, entry_id="detractor_apology_credit",
                kind="apology_credit", tool_name=GATED, trigger="nps_detractor_tail",
                target_type="customers", target_id="C1", args={"account_id": gate_id},
                context=context, propensity=0.5, policy_version="test",
                decided_at=web.clock.now(), outcome_kpi="nps_p10",
            )
        ]
    )  # fmt: skip
    store.update_status(
        [
            StatusUpdate(
                decision_id=decision_id, status="pending_approval", gate_id=gate_id,
                cost_usd=cost_usd,
            )
        ]
    )  # fmt: skip


def test_a_row_shows_its_trigger_and_the_weekly_budget_left(web: Service) -> None:
    """A gate an area agent opened shows its tail rule with the KPI value it saw, and what the
    catalogue entry's weekly budget has left in that area after this pending credit."""
    step = web.gated_call("olga", account="acc-budget")
    _credit_decision(
        web, step["gate_id"], decision_id="d-budget", area="PA-0042",
        context={"kpis": {"nps_p10": 5.25}}, cost_usd=125.0,
    )  # fmt: skip
    _signed_in(web.client, web.keys["alice"])
    page = web.client.get("/approvals").text
    row = page.split(f'data-gate-id="{step["gate_id"]}"')[1].split("</tbody>")[0]
    assert "nps_detractor_tail (nps_p10 5.25)" in row
    assert '$375 <span class="sub">of $500</span>' in row
    assert 'data-area="PA-0042"' in page


def test_a_row_shows_what_the_learning_policy_expects_of_it(web: Service) -> None:
    """With a policy version in force, an area agent's gate shows the expected effect of its
    arm against holding, with an interval; without one (or for other gates), a dash."""
    import numpy as np
    import polars as pl

    from tailguard.learning.policy import fit_thompson
    from tailguard.learning.versions import PolicyStore

    step = web.gated_call("olga", account="acc-expect")
    other = web.gated_call("olga", account="acc-plain")
    now = web.clock.now()
    arm, group = "detractor_apology_credit", "detractor_apology_credit"
    context = {"group": group, "bucket": "urban|-", "arm": arm, "kpis": {"nps_p10": 5.0}}
    _credit_decision(web, step["gate_id"], decision_id="d-expect", area="PA-0007", context=context)
    _signed_in(web.client, web.keys["alice"])

    def row_of(page: str, gate_id: str) -> str:
        return page.split(f'data-gate-id="{gate_id}"')[1].split("</tbody>")[0]

    before = web.client.get("/approvals").text
    assert 'data-testid="expected"><span class="sub"' in row_of(before, step["gate_id"])

    rng = np.random.default_rng(4)
    rows = [
        {"group": group, "bucket": "urban|-", "arm": a, "acted": a == arm,
         "reward": r + float(rng.normal(0, 0.3)), "decided_at": now, "area_id": f"A{i % 5}"}
        for a, r in ((arm, 0.8), (f"hold:{group}", 0.0))
        for i in range(80)
    ]  # fmt: skip
    model = fit_thompson(
        pl.DataFrame(rows, schema_overrides={"decided_at": pl.Datetime("us", "UTC")}),
        now=now,
        version="lp-0001-test",
    )
    PolicyStore(web.state.ledger).add(
        model, previous=None, now=now, decisions_used=160, data_digest="x", changes=[]
    )
    page = web.client.get("/approvals").text
    row = row_of(page, step["gate_id"])
    expected = model.effect_vs_hold(group, "urban|-", arm)
    assert expected is not None
    assert f"{expected.mean:+.2f} ({expected.lo80:+.2f} to {expected.hi80:+.2f})" in row
    assert 'class="exp helps"' in row
    assert "lp-0001-test" in row
    assert "nps_p10" in row
    assert 'data-testid="expected"><span class="sub"' in row_of(page, other["gate_id"])
