"""Gates decided by a delegated approval policy, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from tailguard.clock import FakeClock
from tailguard.control import (
    ApproverList,
    ControlPlane,
    Policy,
    RiskLevel,
    StepOutcome,
    Tool,
    ToolContext,
    ToolRegistry,
)
from tailguard.control.approval_policies import gated_tool_schemas, parse_approval_policies
from tailguard.control.delegation import (
    DelegatedApprovers,
    PolicyDecider,
    register_policies,
    review_counts,
)
from tailguard.errors import PermissionDeniedError
from tailguard.ledger import Ledger
from tailguard.ledger.kpis import control_plane_kpis

TOOL = "send_apology_credit"

POLICIES = """\
approval_policies:
  - name: apology-credits
    tools: [send_apology_credit]
    limits:
      - {arg: amount_usd, max: 25}
    spend: {arg: amount_usd, per_item_of: customer_ids}
    caps: {area_day_usd: 100}
    sample_pct: SAMPLE
"""


def _registry(sent: list[dict[str, Any]]) -> ToolRegistry:
    def send(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        del ctx
        sent.append(dict(args))
        return {"credited": len(args["customer_ids"])}

    registry = ToolRegistry()
    registry.register(
        Tool(
            name=TOOL,
            description="Credit customers with an apology.",
            parameters={
                "type": "object",
                "properties": {
                    "customer_ids": {"type": "array", "items": {"type": "string"}},
                    "amount_usd": {"type": "number", "minimum": 0},
                },
                "required": ["customer_ids", "amount_usd"],
                "additionalProperties": False,
            },
            handler=send,
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_HIGH,
                requires_approval=True,
                audit_fields=("amount_usd",),
                approval_timeout=3600.0,
            ),
        )
    )
    return registry


class World:
    """A plane whose gates a policy (and a person, ``boss``) decide."""

    def __init__(self, ledger: Ledger, clock: FakeClock, *, sample_pct: float = 0) -> None:
        self.sent: list[dict[str, Any]] = []
        self.ledger = ledger
        self.clock = clock
        registry = _registry(self.sent)
        text = POLICIES.replace("SAMPLE", f"{sample_pct:g}")
        policies = parse_approval_policies(text, "p.yaml", tools=gated_tool_schemas(registry))
        self.active = register_policies(ledger, policies, registered_by="root", source="p.yaml")
        self.plane = ControlPlane(
            registry,
            ledger,
            clock=clock,
            approvers=DelegatedApprovers(
                policies=tuple(self.active),
                people=ApproverList(approver_ids=frozenset({"boss"})),
            ),
        )
        self.decider = PolicyDecider(self.plane, self.active)

    def ask(self, area: str, amount: float, customers: int) -> str:
        """An area agent asks for a credit; returns the gate."""
        run = self.plane.start_run("area", f"area-agent:{area}", "apologise")
        args = {"customer_ids": [f"C{i:03d}" for i in range(customers)], "amount_usd": amount}
        result = self.plane.execute(run, TOOL, args)
        assert result.outcome is StepOutcome.PENDING_APPROVAL
        assert result.gate_id is not None
        return result.gate_id


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at a fixed time of day (so a test's gates share one UTC day)."""
    base = FakeClock().now()
    return FakeClock(base.replace(hour=9, minute=0, second=0, microsecond=0))


def test_a_covered_gate_is_decided_by_the_policy_identity(ledger: Ledger, clock: FakeClock) -> None:
    """$20 x 2 in A1 is within the policy: decided as policy:apology-credits@v1, then runs once."""
    world = World(ledger, clock)
    gate = world.ask("A1", 20, 2)
    report = world.decider.sweep()
    assert report.approved == [gate]
    call = world.plane.gates.get(gate)
    assert (call.decision, call.decided_by) == ("approved", "policy:apology-credits@v1")
    world.plane.resume(gate)
    assert len(world.sent) == 1
    gates = [r.fields for r in ledger.records(kind="gate") if r.fields["gate_id"] == gate]
    assert gates[-1]["decided_by"] == "policy:apology-credits@v1"
    detail = [r.fields for r in ledger.records(kind="gate_detail") if "policy_verdict" in r.fields]
    assert detail[0]["policy_verdict"] == "approve"
    kpis = control_plane_kpis(ledger)["overall"]
    assert (kpis["decisions_by_policy"], kpis["decisions_by_person"]) == (1, 0)
    assert kpis["approval_bypass_count"] == 0


