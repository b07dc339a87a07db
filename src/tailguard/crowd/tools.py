"""The crowd exchange's actions as governed tools: start a local test, adopt, nudge a laggard.

Each is a :class:`~tailguard.control.Tool` with a policy, so it runs through the control plane
(validation, rate limit, budget, approval gate, ledger) like every other action:

* ``crowd_start_local_test`` (execute_low): refuses a tactic that is not proven in the area's
  cluster (a discovery with the required confidence the area has not adopted), then draws the
  B cell and records the test (:func:`~tailguard.crowd.local.start_local_test`).
* ``crowd_adopt_tactic`` (execute_high, approval-gated): rolls a tactic out to the whole area
  after its local test adopted it; records a ``crowd_adoption`` ledger record.
* ``crowd_nudge`` (suggest): a coach's nudge to a laggard's agent, recorded as a
  ``crowd_nudge`` ledger record.

Beyond each policy's rate limit, the crowd's own budgets (:class:`~tailguard.crowd.budgets.
CrowdBudgets`: open and weekly local tests per area, weekly adoptions per area, nudges per area
and per coach) are checked by each tool before it acts; a call past a cap is recorded by the
control plane as ``budget_exceeded``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tailguard.control import Policy, RiskLevel, Tool, ToolContext
from tailguard.crowd.abtest import ABSettings
from tailguard.crowd.budgets import CrowdBudgets
from tailguard.crowd.exchange import ExchangeResult, ExchangeSettings, run_exchange
from tailguard.crowd.local import local_test_id, start_local_test
from tailguard.crowd.store import CrowdStore
from tailguard.errors import ConflictError, InvalidInputError, NotFoundError
from tailguard.ledger import Ledger

_STR = {"type": "string", "minLength": 1, "maxLength": 255}

#: The kinds of unit a local test randomises (the catalogue's target units an area can split).
UNIT_KINDS = ("zip", "tech", "sku", "customers")

START_POLICY = Policy(
    risk_level=RiskLevel.EXECUTE_LOW,
    rate_limit=30,
    success_metric="local test reaches a verdict (adopt, drop, stop) without SRM failure",
    audit_fields=("area_id", "tactic", "kpi", "period", "seed"),
)
ADOPT_POLICY = Policy(
    risk_level=RiskLevel.EXECUTE_HIGH,
    requires_approval=True,
    rate_limit=10,
    success_metric="area KPI lift after roll-out within the local test's interval",
    audit_fields=("area_id", "tactic", "kpi", "period"),
)
NUDGE_POLICY = Policy(
    risk_level=RiskLevel.SUGGEST,
    rate_limit=60,
    success_metric="the laggard starts a local test of a proven tactic",
    audit_fields=("area_id", "tactic", "coach_note"),
)


def crowd_tools(
    *,
    ledger: Ledger,
    store: CrowdStore,
    exchange: ExchangeSettings | None = None,
    ab: ABSettings | None = None,
    current: Callable[[], ExchangeResult] | None = None,
    budgets: CrowdBudgets | None = None,
) -> list[Tool]:
    """The three crowd tools, bound to one ledger and exchange store.

    ``current`` gives the exchange's result the start tool checks a tactic against; default:
    the exchange run afresh over ``store`` at each call. A caller that has just run the
    night's exchange (the demo) passes it, so starting many tests does not rerun it each time.
    ``budgets``: the crowd's caps (default :class:`CrowdBudgets`).
    """
    caps = budgets or CrowdBudgets()
    ab_cfg = ab or ABSettings(confidence=(exchange or ExchangeSettings()).confidence)
    latest = current or (lambda: run_exchange(store, exchange))

    def start(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        del ctx
        caps.check_start(store, area_id=args["area_id"], period=int(args["period"]))
        result = latest()
        proven = {(x.tactic, x.kpi): x for x in result.proven_elsewhere(args["area_id"])}
        lift = proven.get((args["tactic"], args["kpi"]))
        if lift is None:
            raise InvalidInputError(
                f"{args['tactic']} on {args['kpi']} is not proven in the cluster of "
                f"{args['area_id']} (or the area has adopted it)"
            )
        open_population = bool(args.get("open_population", False))
        if open_population == ("units" in args):
            raise InvalidInputError(
                "give either the eligible units or open_population: true (units met as the "
                "tactic fires, such as the customers it credits), not both"
            )
        test, alloc = start_local_test(
            ledger=ledger,
            store=store,
            area_id=args["area_id"],
            lift=lift,
            units=None if open_population else list(args["units"]),
            period=int(args["period"]),
            seed=int(args["seed"]),
            settings=ab_cfg,
            unit_kind=str(args.get("unit_kind", "zip")),
        )
        return {
            "test_id": test.test_id,
            "status": test.status,
            "units_b": len(alloc.b_units),
            "units_a": len(alloc.a_units),
            "srm_p": alloc.srm_p,
        }

    def adopt(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        test_id = local_test_id(args["area_id"], args["tactic"], args["kpi"])
        tests = {t.test_id: t for t in store.local_tests(area_id=args["area_id"])}
        test = tests.get(test_id)
        if test is None:
            raise NotFoundError(f"no local test of {args['tactic']} in {args['area_id']}")
        if test.status != "adopted":
            raise ConflictError(f"the local test ended {test.status!r}: nothing to roll out")
        caps.check_adopt(ledger, area_id=test.area_id, period=int(args["period"]))
        ledger.append(
            "crowd_adoption",
            {
                "crowd_adoption_id": test_id,
                "area_id": test.area_id,
                "tactic": test.tactic,
                "kpi": test.kpi,
                "period": int(args["period"]),
                "lift": test.lift,
                "run_id": ctx.run_id,
                "step_id": ctx.step_id,
            },
        )
        return {"adopted": test.tactic, "area_id": test.area_id}

    def nudge(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        caps.check_nudge(ledger, area_id=args["area_id"], coach_id=ctx.requester_id)
        record = ledger.append(
            "crowd_nudge",
            {
                "crowd_nudge_id": ctx.step_id,
                "area_id": args["area_id"],
                "tactic": args["tactic"],
                "coach_note": args.get("coach_note", ""),
                "coach_id": ctx.requester_id,
            },
        )
        return {"nudged": args["area_id"], "seq": record.seq}

    area_tactic = {"area_id": _STR, "tactic": _STR, "kpi": _STR}
    return [
        Tool(
            name="crowd_start_local_test",
            description="Start a local A/B test of a tactic proven in the area's cluster.",
            parameters={
                "type": "object",
                "properties": {
                    **area_tactic,
                    "units": {"type": "array", "items": _STR, "minItems": 2, "uniqueItems": True},
                    "open_population": {"type": "boolean"},
                    "unit_kind": {"type": "string", "enum": list(UNIT_KINDS)},
                    "period": {"type": "integer"},
                    "seed": {"type": "integer", "minimum": 0},
                },
                "required": ["area_id", "tactic", "kpi", "period", "seed"],
                "additionalProperties": False,
            },
            handler=start,
            policy=START_POLICY,
        ),
        Tool(
            name="crowd_adopt_tactic",
            description="Roll a tactic out to the whole area after its local test adopted it.",
            parameters={
                "type": "object",
                "properties": {**area_tactic, "period": {"type": "integer"}},
                "required": ["area_id", "tactic", "kpi", "period"],
                "additionalProperties": False,
            },
            handler=adopt,
            policy=ADOPT_POLICY,
        ),
        Tool(
            name="crowd_nudge",
            description="A coach nudges a laggard area's agent towards a proven tactic.",
            parameters={
                "type": "object",
                "properties": {
                    "area_id": _STR,
                    "tactic": _STR,
                    "coach_note": {"type": "string", "maxLength": 1000},
                },
                "required": ["area_id", "tactic"],
                "additionalProperties": False,
            },
            handler=nudge,
            policy=NUDGE_POLICY,
        ),
    ]
