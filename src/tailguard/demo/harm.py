"""Interventions that hurt: where an arm measured worse than holding, and what the policy did.

The report's "Did it help?" answers for the network; this module answers for each intervention in
each context. With the learning policy every catalogue group also holds (does nothing) now and
then, at random, so in each (group, context bucket) the decisions that acted can be compared with
the decisions that held, on the same measured rewards the learning loop uses (the target KPI's
change in robust spreads, better positive, within the day: :func:`~tailguard.learning.arms.rewards`
with ``day_effects``). An arm is *harmful* there when its mean reward is below holding's with a
95 % interval (Welch) wholly below zero.

For each harmful arm the explanation gives: the effect and its interval, how many decisions each
side had, and the share of the bucket's decisions the arm took in the run's first and last week:
the learning policy moves probability away from an arm that measures worse than holding, so a
falling share is the loop stopping it. With the fixed weights nothing holds, so nothing can be
judged this way (``comparable`` is false).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import polars as pl

from tailguard.learning.arms import RewardConfig, decision_frame, rewards
from tailguard.learning.policy import learning_arm

#: Fewest measured decisions on each side before an arm is judged in a bucket.
MIN_DECISIONS: Final = 8


def harmful_interventions(
    decisions: pl.DataFrame,
    groups: Mapping[str, str],
    *,
    start: datetime,
    end: datetime,
    min_decisions: int = MIN_DECISIONS,
) -> dict[str, Any]:
    """``{"comparable": bool, "harmful": [...], "judged": n}`` for the run's decisions.

    Each harmful entry: ``group``, ``bucket``, ``arm``, ``kpi``, ``effect`` (mean reward of the
    arm less holding's), ``ci95``, ``n``, ``hold_n``, ``share_first_week``, ``share_last_week``
    and ``stopped`` (its last-week share is at most half its first-week share).
    """
    frame = decision_frame(decisions, groups)
    if frame.is_empty():
        return {"comparable": False, "harmful": [], "judged": 0}
    rewarded = rewards(frame, RewardConfig(clip=3.0, day_effects=3.0))
    if rewarded.is_empty():
        return {"comparable": False, "harmful": [], "judged": 0}
    rewarded = rewarded.with_columns(learning_arm(rewarded))
    stats = rewarded.group_by("group", "bucket", "learn_arm").agg(
        pl.len().alias("n"),
        pl.col("reward").mean().alias("mean"),
        pl.col("reward").var().alias("var"),
        pl.col("outcome_kpi").first().alias("kpi"),
    )
    holds = stats.filter(pl.col("learn_arm").str.starts_with("hold:")).select(
        "group",
        "bucket",
        pl.col("n").alias("hold_n"),
        pl.col("mean").alias("hold_mean"),
        pl.col("var").alias("hold_var"),
    )
    comparable = not holds.is_empty()
    acting = stats.filter(~pl.col("learn_arm").str.starts_with("hold:")).join(
        holds, on=["group", "bucket"], how="inner"
    )
    acting = acting.filter(
        (pl.col("n") >= min_decisions) & (pl.col("hold_n") >= min_decisions)
    ).sort("group", "bucket", "learn_arm")
    shares = _shares(frame, start=start, end=end)
    out: list[dict[str, Any]] = []
    for row in acting.iter_rows(named=True):
        effect = float(row["mean"] - row["hold_mean"])
        se = math.sqrt((row["var"] or 0.0) / row["n"] + (row["hold_var"] or 0.0) / row["hold_n"])
        hi = effect + 1.96 * se
        if hi >= 0:
            continue
        first, last = shares.get((row["group"], row["bucket"], row["learn_arm"]), (None, None))
        out.append(
            {
                "group": row["group"],
                "bucket": row["bucket"],
                "arm": row["learn_arm"],
                "kpi": row["kpi"],
                "effect": round(effect, 3),
                "ci95": [round(effect - 1.96 * se, 3), round(hi, 3)],
                "n": int(row["n"]),
                "hold_n": int(row["hold_n"]),
                "share_first_week": first,
                "share_last_week": last,
                "stopped": first is not None and last is not None and last <= 0.5 * first,
            }
        )
    out.sort(key=lambda r: r["effect"])
    return {"comparable": comparable, "harmful": out, "judged": acting.height}


def _shares(
    frame: pl.DataFrame, *, start: datetime, end: datetime
) -> dict[tuple[str, str, str], tuple[float | None, float | None]]:
    """(group, bucket, arm) -> its share of the bucket's decisions in the first and last week."""
    first = frame.filter(pl.col("decided_at") < start + timedelta(days=7))
    last = frame.filter(pl.col("decided_at") >= end - timedelta(days=7))

    def share(part: pl.DataFrame) -> dict[tuple[str, str, str], float]:
        if part.is_empty():
            return {}
        counts = part.group_by("group", "bucket", "arm").len()
        counts = counts.with_columns(
            (pl.col("len") / pl.col("len").sum().over("group", "bucket")).alias("share")
        )
        return {
            (g, b, a): round(float(s), 3)
            for g, b, a, s in counts.select("group", "bucket", "arm", "share").iter_rows()
        }

    a, b = share(first), share(last)
    keys = set(a) | set(b)
    return {k: (a.get(k, 0.0) if a else None, b.get(k, 0.0) if b else None) for k in keys}


def explain(item: Mapping[str, Any]) -> str:
    """One harmful arm in a sentence for the report."""
    arm = str(item["arm"])
    where = str(item["bucket"]).replace("|-", "").replace("|", ", ")
    lo, hi = item["ci95"]
    text = (
        f"{arm} in {where} areas moved {item['kpi']} by {item['effect']:+.2f} robust spreads "
        f"against holding (95 % interval {lo:+.2f} to {hi:+.2f}; {item['n']} decisions acted, "
        f"{item['hold_n']} held)"
    )
    first, last = item.get("share_first_week"), item.get("share_last_week")
    if first is not None and last is not None:
        verb = "stopped it" if item.get("stopped") else "kept it"
        text += (
            f"; the policy {verb}: {100 * first:.0f} % of that context's decisions in the first "
            f"week, {100 * last:.0f} % in the last"
        )
    return text + "."


def harm_section(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The report's "Interventions that hurt" (None when the summary has no such block)."""
    business = summary.get("business")
    found = business.get("harmful_interventions") if isinstance(business, Mapping) else None
    if not isinstance(found, Mapping):
        return None
    return {
        "comparable": bool(found.get("comparable")),
        "entries": [dict(h, text=explain(h)) for h in found.get("harmful") or []],
        "judged": found.get("judged", 0),
    }


__all__ = ["MIN_DECISIONS", "explain", "harm_section", "harmful_interventions"]
