"""Arms, contexts and rewards: how a logged decision becomes a bandit observation.

An *arm* is one way an area agent can answer a tail of one catalogue group: a catalogue entry at
one of its argument levels (``entry_id`` for the entry's own arguments, ``entry_id@2`` for its
second alternative level), or ``hold:<group>``, deciding to do nothing (logged like any other
decision, so its outcome is measured and the effect of acting is learnt against it).

A *context bucket* says where the decision was taken: the area's type (urban, suburban, rural or
unknown: a public attribute of a planning area, never the simulator's hidden effects) and, when
the target is a technician, their tenure (``rookie`` under a year, ``veteran``, or unknown).

The *reward* of a measured decision is the change of its target KPI between decision and horizon,
signed so that better is positive and divided by that KPI's robust spread over all measured
decisions (so arms whose KPIs differ in units compare), optionally less a cost term. A decision
whose gate was rejected or timed out did not act: its measured outcome is a no-action outcome
and is credited to its group's hold arm when the policy learns (off-policy evaluation keeps it
on the logged action, the reward of asking).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

#: KPIs (area or unit level) where a lower value is better.
LOWER_IS_BETTER: Final = frozenset(
    {
        "lateness_p90_min",
        "recall_pct",
        "recall_pct_p90",
        "multi_part_pct",
        "parts_cost_delta_p90_pct",
        "churn_90d_pct",
        "lead_time_p95_days",
        "parts_lead_time_p95_days",
        "detractors_72h",
        "detractor_excess",
    }
)

#: Statuses whose outcome is measured: the action ran, was deliberately held, or was asked for
#: and refused (no action happened).
MEASURED_STATUSES: Final = ("executed", "held", "rejected", "timeout")

#: Rookies: technicians hired less than this many days ago.
ROOKIE_DAYS: Final = 365

HOLD_PREFIX: Final = "hold:"


def arm_id(entry_id: str, level: int) -> str:
    """The arm of ``entry_id`` at argument level ``level`` (0: the entry's own arguments)."""
    return entry_id if level == 0 else f"{entry_id}@{level}"


def hold_arm(group: str) -> str:
    """The do-nothing arm of a catalogue group."""
    return f"{HOLD_PREFIX}{group}"


def is_hold(arm: str) -> bool:
    """Whether ``arm`` is a group's do-nothing arm."""
    return arm.startswith(HOLD_PREFIX)


def split_arm(arm: str) -> tuple[str, int]:
    """(entry_id, level) of an acting arm."""
    entry, _, level = arm.partition("@")
    return entry, int(level) if level else 0


def bucket_of(area_type: str | None, unit: Mapping[str, Any]) -> str:
    """The context bucket of a decision: ``<area type>|<tenure>``."""
    tenure = "-"
    if "tenure_days" in unit:
        days = unit.get("tenure_days")
        tenure = "unknown" if days is None else ("rookie" if days < ROOKIE_DAYS else "veteran")
    return f"{area_type or 'unknown'}|{tenure}"


@dataclass(frozen=True, kw_only=True, slots=True)
class RewardConfig:
    """How a measured outcome becomes a reward.

    Attributes:
        cost_weight: reward units taken off per $100 of the decision's estimated cost (0: the
            reward is the KPI change alone).
        clip: when set, the standardised change is clipped to [-clip, clip] before the cost
            term (a winsorised reward: one zip whose P90 lateness jumps by an hour tells less
            than its size says, and would otherwise swamp dozens of ordinary decisions). The
            learning policy clips at 3; off-policy evaluation does not clip by default, so its
            estimates stay in plain KPI-change units.
        day_effects: when set, each reward is taken relative to the other decisions of its
            group and context bucket on the same day: less their mean reward, shrunk towards
            zero as if ``day_effects`` more decisions of reward 0 had been taken that day
            (``sum / (n + day_effects)``). An adaptive policy plays different arms at different
            times (holds mostly while an arm is new, one favourite later), so a network-wide
            drift (a bad week for lateness) would otherwise be credited to whichever arm was
            played then; within a day the arms are randomised, so the comparison of arms is
            kept and the drift is removed (time fixed effects, as in the analysis of adaptive
            experiments). The learning policy uses 3; off-policy evaluation does not, so its
            estimates stay in plain KPI-change units.
    """

    cost_weight: float = 0.0
    clip: float | None = None
    day_effects: float | None = None


def decision_frame(store_frame: pl.DataFrame, groups: Mapping[str, str]) -> pl.DataFrame:
    """The self-learn store's decisions with their arm, group, bucket and eligible arms.

    Decisions logged before arms were recorded (no ``arm`` in their context) are read as their
    entry's own level in the group ``groups`` names (the entry's id when unknown), bucket
    ``unknown|-``, with the arms of that decision unknown (an empty list).
    """
    if store_frame.is_empty():
        return store_frame.with_columns(
            pl.lit(None, pl.String).alias(c) for c in ("arm", "group", "bucket")
        ).with_columns(
            pl.lit(None, pl.List(pl.String)).alias("arms"),
            pl.lit(None, pl.List(pl.Float64)).alias("logged_probs"),
        )
    ctx = pl.col("context")
    group_of = pl.col("entry_id").replace_strict(groups, default=pl.col("entry_id"))
    return store_frame.with_columns(
        ctx.str.json_path_match("$.arm").fill_null(pl.col("entry_id")).alias("arm"),
        ctx.str.json_path_match("$.group").fill_null(group_of).alias("group"),
        ctx.str.json_path_match("$.bucket").fill_null("unknown|-").alias("bucket"),
        ctx.str.json_path_match("$.arms")
        .str.json_decode(pl.List(pl.String))
        .fill_null(pl.lit([], pl.List(pl.String)))
        .alias("arms"),
        ctx.str.json_path_match("$.probs")
        .str.json_decode(pl.List(pl.Float64))
        .fill_null(pl.lit([], pl.List(pl.Float64)))
        .alias("logged_probs"),
    )


def rewards(decisions: pl.DataFrame, config: RewardConfig | None = None) -> pl.DataFrame:
    """The measured decisions of ``decisions`` (a :func:`decision_frame`) with their reward.

    Adds ``raw_delta`` (the signed change: better is positive, in the KPI's units), ``delta``
    (the same less its linear dependence on the baseline value, per KPI), ``scale`` (the KPI's robust
    spread: 1.4826 x the median absolute deviation of the signed deltas, at least a small
    floor), ``reward`` (``delta / scale`` less the cost term) and ``acted`` (False for held,
    rejected and timed-out decisions).
    """
    cfg = config or RewardConfig()
    measured = decisions.filter(
        pl.col("status").is_in(MEASURED_STATUSES)
        & pl.col("outcome_value").is_not_null()
        & pl.col("baseline_value").is_not_null()
        & pl.col("outcome_kpi").is_not_null()
    )
    sign = pl.when(pl.col("outcome_kpi").is_in(list(LOWER_IS_BETTER))).then(-1.0).otherwise(1.0)
    raw = measured.with_columns(
        ((pl.col("outcome_value") - pl.col("baseline_value")) * sign).alias("raw_delta")
    )
    # Variance reduction with the pre-decision value (as CUPED does): a unit picked for being
    # deep in a tail tends to come back on its own, so much of the change is predictable from
    # the baseline. The baseline is known before the arm is drawn, so removing its linear part
    # (one slope per KPI, over all arms) leaves the comparison of arms unbiased and less noisy.
    centred = pl.col("baseline_value") - pl.col("baseline_value").mean().over("outcome_kpi")
    dev = pl.col("raw_delta") - pl.col("raw_delta").mean().over("outcome_kpi")
    slope = ((centred * dev).sum() / (centred * centred).sum()).over("outcome_kpi")
    with_delta = raw.with_columns(
        (pl.col("raw_delta") - slope.fill_nan(0.0).fill_null(0.0) * centred).alias("delta")
    )
    spread = with_delta.group_by("outcome_kpi").agg(
        (1.4826 * (pl.col("delta") - pl.col("delta").median()).abs().median().fill_null(0.0)).alias(
            "mad"
        ),
        pl.col("delta").std().fill_null(0.0).alias("sd"),
    )
    spread = spread.with_columns(
        pl.when(pl.col("mad") > 1e-9)
        .then(pl.col("mad"))
        .when(pl.col("sd") > 1e-9)
        .then(pl.col("sd"))
        .otherwise(1.0)
        .alias("scale")
    )
    out = with_delta.join(spread.select("outcome_kpi", "scale"), on="outcome_kpi", how="left")
    cost = pl.col("cost_usd").fill_null(0.0)
    standard = pl.col("delta") / pl.col("scale")
    if cfg.clip is not None:
        standard = standard.clip(-cfg.clip, cfg.clip)
    out = out.with_columns(
        (standard - cfg.cost_weight * cost / 100.0).alias("reward"),
        (pl.col("status") == "executed").alias("acted"),
    )
    if cfg.day_effects is None or out.is_empty():
        return out
    cell = ["group", "bucket", pl.col("decided_at").dt.truncate("1d")]
    day_mean = pl.col("reward").sum().over(cell) / (pl.len().over(cell) + cfg.day_effects)
    return out.with_columns((pl.col("reward") - day_mean).alias("reward"))
