"""The recruiting tools: results from the dataset, role scoping, rollback, cross-role signals."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from jsonschema.validators import Draft202012Validator

from tailguard.control import builtin_policies
from tailguard.errors import ConflictError, InvalidInputError, PermissionDeniedError
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.catalog import ROLES, TOOLS, tools_for_role
from tailguard.roles.recruiting.crossrole import ranking_weights
from tailguard.roles.recruiting.env import CallEnv
from tailguard.roles.recruiting.geo import ZIPS, miles_between
from tailguard.roles.recruiting.matching import find_matches
from tailguard.roles.recruiting.registry import build_registry, recruiting_policies, tool_specs
from tailguard.roles.recruiting.roles import system_prompt
from tailguard.roles.recruiting.store import RecruitingStore
from tailguard.roles.recruiting.tools_read import get_signals, road_conditions
from tailguard.roles.recruiting.tools_write import (
    revert_to_previous_status,
    send_message,
    update_candidate_status,
)

PRODUCT_RISK = {
    "read": "find_matches get_carrier_details get_fmcsa_data road_conditions find_parking "
    "search_drivers get_pipeline get_recruiter_analytics get_system_health get_driver_stats "
    "get_account get_signals get_opportunities get_agent_kpis",
    "suggest": "explain_match",
    "execute_low": "log_call update_candidate_status",
    "execute_high": "send_message schedule_interview manage_prompts submit_application",
}


def _status(store: RecruitingStore, interest_id: str) -> str:
    return str(
        store.rows(sa.select(t.pipeline.c.status).where(t.pipeline.c.interest_id == interest_id))[
            0
        ]["status"]
    )


def test_every_tool_has_the_product_documents_risk_class() -> None:
    """The 22 original tools carry the risk class of the product document's table."""
    by_name = {tool.name: tool.risk_level for tool in TOOLS}
    for risk, names in PRODUCT_RISK.items():
        for name in names.split():
            assert by_name[name] == risk, name
    policies = recruiting_policies()
    assert all(policies[n].requires_approval for n in PRODUCT_RISK["execute_high"].split())
    assert policies["update_candidate_status"].rollback_strategy == "revert_to_previous_status"


def test_every_schema_is_valid_and_every_role_sees_only_its_tools() -> None:
    """Argument schemas are valid JSON Schema; a role's model is offered only its tools."""
    for tool in TOOLS:
        Draft202012Validator.check_schema(dict(tool.parameters))
    for role in ROLES:
        offered = {spec.name for spec in tool_specs(role)}
        assert offered == {t.name for t in tools_for_role(role)} - {"revert_to_previous_status"}
    assert "send_message" not in {s.name for s in tool_specs("driver")}
    assert "get_system_health" not in {s.name for s in tool_specs("recruiter")}
    assert {"get_market_intel", "get_lane_demand", "get_compensation_benchmarks"} <= {
        s.name for s in tool_specs("recruiter")
    }
    assert {"get_hiring_benchmarks", "get_conversion_insights"} <= {
        s.name for s in tool_specs("carrier")
    }


def test_registry_policies_restrict_each_tool_to_its_roles(store: RecruitingStore) -> None:
    """The registered policy names the roles offered the tool, so the control plane refuses others."""
    registry = build_registry(store)
    assert registry.policy("send_message").roles == frozenset({"recruiter"})
    assert "driver" not in (registry.policy("get_pipeline").roles or ())
    assert set(builtin_policies()) <= set(registry.names())


def test_find_matches_returns_carriers_near_the_zip_paying_the_rate(store: RecruitingStore) -> None:
    """Matches are open postings within the radius, at or above the rate, best score first."""
    env = CallEnv.for_user(store, "drv-0001")
    result = find_matches(env, {"zip": "75001", "minCpm": 0.55})
    assert result["carriers"]
    scores = [m["score"] for m in result["matches"]]
    assert scores == sorted(scores, reverse=True)
    for match in result["matches"]:
        assert match["cpm_loaded"] >= 0.55
        assert match["distance_miles"] <= 100
    posting = store.rows(
        sa.select(t.postings).where(t.postings.c.posting_id == result["matches"][0]["posting_id"])
    )[0]
    assert min(miles_between(ZIPS["75001"], ZIPS[z]) for z in posting["hiring_zips"]) <= 100


def test_a_carrier_sees_only_its_own_account(store: RecruitingStore) -> None:
    """acct-001 reads ACC-001's signals and is refused ACC-002's."""
    env = CallEnv.for_user(store, "acct-001")
    assert get_signals(env, {"accountId": "ACC-001"})["account_id"] == "ACC-001"
    with pytest.raises(PermissionDeniedError):
        get_signals(env, {"accountId": "ACC-002"})


def test_status_update_is_undone_by_its_compensating_tool(store: RecruitingStore) -> None:
    """update_candidate_status then revert_to_previous_status restores the earlier stage."""
    env = CallEnv.for_user(store, "rec-001", idempotency_key="k1")
    done = update_candidate_status(env, {"candidate": "John", "newStatus": "interview"})
    assert (done["previousStatus"], _status(store, done["interestId"])) == (
        "screening",
        "interview",
    )
    rollback = CallEnv.for_user(store, "rec-001", idempotency_key="rollback:k1", compensating=done)
    revert_to_previous_status(rollback, {"interestId": done["interestId"]})
    assert _status(store, done["interestId"]) == "screening"


