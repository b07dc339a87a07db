"""Control-plane KPIs computed from the ledger (issue 3, part 6), overall, per role and per tool.

The current state of each run, step, gate and outcome is its latest record (highest seq). A run
is in the window when its ``started_at`` lies in ``[since, until)``; steps, gates and outcomes
follow their run (one whose run is not in the ledger falls in the window of its first record).
States are the current ones (a run started in the window and completed after it counts as
completed), so re-running a past window can change as late records arrive.

Definitions (a figure with no data is ``None``, never 0):

- ``time_to_first_action_ms``: per run, the first record of a step with status ``executed``
  minus the run's ``started_at``; median (mean of the two middle values for an even count) and
  p90 (inverted CDF).
- ``workflow_success_rate``: runs ``completed`` / runs finished (``completed``, ``failed``,
  ``aborted``). ``objective_met_rate``: outcomes with ``objective_met = yes`` / runs evaluated.
- ``rollback_rate``: steps now ``rolled_back`` / steps that ran (ever ``executed``).
- ``human_override_rate``: gates ``rejected`` / gates decided (``approved``, ``rejected``,
  ``timeout``).
- ``decisions_by_policy`` / ``decisions_by_person``: gates approved or rejected by a delegated
  approval policy (``decided_by`` starts with ``policy:``) and by a person.
- ``sampled_reviews_decided``: gates a policy covered but sent to a person for review
  (``gate_detail.policy_verdict = sample``) that the person decided; ``sampled_override_rate``:
  the share of them rejected or approved with edits.
- ``approval_bypass_count``: steps that ran although approval was required (the step is
  ``execute_high``, names an approval gate, or a gate was opened for it) without an ``approved``
  gate for that step; ``bypasses`` splits it by the step's gate decision (none, pending,
  rejected, timeout). It must be 0; otherwise ``alerts`` says so.
- ``cost_per_run_usd``: mean ``total_cost_usd`` of the runs; ``tokens_per_productive_step``:
  sum of the runs' ``total_tokens`` / steps now ``executed`` (ran and not rolled back).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import polars as pl

from tailguard.clock import format_ts
from tailguard.ledger.arrow import records_arrow
from tailguard.ledger.store import Ledger, to_micros

_RUN = pl.Struct(
    {
        "role": pl.Utf8,
        "status": pl.Utf8,
        "total_tokens": pl.Float64,
        "total_cost_usd": pl.Float64,
        "started_at": pl.Utf8,
    }
)
_STEP = pl.Struct(
    {"tool_name": pl.Utf8, "risk_level": pl.Utf8, "status": pl.Utf8, "approval_gate_id": pl.Utf8}
)
_GATE = pl.Struct(
    {"step_id": pl.Utf8, "tool_name": pl.Utf8, "decision": pl.Utf8, "decided_by": pl.Utf8}
)
_GATE_DETAIL = pl.Struct({"policy_verdict": pl.Utf8, "edited": pl.Boolean})
#: Decisions recorded under this prefix were made by a delegated approval policy.
POLICY_PREFIX = "policy:"
_OUTCOME = pl.Struct({"objective_met": pl.Utf8})
_FINISHED = ("completed", "failed", "aborted")
_RAN = ("executed", "rolled_back")
_DECIDED = ("approved", "rejected", "timeout")


def control_plane_kpis(
    ledger: Ledger, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """The control-plane KPIs over ``[since, until)``: overall, per role and per tool.

    Returns:
        ``{"since", "until", "overall": {...}, "per_role": {role: {...}},
        "per_tool": {tool: {...}}, "alerts": [...]}``; see the module docstring for each KPI.
    """
    # Every record of a run in the window is recorded at or after its start, so records older
    # than ``since`` can be skipped in SQL; later ones are needed for the current state.
    table = records_arrow(
        ledger, kinds=("run", "step", "gate", "outcome", "gate_detail"), since=since
    )
    runs, steps, gates, outcomes = _current_state(pl.from_arrow(table))  # type: ignore[arg-type]
    lo = to_micros(since) if since is not None else None
    hi = to_micros(until) if until is not None else None
    runs = _in_window(runs, "started_us", lo, hi)
    steps, gates, outcomes = (_in_window(f, "at_us", lo, hi) for f in (steps, gates, outcomes))
    overall = _kpis(runs, steps, gates, outcomes, run_level=True)
    per_role = {
        role: _kpis(
            runs.filter(pl.col("role") == role),
            steps.filter(pl.col("role") == role),
            gates.filter(pl.col("role") == role),
            outcomes.filter(pl.col("role") == role),
            run_level=True,
        )
        for role in sorted(runs["role"].drop_nulls().unique().to_list())
    }
    tools = set(steps["tool_name"].drop_nulls().to_list()) | set(
        gates["tool_name"].drop_nulls().to_list()
    )
    empty = runs.clear()
    per_tool = {
        tool: _kpis(
            empty,
            steps.filter(pl.col("tool_name") == tool),
            gates.filter(pl.col("tool_name") == tool),
            outcomes.clear(),
            run_level=False,
        )
        for tool in sorted(tools)
    }
    alerts = []
    if overall["approval_bypass_count"]:
        alerts.append(
            {
                "kpi": "approval_bypass_count",
                "value": overall["approval_bypass_count"],
                "message": (
                    f"{overall['approval_bypass_count']} step(s) ran without an approved gate "
                    "although approval was required; this must be 0"
                ),
            }
        )
    return {
        "since": format_ts(since) if since is not None else None,
        "until": format_ts(until) if until is not None else None,
        "overall": overall,
        "per_role": per_role,
        "per_tool": per_tool,
        "alerts": alerts,
    }


def _decode(frame: pl.DataFrame, kind: str, dtype: pl.Struct) -> pl.DataFrame:
    part = frame.filter(pl.col("kind") == kind)
    return part.with_columns(pl.col("fields").str.json_decode(dtype).alias("_f")).unnest("_f")


def _current_state(
    frame: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Latest state per entity, with the run's role and window time attached to each."""
    frame = frame.with_columns(pl.col("recorded_at").dt.epoch("us").alias("rec_us")).sort("seq")
    runs = (
        _decode(frame, "run", _RUN)
        .group_by("record_id", maintain_order=True)
        .last()
        .with_columns(
            pl.col("started_at")
            .str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
            .dt.epoch("us")
            .alias("started_us")
        )
        .select("record_id", "role", "status", "total_tokens", "total_cost_usd", "started_us")
    )
    run_info = runs.select(
        pl.col("record_id").alias("run_id"), "role", pl.col("started_us").alias("run_started_us")
    )

    def attach(part: pl.DataFrame) -> pl.DataFrame:
        first = part.group_by("record_id").agg(pl.col("rec_us").min().alias("first_us"))
        return (
            part.group_by("record_id", maintain_order=True)
            .last()
            .join(first, on="record_id")
            .join(run_info, on="run_id", how="left")
            .with_columns(pl.coalesce("run_started_us", "first_us").alias("at_us"))
        )

    step_rows = _decode(frame, "step", _STEP)
    executed_at = (
        step_rows.filter(pl.col("status") == "executed")
        .group_by("record_id")
        .agg(pl.col("rec_us").min().alias("executed_us"))
    )
    ran = step_rows.group_by("record_id").agg(pl.col("status").is_in(_RAN).any().alias("ran"))
    steps = (
        attach(step_rows).join(executed_at, on="record_id", how="left").join(ran, on="record_id")
    )
    gates = attach(_decode(frame, "gate", _GATE))
    # Companion records: the policy's verdict when it assessed the gate, and edits on decision.
    details = (
        _decode(
            frame.filter(pl.col("fields").str.contains('"policy_verdict"|"edited"')),
            "gate_detail",
            _GATE_DETAIL,
        )
        .group_by("record_id")
        .agg(
            (pl.col("policy_verdict") == "sample").any().alias("sampled"),
            pl.col("edited").fill_null(False).any().alias("edited"),
        )
    )
    gates = gates.join(details, on="record_id", how="left").with_columns(
        pl.col("sampled").fill_null(False), pl.col("edited").fill_null(False)
    )
    outcomes = attach(_decode(frame, "outcome", _OUTCOME))
    # A step needs approval if it is high-risk, names a gate, or had a gate opened for it; it
    # passed if any gate for it (by step_id or by the step's approval_gate_id) is approved.
    approved = gates.filter(pl.col("decision") == "approved")
    approved_steps = approved["step_id"].drop_nulls().unique()
    approved_gates = approved["record_id"].unique()
    gate_of_step = (
        gates.sort("seq")
        .group_by("step_id", maintain_order=True)
        .last()
        .select(pl.col("step_id").alias("record_id"), pl.col("decision").alias("gate_decision"))
    )
    steps = steps.join(gate_of_step, on="record_id", how="left").with_columns(
        (
            (pl.col("risk_level") == "execute_high")
            | pl.col("approval_gate_id").is_not_null()
            | pl.col("gate_decision").is_not_null()
        )
        .fill_null(False)
        .alias("needs_approval"),
        (
            pl.col("record_id").is_in(approved_steps.implode())
            | pl.col("approval_gate_id").is_in(approved_gates.implode())
        )
        .fill_null(False)
        .alias("has_approval"),
    )
    return runs, steps, gates, outcomes