def test_a_gate_outside_the_policy_waits_for_a_person(ledger: Ledger, clock: FakeClock) -> None:
    """$30 a customer passes the $25 limit: the gate stays pending, the reason is recorded."""
    world = World(ledger, clock)
    gate = world.ask("A1", 30, 1)
    report = world.decider.sweep()
    assert report.approved == []
    assert report.assessed["outside"] == 1
    assert world.plane.gates.get(gate).decision == "pending"
    detail = [r.fields for r in ledger.records(kind="gate_detail") if "policy_reason" in r.fields]
    assert "amount_usd 30 is over 25" in detail[0]["policy_reason"]
    world.plane.decide(gate, "approve", "boss")
    kpis = control_plane_kpis(ledger)["overall"]
    assert (kpis["decisions_by_policy"], kpis["decisions_by_person"]) == (0, 1)


def test_the_area_day_cap_holds_across_sweeps(ledger: Ledger, clock: FakeClock) -> None:
    """With a $100 area-day cap, $40 + $40 pass, the third $40 waits; another area is apart."""
    world = World(ledger, clock)
    first = [world.ask("A1", 20, 2), world.ask("A1", 20, 2)]
    assert sorted(world.decider.sweep().approved) == sorted(first)
    third = world.ask("A1", 20, 2)
    other = world.ask("A2", 20, 2)
    report = world.decider.sweep()
    assert report.approved == [other]
    assert world.plane.gates.get(third).decision == "pending"
    # The next day the area's cap starts afresh, and a repeat sweep decides nothing twice.
    clock.advance(timedelta(days=1))
    fourth = world.ask("A1", 20, 2)
    assert world.decider.sweep().approved == [fourth]
    assert world.decider.sweep().approved == []


def test_sampled_gates_reach_a_person_and_their_overrides_are_counted(
    ledger: Ledger, clock: FakeClock
) -> None:
    """At 100 % sampling every covered gate waits for a person; a rejection is an override."""
    world = World(ledger, clock, sample_pct=100)
    gates = [world.ask(f"A{i}", 10, 1) for i in range(3)]
    report = world.decider.sweep()
    assert report.approved == []
    assert report.assessed["sample"] == 3
    assert all(world.plane.gates.get(g).decision == "pending" for g in gates)
    world.plane.decide(gates[0], "approve", "boss")
    world.plane.decide(gates[1], "reject", "boss", reason="not deserved")
    counts = review_counts(world.plane)
    assert counts["assessed"]["sample"] == 3
    assert (counts["sampled_decided"], counts["sampled_overridden"]) == (2, 1)
    assert counts["sampled_override_rate"] == 0.5
    kpis = control_plane_kpis(ledger)["overall"]
    assert kpis["sampled_reviews_decided"] == 2
    assert kpis["sampled_override_rate"] == 0.5


def test_a_policy_cannot_decide_what_it_does_not_cover(ledger: Ledger, clock: FakeClock) -> None:
    """The policy identity is refused for a gate outside its rule only by the sweep; for another
    tool, or an unknown version, the control plane itself refuses it."""
    world = World(ledger, clock)
    gate = world.ask("A1", 30, 1)
    approvers = world.plane.approvers
    assert approvers is not None
    assert not approvers.can_decide(
        "policy:apology-credits@v1", tool_name="close_account", risk_level="execute_high"
    )
    with pytest.raises(PermissionDeniedError):
        world.plane.decide(gate, "approve", "policy:apology-credits@v7")


def test_a_changed_rule_is_a_new_version_and_an_unchanged_one_is_not(
    ledger: Ledger, clock: FakeClock
) -> None:
    """Registering the same file twice keeps v1; a new sample rate is recorded as v2."""
    World(ledger, clock)
    World(ledger, clock)
    world = World(ledger, clock, sample_pct=10)
    versions = [r.fields for r in ledger.records(kind="approval_policy")]
    assert [(v["version"], v["identity"]) for v in versions] == [
        (1, "policy:apology-credits@v1"),
        (2, "policy:apology-credits@v2"),
    ]
    assert versions[1]["rule"]["sample_pct"] == 10.0
    assert world.active[0].identity == "policy:apology-credits@v2"
    assert ledger.verify().ok


def test_processes_registering_a_changed_rule_at_once_record_one_new_version(
    db_url: str, ledger: Ledger, clock: FakeClock
) -> None:
    """Eight writers (each its own connection pool, as the service and agents runners are)
    load the same changed file at the same moment: one v2 is recorded and all of them
    decide as v2."""
    World(ledger, clock)  # v1
    registry = _registry([])
    text = POLICIES.replace("SAMPLE", "10")
    policies = parse_approval_policies(text, "p.yaml", tools=gated_tool_schemas(registry))
    start = threading.Barrier(8)
    seen: list[str] = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            with Ledger.open(db_url, clock=clock) as own:
                start.wait()
                active = register_policies(own, policies, registered_by="root", source="p.yaml")
                seen.append(active[0].identity)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert seen == ["policy:apology-credits@v2"] * 8
    versions = [r.fields["version"] for r in ledger.records(kind="approval_policy")]
    assert versions == [1, 2]
    assert ledger.verify().ok
