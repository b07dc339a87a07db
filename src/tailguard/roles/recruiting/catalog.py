"""The recruiting tools: JSON-schema arguments, risk class, and which roles are offered each.

Risk classes follow the product document; the control plane's built-in policy table holds
the full policy of the 22 original tools and :data:`~tailguard.roles.recruiting.registry.EXTRA_POLICIES` those added by the
cross-role intelligence mesh.
"""

from __future__ import annotations

from typing import Any

from tailguard.roles.recruiting import matching, tools_read, tools_write
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.env import ToolDef, obj

ROLES: tuple[str, ...] = ("driver", "recruiter", "carrier", "admin")

_zip = {"type": "string", "pattern": r"^\d{5}$", "description": "5-digit US ZIP code"}
_equipment = {"type": "string", "enum": list(t.EQUIPMENT)}
_limit = {"type": "integer", "minimum": 1, "maximum": 100}
_carrier = {
    "carrierId": {"type": "string", "description": "carrier id, e.g. C-001"},
    "dotNumber": {"type": "integer", "minimum": 1, "description": "USDOT number"},
}
_candidacy = {
    "interestId": {"type": "string", "description": "candidacy id, e.g. I-0001"},
    "candidate": {"type": "string", "description": "the candidate's first or full name"},
}
_account = {"accountId": {"type": "string", "pattern": r"^ACC-\d{3,}$"}}


def _tool(
    name: str, description: str, parameters: dict[str, Any], handler: Any, roles: str, risk: str
) -> ToolDef:
    return ToolDef(
        name=name,
        description=description,
        parameters=parameters,
        handler=handler,
        roles=frozenset(roles.split()),
        risk_level=risk,
    )