def test_a_stale_rollback_is_refused(store: RecruitingStore) -> None:
    """A revert after someone else moved the candidate again fails instead of clobbering."""
    env = CallEnv.for_user(store, "rec-001", idempotency_key="a")
    done = update_candidate_status(env, {"candidate": "John", "newStatus": "interview"})
    update_candidate_status(
        CallEnv.for_user(store, "rec-001", idempotency_key="b"),
        {"interestId": done["interestId"], "newStatus": "offer"},
    )
    stale = CallEnv.for_user(store, "rec-001", idempotency_key="rollback:a", compensating=done)
    with pytest.raises(ConflictError):
        revert_to_previous_status(stale, {"interestId": done["interestId"]})
    assert _status(store, done["interestId"]) == "offer"


def test_a_retried_write_happens_once(store: RecruitingStore) -> None:
    """Two calls with the same idempotency key send one message and change status once."""
    env = CallEnv.for_user(store, "rec-001", idempotency_key="same")
    first = send_message(env, {"candidate": "John", "content": "Hi"})
    second = send_message(env, {"candidate": "John", "content": "Hi"})
    assert first["messageId"] == second["messageId"]
    rows = store.rows(sa.select(t.messages).where(t.messages.c.message_id == first["messageId"]))
    assert len(rows) == 1
    update_candidate_status(env, {"candidate": "John", "newStatus": "interview"})
    again = update_candidate_status(env, {"candidate": "John", "newStatus": "interview"})
    assert again["replayed"] is True


def test_another_recruiters_candidate_cannot_be_changed(store: RecruitingStore) -> None:
    """A recruiter naming a candidacy outside their pipeline gets not-found, nothing changes."""
    other = store.rows(
        sa.select(t.pipeline.c.interest_id).where(t.pipeline.c.recruiter_id == "R-002").limit(1)
    )[0]["interest_id"]
    before = _status(store, other)
    env = CallEnv.for_user(store, "rec-001", idempotency_key="x")
    with pytest.raises(Exception, match="not found"):
        update_candidate_status(env, {"interestId": other, "newStatus": "hired"})
    assert _status(store, other) == before


def test_unknown_status_and_ambiguous_names_are_input_errors(store: RecruitingStore) -> None:
    """A made-up stage or a name shared by two candidates is refused with a reason."""
    env = CallEnv.for_user(store, "rec-001", idempotency_key="y")
    with pytest.raises(InvalidInputError, match="unknown status"):
        update_candidate_status(env, {"candidate": "John", "newStatus": "promoted"})
    with pytest.raises(InvalidInputError, match="interestId or candidate"):
        update_candidate_status(env, {"newStatus": "offer"})


def test_recruiter_outcomes_move_the_ranking_weights(store: RecruitingStore) -> None:
    """More drop-offs over pay raise the pay weight that find_matches ranks by."""
    before = ranking_weights(store)
    with store.begin() as conn:
        conn.execute(
            t.pipeline.update()
            .where(t.pipeline.c.status.in_(("lead", "contacted")))
            .values(status="withdrawn", drop_off_reason="pay_below_expectation")
        )
    after = ranking_weights(store)
    assert after.pay_drop_off_share > before.pay_drop_off_share
    assert after.pay > before.pay
    assert abs(after.pay + after.distance + after.safety + after.conversion - 1) < 1e-3


def test_recruiter_prompt_carries_the_carrier_market_summary(store: RecruitingStore) -> None:
    """The recruiter's system prompt includes live carrier demand; the driver's does not."""
    recruiter = system_prompt("recruiter", store)
    assert "Current market shows the highest driver demand" in recruiter
    assert "/mile" in recruiter
    assert "Current market" not in system_prompt("driver", store)


class LiveRoads:
    """A stand-in live feed: records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    def conditions(
        self, *, zip_code: str | None, route: str | None, radius_miles: float
    ) -> list[dict[str, Any]]:
        self.asked.append({"zip": zip_code, "route": route, "radius": radius_miles})
        return [{"condition_id": "live-1", "delay_min": 12, "kind": "construction"}]


def test_road_conditions_use_whatever_source_is_plugged_in(store: RecruitingStore) -> None:
    """A live source behind the same interface replaces the dataset."""
    live = LiveRoads()
    env = CallEnv.for_user(store, "drv-0001", roads=live)
    result = road_conditions(env, {"zip": "75001"})
    assert result["conditions"][0]["condition_id"] == "live-1"
    assert live.asked == [{"zip": "75001", "route": None, "radius": 100.0}]
    dataset = road_conditions(CallEnv.for_user(store, "drv-0001"), {"route": "I-35"})
    assert dataset["conditions"]
    assert all(c["route"] == "I-35" for c in dataset["conditions"])