def _in_window(frame: pl.DataFrame, column: str, lo: int | None, hi: int | None) -> pl.DataFrame:
    if lo is not None:
        frame = frame.filter(pl.col(column) >= lo)
    if hi is not None:
        frame = frame.filter(pl.col(column) < hi)
    return frame


def _ratio(numerator: int | float, denominator: int | float) -> float | None:
    return None if not denominator else float(numerator) / float(denominator)


def _inverted_cdf(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _kpis(
    runs: pl.DataFrame,
    steps: pl.DataFrame,
    gates: pl.DataFrame,
    outcomes: pl.DataFrame,
    *,
    run_level: bool,
) -> dict[str, Any]:
    status = runs["status"]
    finished = int(status.is_in(_FINISHED).sum())
    completed = int((status == "completed").sum())
    ran = steps.filter(pl.col("ran"))
    productive = int((steps["status"] == "executed").sum())
    rolled_back = int((ran["status"] == "rolled_back").sum())
    decided = gates.filter(pl.col("decision").is_in(_DECIDED))
    rejected = int((decided["decision"] == "rejected").sum())
    judged = decided.filter(pl.col("decision").is_in(("approved", "rejected")))
    by_policy = int(judged["decided_by"].fill_null("").str.starts_with(POLICY_PREFIX).sum())
    reviews = judged.filter(pl.col("sampled"))
    overridden = int(((reviews["decision"] == "rejected") | reviews["edited"]).sum())
    bypassed = ran.filter(pl.col("needs_approval") & ~pl.col("has_approval"))
    by_decision = bypassed["gate_decision"].fill_null("none").value_counts()
    bypass_detail = dict.fromkeys(("none", "pending", "rejected", "timeout"), 0)
    bypass_detail.update(dict(zip(*by_decision.to_dict(as_series=False).values(), strict=True)))
    result: dict[str, Any] = {
        "steps_ran": ran.height,
        "rollback_rate": _ratio(rolled_back, ran.height),
        "gates": gates.height,
        "gates_decided": decided.height,
        "human_override_rate": _ratio(rejected, decided.height),
        "decisions_by_policy": by_policy,
        "decisions_by_person": judged.height - by_policy,
        "sampled_reviews_decided": reviews.height,
        "sampled_override_rate": _ratio(overridden, reviews.height),
        "approval_bypass_count": bypassed.height,
        "bypasses": bypass_detail,
    }
    if not run_level:
        return result
    first_action = (
        steps.filter(pl.col("executed_us").is_not_null())
        .group_by("run_id")
        .agg(pl.col("executed_us").min())
        .join(runs.select(pl.col("record_id").alias("run_id"), "started_us"), on="run_id")
        .select(((pl.col("executed_us") - pl.col("started_us")) / 1000.0).alias("ms"))
        .drop_nulls()
    )
    ttfa = first_action["ms"].to_list()
    tokens = float(runs["total_tokens"].fill_null(0).sum())
    cost = float(runs["total_cost_usd"].fill_null(0).sum())
    evaluated = outcomes.sort("seq").group_by("run_id").last()
    result = {
        "runs": runs.height,
        "runs_finished": finished,
        "time_to_first_action_ms": {
            "count": len(ttfa),
            "median": float(first_action["ms"].median()) if ttfa else None,  # type: ignore[arg-type]
            "p90": _inverted_cdf(ttfa, 0.9),
        },
        "workflow_success_rate": _ratio(completed, finished),
        "objective_met_rate": _ratio(
            int((evaluated["objective_met"] == "yes").sum()), evaluated.height
        ),
        **result,
        "total_cost_usd": cost,
        "cost_per_run_usd": _ratio(cost, runs.height),
        "total_tokens": int(tokens),
        "productive_steps": productive,
        "tokens_per_productive_step": _ratio(tokens, productive),
    }
    return result
