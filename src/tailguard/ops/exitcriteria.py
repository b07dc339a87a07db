"""The control-plane document's exit criteria as live figures, from the ledger's read APIs.

Each criterion is ``{"id", "criterion", "target", "value", "met", "detail"}``; ``value`` is None
(and ``met`` False) when there is nothing to measure yet. Sources: the tool registry's policies;
the ledger's current runs, steps, gates and outcomes (:func:`tailguard.ledger.queries.
latest_entities`) and its control-plane KPIs (:func:`tailguard.ledger.kpis.control_plane_kpis`);
the runs' budget caps (:func:`tailguard.control.queries.runs_by_id`); the compendium's
recorded changes (:func:`tailguard.compendium.freshness`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

from tailguard.compendium import Compendium, changes, freshness
from tailguard.control import ToolRegistry
from tailguard.control import queries as control_queries
from tailguard.ledger import Ledger
from tailguard.ledger.kpis import control_plane_kpis
from tailguard.ledger.queries import latest_entities

#: The cross-role tools: carrier signals read by recruiters, and back.
CROSS_ROLE_TOOLS: Final = frozenset(
    {
        "get_market_intel",
        "get_lane_demand",
        "get_compensation_benchmarks",
        "get_hiring_benchmarks",
        "get_conversion_insights",
    }
)
_LIMIT: Final = 1_000_000


def _share(k: int, n: int) -> float | None:
    return None if n == 0 else k / n


def _fields(ledger: Ledger, kind: str) -> list[dict[str, Any]]:
    return [dict(r.record.fields) for r in latest_entities(ledger, kind, limit=_LIMIT)]


def _row(cid: str, text: str, target: str, value: Any, met: bool, detail: str) -> dict[str, Any]:
    return {
        "id": cid,
        "criterion": text,
        "target": target,
        "value": value,
        "met": bool(met and value is not None),
        "detail": detail,
    }


def exit_criteria(
    ledger: Ledger,
    registry: ToolRegistry | Iterable[ToolRegistry],
    compendium: Compendium,
    *,
    now: datetime,
) -> dict[str, Any]:
    """Every exit criterion with its current value (see the module docstring)."""
    registries = [registry] if isinstance(registry, ToolRegistry) else list(registry)
    policies = {name: reg.policy(name) for reg in registries for name in reg.names()}
    tagged = sum(1 for p in policies.values() if p.risk_level and p.success_metric)
    runs = _fields(ledger, "run")
    steps = _fields(ledger, "step")
    gates = _fields(ledger, "gate")
    outcomes = _fields(ledger, "outcome")
    kpis = control_plane_kpis(ledger)["overall"]

    high = [s for s in steps if s.get("risk_level") == "execute_high"]
    approved_steps = {g["step_id"] for g in gates if g.get("decision") == "approved"}
    high_ran = [s for s in high if s.get("status") in ("executed", "rolled_back")]
    gated = sum(1 for s in high_ran if s["step_id"] in approved_steps)
    bypasses = int(kpis.get("approval_bypass_count") or 0)

    scores = [float(o["quality_score"]) for o in outcomes if o.get("quality_score") is not None]
    good = sum(1 for q in scores if q >= 60)

    run_ids = {r["run_id"] for r in runs}
    step_ids = {s["step_id"] for s in steps}
    linked = sum(1 for s in steps if s.get("run_id") in run_ids) + sum(
        1 for g in gates if g.get("step_id") in step_ids and g.get("run_id") in run_ids
    )

    finished = [r for r in runs if r.get("status") in ("completed", "failed", "aborted")]
    caps = control_queries.runs_by_id(ledger.engine, [r["run_id"] for r in finished])
    tracked = [r for r in finished if r.get("total_cost_usd") is not None]
    within = 0
    for r in tracked:
        state = caps.get(r["run_id"])
        cap = state.run.budget.max_cost_usd if state is not None else None
        within += cap is None or float(r["total_cost_usd"]) <= cap + 1e-9

    since = now - timedelta(days=7)
    cross = sorted(
        {
            s["tool_name"]
            for s in steps
            if s.get("tool_name") in CROSS_ROLE_TOOLS and s.get("status") == "executed"
        }
    )
    recent_cross = [
        r.record.fields["tool_name"]
        for r in latest_entities(ledger, "step", limit=_LIMIT, since=since)
        if r.record.fields.get("tool_name") in CROSS_ROLE_TOOLS
        and r.record.fields.get("status") == "executed"
    ]

    depts = freshness(changes(ledger), compendium.departments(), now=now)
    fresh = sum(1 for d in depts if d["fresh"])
    override = kpis.get("human_override_rate")

    criteria = [
        _row(
            "policy_tags",
            "100% of tools have policy tags (risk_level, requires_approval, success_metric)",
            "100%",
            _share(tagged, len(policies)),
            tagged == len(policies),
            f"{tagged} of {len(policies)} tools",
        ),
        _row(
            "high_risk_gated",
            "100% of high-risk actions are approval-gated (zero bypasses)",
            "100%, 0 bypasses",
            _share(gated, len(high_ran)) if high_ran or not bypasses else 0.0,
            gated == len(high_ran) and bypasses == 0,
            f"{gated} of {len(high_ran)} execute_high steps that ran had an approved gate; "
            f"{bypasses} bypasses",
        ),
        _row(
            "quality_60",
            "80%+ of agent runs score quality_score >= 60",
            ">= 80%",
            _share(good, len(scores)),
            bool(scores) and good / len(scores) >= 0.8,
            f"{good} of {len(scores)} evaluated runs",
        ),
        _row(
            "correlation_chain",
            "The run ledger captures every agent action with its full correlation chain",
            "100%",
            _share(linked, len(steps) + len(gates)),
            linked == len(steps) + len(gates),
            f"{linked} of {len(steps) + len(gates)} steps and gates link to their run (and step)",
        ),
        _row(
            "cost_within_caps",
            "Cost per run is tracked and within budget caps",
            "100%",
            _share(within, len(finished)),
            within == len(finished),
            f"{within} of {len(finished)} finished runs within their cap; "
            f"mean ${float(kpis.get('cost_per_run_usd') or 0.0):.4f} a run",
        ),
        _row(
            "cross_role_live",
            "At least 1 cross-role signal pathway is live (carrier -> recruiter)",
            ">= 1 in the last 7 days",
            len(set(recent_cross)),
            len(set(recent_cross)) >= 1,
            f"used in the last 7 days: {', '.join(sorted(set(recent_cross))) or 'none'}; "
            f"ever: {', '.join(cross) or 'none'}",
        ),
        _row(
            "compendium_fresh",
            "Compendium freshness SLA met (weekly updates per department)",
            "100% of departments",
            _share(fresh, len(depts)),
            bool(depts) and fresh == len(depts),
            f"{fresh} of {len(depts)} departments updated within the SLA",
        ),
        _row(
            "human_override",
            "Human override rate < 20%",
            "< 20%",
            override,
            override is not None and float(override) < 0.2,
            f"{kpis.get('gates_decided', 0)} gates decided",
        ),
    ]
    return {
        "at": now.isoformat(),
        "met": sum(1 for c in criteria if c["met"]),
        "total": len(criteria),
        "criteria": criteria,
    }