TOOLS: tuple[ToolDef, ...] = (
    _tool(
        "find_matches",
        "Find open truck-driving postings near a ZIP that pay at least a rate per loaded mile, ranked best first.",
        obj(
            {
                "zip": _zip,
                "maxDistance": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": 1000,
                    "description": "search radius in miles (default 100)",
                },
                "minCpm": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 5,
                    "description": "minimum pay per loaded mile in USD",
                },
                "equipment": _equipment,
                "limit": _limit,
            }
        ),
        matching.find_matches,
        "driver recruiter",
        "read",
    ),
    _tool(
        "get_carrier_details",
        "A carrier's profile and open postings.",
        obj(_carrier),
        tools_read.get_carrier_details,
        "driver recruiter carrier admin",
        "read",
    ),
    _tool(
        "get_fmcsa_data",
        "FMCSA-style safety data of a carrier: rating, out-of-service rates against national averages, crashes.",
        obj(_carrier),
        tools_read.get_fmcsa_data,
        "driver recruiter carrier admin",
        "read",
    ),
    _tool(
        "road_conditions",
        "Current road conditions near a ZIP and/or on an interstate (e.g. I-35).",
        obj(
            {
                "zip": _zip,
                "route": {"type": "string", "pattern": r"^[Ii]-\d+$"},
                "radiusMiles": {"type": "number", "exclusiveMinimum": 0, "maximum": 500},
            }
        ),
        tools_read.road_conditions,
        "driver",
        "read",
    ),
    _tool(
        "find_parking",
        "Truck parking with free spaces near a ZIP.",
        obj(
            {
                "zip": _zip,
                "radiusMiles": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
                "minSpaces": {"type": "integer", "minimum": 1},
            },
            required=("zip",),
        ),
        tools_read.find_parking,
        "driver",
        "read",
    ),
    _tool(
        "search_drivers",
        "Search drivers by place, CDL class, endorsements, experience, equipment and desired pay.",
        obj(
            {
                "zip": _zip,
                "radiusMiles": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
                "cdlClass": {"type": "string", "enum": ["A", "B"]},
                "endorsements": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(t.ENDORSEMENTS)},
                },
                "minExperience": {"type": "number", "minimum": 0},
                "maxDesiredCpm": {"type": "number", "minimum": 0},
                "equipment": _equipment,
                "limit": _limit,
            }
        ),
        tools_read.search_drivers,
        "recruiter",
        "read",
    ),
    _tool(
        "get_pipeline",
        "The recruiter's candidates by pipeline stage (lead to hire).",
        obj(
            {
                "stage": {"type": "string", "enum": list(t.STATUSES)},
                "recruiterId": {"type": "string"},
                "limit": _limit,
            }
        ),
        tools_read.get_pipeline,
        "recruiter admin",
        "read",
    ),
    _tool(
        "get_recruiter_analytics",
        "A recruiter's funnel: conversion, interview rate, time to hire, drop-off reasons.",
        obj({"recruiterId": {"type": "string"}}),
        tools_read.get_recruiter_analytics,
        "recruiter admin",
        "read",
    ),
    _tool(
        "get_system_health",
        "Health of the platform's stores and services.",
        obj({}),
        tools_read.get_system_health,
        "admin",
        "read",
    ),
    _tool(
        "get_driver_stats",
        "A driver's profile, candidacies and applications (admins: any driver or totals).",
        obj({"driverId": {"type": "string"}}),
        tools_read.get_driver_stats,
        "driver admin",
        "read",
    ),
    _tool(
        "get_account",
        "A B2B carrier account: tier, contract, health, renewal.",
        obj(_account),
        tools_read.get_account,
        "carrier admin",
        "read",
    ),
    _tool(
        "get_signals",
        "Market signals of an account (spot rates, capacity, lane demand, disruptions, shortages, churn risk).",
        obj(
            {
                **_account,
                "kind": {
                    "type": "string",
                    "enum": [
                        "spot_rate",
                        "capacity",
                        "lane_demand",
                        "disruption",
                        "driver_shortage",
                        "churn_risk",
                    ],
                },
            }
        ),
        tools_read.get_signals,
        "carrier admin",
        "read",
    ),
    _tool(
        "get_opportunities",
        "Sales opportunities of an account.",
        obj(_account),
        tools_read.get_opportunities,
        "carrier admin",
        "read",
    ),
    _tool(
        "get_agent_kpis",
        "Agent KPIs from the run ledger: success rate, quality, cost per run, approvals, bypasses.",
        obj({}),
        tools_read.get_agent_kpis,
        "admin",
        "read",
    ),
    _tool(
        "explain_match",
        "Explain how a posting scores for a driver and what stands in the way.",
        obj(
            {
                "postingId": {"type": "string"},
                "driverId": {"type": "string"},
                "maxDistance": {"type": "number", "exclusiveMinimum": 0},
            },
            required=("postingId",),
        ),
        matching.explain_match,
        "driver recruiter",
        "suggest",
    ),
    _tool(
        "log_call",
        "Record a phone call with a candidate.",
        obj(
            {
                **_candidacy,
                "outcome": {
                    "type": "string",
                    "enum": ["connected", "voicemail", "no_answer", "callback_requested"],
                },
                "durationSeconds": {"type": "integer", "minimum": 0, "maximum": 14400},
                "notes": {"type": "string", "maxLength": 2000},
            },
            required=("outcome",),
        ),
        tools_write.log_call,
        "recruiter",
        "execute_low",
    ),
    _tool(
        "update_candidate_status",
        "Move a candidate to another pipeline stage. Can be rolled back.",
        obj(
            {
                **_candidacy,
                "newStatus": {"type": "string", "enum": list(t.STATUSES)},
                "reason": {"type": "string", "maxLength": 200},
            },
            required=("newStatus",),
        ),
        tools_write.update_candidate_status,
        "recruiter",
        "execute_low",
    ),
    _tool(
        "revert_to_previous_status",
        "Undo a candidate status change (the rollback of update_candidate_status).",
        obj({"interestId": {"type": "string"}}),
        tools_write.revert_to_previous_status,
        "recruiter admin",
        "execute_low",
    ),
    _tool(
        "send_message",
        "Send a message to a candidate. Waits for human approval.",
        obj(
            {
                **_candidacy,
                "receiverId": {"type": "string"},
                "content": {"type": "string", "minLength": 1, "maxLength": 1600},
                "channel": {"type": "string", "enum": ["sms", "email", "in_app"]},
            },
            required=("content",),
        ),
        tools_write.send_message,
        "recruiter",
        "execute_high",
    ),
    _tool(
        "schedule_interview",
        "Book an interview for a candidate. Waits for human approval.",
        obj(
            {
                **_candidacy,
                "scheduledFor": {"type": "string", "description": "RFC 3339 time"},
                "kind": {"type": "string", "enum": ["phone", "video", "onsite"]},
            },
            required=("scheduledFor",),
        ),
        tools_write.schedule_interview,
        "recruiter",
        "execute_high",
    ),
    _tool(
        "manage_prompts",
        "Create or update a role's system prompt. Waits for human approval.",
        obj(
            {
                "action": {"type": "string", "enum": ["create", "update"]},
                "promptId": {"type": "string", "minLength": 1, "maxLength": 40},
                "role": {"type": "string", "enum": list(ROLES)},
                "text": {"type": "string", "minLength": 1, "maxLength": 8000},
            },
            required=("action", "promptId", "text"),
        ),
        tools_write.manage_prompts,
        "admin",
        "execute_high",
    ),
    _tool(
        "submit_application",
        "Apply the driver to a posting. Waits for human approval.",
        obj({"postingId": {"type": "string"}}, required=("postingId",)),
        tools_write.submit_application,
        "driver",
        "execute_high",
    ),
    _tool(
        "get_market_intel",
        "Carrier-side market intel by region: open seats, pay, spot rates, capacity, disruptions.",
        obj({"region": {"type": "string"}}),
        tools_read.get_market_intel,
        "recruiter",
        "read",
    ),
    _tool(
        "get_lane_demand",
        "Lanes ranked by open driver seats and tendered loads.",
        obj({"equipment": _equipment, "limit": _limit}),
        tools_read.get_lane_demand,
        "recruiter",
        "read",
    ),
    _tool(
        "get_compensation_benchmarks",
        "Pay percentiles (per loaded mile and weekly gross) of open postings.",
        obj(
            {
                "equipment": _equipment,
                "routeType": {"type": "string", "enum": list(t.ROUTE_TYPES)},
                "region": {"type": "string"},
            }
        ),
        tools_read.get_compensation_benchmarks,
        "recruiter",
        "read",
    ),
    _tool(
        "get_hiring_benchmarks",
        "Network recruiting outcomes (conversion, time to hire, drop-off reasons) by lane, region or equipment.",
        obj({"by": {"type": "string", "enum": ["lane", "region", "equipment"]}, "limit": _limit}),
        tools_read.get_hiring_benchmarks,
        "carrier",
        "read",
    ),
    _tool(
        "get_conversion_insights",
        "The account's hiring funnel against the network's, by lane.",
        obj(_account),
        tools_read.get_conversion_insights,
        "carrier",
        "read",
    ),
)

TOOLS_BY_NAME: dict[str, ToolDef] = {tool.name: tool for tool in TOOLS}


def tools_for_role(role: str) -> tuple[ToolDef, ...]:
    """The tools a role's agent is offered (its model never sees any other)."""
    return tuple(tool for tool in TOOLS if role in tool.roles)
