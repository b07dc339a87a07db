"""The demo's decisions from the self-learn store: the report's table and the summary's counts
by intervention kind (split from :mod:`.run`)."""

from __future__ import annotations

from typing import Any

import polars as pl


def report_interventions(decisions: pl.DataFrame) -> pl.DataFrame:
    return decisions.with_columns(pl.col("reason").fill_null("")).select(
        "decision_id",
        "area_id",
        "kind",
        "tool_name",
        "target_type",
        "target_id",
        "decided_at",
        "propensity",
        "policy_version",
        pl.when(pl.col("status") == "decided")
        .then(pl.lit("skipped"))
        .otherwise(pl.col("status"))
        .alias("status"),
        "reason",
        "cost_usd",
        "outcome_kpi",
        "outcome_delta",
        "measured_at",
    )


def intervention_summary(decisions: pl.DataFrame) -> dict[str, Any]:
    by_kind: dict[str, Any] = {}
    for kind, part in decisions.partition_by("kind", as_dict=True).items():
        status = dict(part.group_by("status").len().iter_rows())
        deltas = part["outcome_delta"].drop_nulls()
        by_kind[str(kind[0])] = {
            "count": part.height,
            "executed": int(status.get("executed", 0)),
            "rejected": int(status.get("rejected", 0)),
            "timeout": int(status.get("timeout", 0)),
            "failed": int(status.get("failed", 0)),
            "pending": int(status.get("pending_approval", 0)),
            "held": int(status.get("held", 0)),
            "cost_usd": round(float(part["cost_usd"].sum()), 2),
            "outcomes_measured": deltas.len(),
            # 6 decimals: the measured KPIs' last bits follow the engine's merge order
            "mean_outcome_delta": None if deltas.is_empty() else round(float(deltas.mean()), 6),  # type: ignore[arg-type]
        }
    return {
        "total": decisions.height,
        "cost_usd": round(float(decisions["cost_usd"].sum()), 2) if decisions.height else 0.0,
        "by_kind": dict(sorted(by_kind.items())),
    }
