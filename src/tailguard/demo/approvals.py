"""The demo's approval gates: the report's frame and ``summary.json``'s ``approvals``."""

from __future__ import annotations

from typing import Any

import polars as pl

from tailguard.control import ControlPlane
from tailguard.control import queries as control_queries
from tailguard.control.approval_policies import POLICY_PREFIX
from tailguard.control.delegation import policy_versions, review_counts


def approvals_frame(control: ControlPlane) -> pl.DataFrame:
    """One row per approval gate of the demo (the report's approvals frame)."""
    rows = [
        {
            "gate_id": g.gate_id,
            "tool_name": g.tool_name,
            "risk_level": g.risk_level,
            "initiator_id": g.initiator_id,
            "presented_at": g.presented_at.timestamp(),
            "decided_at": g.decided_at.timestamp() if g.decided_at else None,
            "decision": g.decision,
            "decided_by": g.decided_by,
        }
        for g in control_queries.all_gates(control.ledger.engine)
    ]
    schema = {
        "gate_id": pl.String,
        "tool_name": pl.String,
        "risk_level": pl.String,
        "initiator_id": pl.String,
        "presented_at": pl.Float64,
        "decided_at": pl.Float64,
        "decision": pl.String,
        "decided_by": pl.String,
    }
    df = pl.DataFrame(rows, schema=schema, orient="row")
    return df.with_columns(
        pl.col("initiator_id").str.replace("area-agent:", "").alias("area_id"),
        ((pl.col("decided_at") - pl.col("presented_at")) / 60.0).alias("latency_min"),
        *[
            (pl.col(t) * 1e6).cast(pl.Int64).cast(pl.Datetime("us", "UTC")).alias(t)
            for t in ("presented_at", "decided_at")
        ],
    ).select(
        "gate_id",
        "area_id",
        "tool_name",
        "risk_level",
        "presented_at",
        "decided_at",
        "decision",
        "decided_by",
        "latency_min",
    )


def approval_summary(
    approvals: pl.DataFrame, cp_kpis: dict[str, Any], control: ControlPlane, *, delegated: bool
) -> dict[str, Any]:
    """``summary.json``'s ``approvals``: counts by decision, bypasses, decisions by policy and
    by person (INTERFACES.md section 6), latencies and the delegated policies' reviews."""
    counts = dict(approvals.group_by("decision").len().iter_rows())
    decided = approvals.filter(pl.col("decision").is_in(["approved", "rejected"]))
    by_policy = decided.filter(pl.col("decided_by").str.starts_with(POLICY_PREFIX))
    by_person = decided.filter(~pl.col("decided_by").str.starts_with(POLICY_PREFIX))
    overall = cp_kpis.get("overall", {}) if isinstance(cp_kpis.get("overall"), dict) else {}
    policies: dict[str, Any] | None = None
    if delegated:
        reviews = review_counts(control)
        policies = {
            "versions": [
                {k: v[k] for k in ("identity", "summary", "sha256")}
                for v in policy_versions(control.ledger)
            ],
            **reviews,
        }
    return {
        "approved": int(counts.get("approved", 0)),
        "rejected": int(counts.get("rejected", 0)),
        "timeout": int(counts.get("timeout", 0)),
        "pending": int(counts.get("pending", 0)),
        "bypasses": int(overall.get("approval_bypass_count", 0) or 0),
        # Gates decided by a delegated approval policy (``policy:<name>@v<n>``) and by the
        # simulated approver, who stands in for a person.
        "by_person": by_person.height,
        "by_policy": by_policy.height,
        "median_latency_min": None
        if decided.is_empty()
        else round(float(decided["latency_min"].median()), 2),  # type: ignore[arg-type]
        "median_latency_min_by_person": None
        if by_person.is_empty()
        else round(float(by_person["latency_min"].median()), 2),  # type: ignore[arg-type]
        "policies": policies,
    }
