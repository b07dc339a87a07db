"""What the dashboards show, computed from the ledger with Polars (no row objects per record).

Each entity's current state is its newest record (the ledger is append-only). The pages read
a bounded time window (the records of the last N days, fetched in batches as Arrow), so a page
costs in proportion to recent activity, not to the whole ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from tailguard.ledger import Ledger
from tailguard.ledger.arrow import records_arrow

RUN_FIELDS = pl.Struct(
    {
        "run_id": pl.Utf8,
        "conversation_id": pl.Utf8,
        "initiator_id": pl.Utf8,
        "role": pl.Utf8,
        "goal_text": pl.Utf8,
        "status": pl.Utf8,
        "total_tokens": pl.Float64,
        "total_cost_usd": pl.Float64,
        "steps_count": pl.Int64,
        "started_at": pl.Utf8,
        "completed_at": pl.Utf8,
    }
)
GATE_FIELDS = pl.Struct(
    {
        "gate_id": pl.Utf8,
        "run_id": pl.Utf8,
        "step_id": pl.Utf8,
        "tool_name": pl.Utf8,
        "reason": pl.Utf8,
        "risk_level": pl.Utf8,
        "presented_at": pl.Utf8,
        "decision": pl.Utf8,
        "decided_by": pl.Utf8,
        "decided_at": pl.Utf8,
    }
)
GATE_DETAIL_FIELDS = pl.Struct({"decision_reason": pl.Utf8, "edited": pl.Boolean})
OUTCOME_FIELDS = pl.Struct(
    {
        "run_id": pl.Utf8,
        "objective_met": pl.Utf8,
        "quality_score": pl.Float64,
        "evaluated_at": pl.Utf8,
    }
)
ALERT_FIELDS = pl.Struct(
    {
        "alert_id": pl.Utf8,
        "run_id": pl.Utf8,
        "metric": pl.Utf8,
        "value": pl.Float64,
        "threshold": pl.Float64,
        "role": pl.Utf8,
        "initiator_id": pl.Utf8,
        "raised_at": pl.Utf8,
        "message": pl.Utf8,
    }
)

_AREA = r"(?i)\b(?:area|pa)[-_ ]?(\d{1,6})\b"
_TS = "%Y-%m-%dT%H:%M:%S%.fZ"


def _ts(col: str) -> pl.Expr:
    return pl.col(col).str.to_datetime(time_zone="UTC", strict=False)


def current(
    ledger: Ledger, kind: str, fields: pl.Struct, *, since: datetime | None
) -> pl.DataFrame:
    """The newest record of each entity of ``kind`` recorded since ``since``, fields unnested.

    Adds ``first_at`` (the entity's first record) and ``recorded_at`` (its newest).
    """
    raw: Any = pl.from_arrow(records_arrow(ledger, kinds=[kind], since=since))
    names = list(fields.to_schema())
    if raw.height == 0:
        empty = {n: pl.Series(n, [], dtype=d) for n, d in fields.to_schema().items()}
        frame = pl.DataFrame(empty)
        return frame.with_columns(
            pl.lit(None, pl.Datetime("us", "UTC")).alias("first_at"),
            pl.lit(None, pl.Datetime("us", "UTC")).alias("recorded_at"),
        )
    latest = (
        raw.sort("seq")
        .group_by("record_id", maintain_order=True)
        .agg(
            pl.col("fields").last(),
            pl.col("recorded_at").first().alias("first_at"),
            pl.col("recorded_at").last(),
        )
    )
    decoded = latest.with_columns(pl.col("fields").str.json_decode(fields).alias("_f"))
    out: pl.DataFrame = decoded.select(
        *[pl.col("_f").struct.field(n).alias(n) for n in names], "first_at", "recorded_at"
    )
    return out


def merged_details(
    ledger: Ledger, kind: str, fields: pl.Struct, *, since: datetime | None
) -> pl.DataFrame:
    """Companion records (``gate_detail``) merged per id: the last non-null value of each field."""
    raw: Any = pl.from_arrow(records_arrow(ledger, kinds=[kind], since=since))
    names = list(fields.to_schema())
    if raw.height == 0:
        return pl.DataFrame(
            {"record_id": pl.Series([], dtype=pl.Utf8)}
            | {n: pl.Series([], dtype=d) for n, d in fields.to_schema().items()}
        )
    decoded = raw.sort("seq").with_columns(pl.col("fields").str.json_decode(fields).alias("_f"))
    flat = decoded.select("record_id", *[pl.col("_f").struct.field(n).alias(n) for n in names])
    merged: pl.DataFrame = flat.group_by("record_id", maintain_order=True).agg(
        *[pl.col(n).drop_nulls().last().alias(n) for n in names]
    )
    return merged


def runs(ledger: Ledger, *, since: datetime) -> pl.DataFrame:
    """Runs started since ``since`` in their current state, with ``area_id`` and times parsed.

    ``area_id`` comes from the initiator (``area-0007``) or the goal text (``PA-0007``),
    normalised to ``PA-0007``; null for runs that do not belong to a planning area.
    """
    frame = current(ledger, "run", RUN_FIELDS, since=since)
    digits = pl.coalesce(
        pl.col("initiator_id").str.extract(_AREA, 1), pl.col("goal_text").str.extract(_AREA, 1)
    )
    return frame.with_columns(
        _ts("started_at").alias("started"),
        _ts("completed_at").alias("completed"),
        pl.when(digits.is_not_null())
        .then(pl.concat_str([pl.lit("PA-"), digits.str.zfill(4)]))
        .otherwise(None)
        .alias("area_id"),
        pl.col("total_cost_usd").fill_null(0.0),
        pl.col("total_tokens").fill_null(0.0),
    ).filter(pl.col("started") >= since)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSummary:
    """Headline figures of the run monitor."""

    total: int
    active: int
    waiting: int
    finished: int
    completed: int
    failed: int
    aborted: int

    @property
    def completion_rate(self) -> float | None:
        """Completed runs over finished runs (None before any finished)."""
        return self.completed / self.finished if self.finished else None

    @property
    def error_rate(self) -> float | None:
        """Failed and aborted runs over finished runs."""
        return (self.failed + self.aborted) / self.finished if self.finished else None


def run_summary(frame: pl.DataFrame) -> RunSummary:
    """Counts by status."""
    counts = dict(frame.group_by("status").len().iter_rows())
    completed, failed, aborted = (int(counts.get(s, 0)) for s in ("completed", "failed", "aborted"))
    return RunSummary(
        total=frame.height,
        active=int(counts.get("running", 0)) + int(counts.get("waiting_approval", 0)),
        waiting=int(counts.get("waiting_approval", 0)),
        finished=completed + failed + aborted,
        completed=completed,
        failed=failed,
        aborted=aborted,
    )


def per_role(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Per role: runs, completed, failed, rates, cost."""
    if frame.height == 0:
        return []
    fin = pl.col("status").is_in(["completed", "failed", "aborted"])
    out = (
        frame.group_by("role")
        .agg(
            pl.len().alias("runs"),
            pl.col("status").is_in(["running", "waiting_approval"]).sum().alias("active"),
            (pl.col("status") == "completed").sum().alias("completed"),
            pl.col("status").is_in(["failed", "aborted"]).sum().alias("errors"),
            fin.sum().alias("finished"),
            pl.col("total_cost_usd").sum().alias("cost"),
        )
        .with_columns(
            (pl.col("completed") / pl.col("finished")).alias("completion_rate"),
            (pl.col("errors") / pl.col("finished")).alias("error_rate"),
        )
        .sort("runs", descending=True)
    )
    return out.to_dicts()


def day_range(since: datetime, until: datetime) -> list[date]:
    """Every UTC day from ``since`` to ``until`` inclusive."""
    first, last = since.date(), until.date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def daily_by(frame: pl.DataFrame, key: str, value: str, days: list[date]) -> dict[str, list[float]]:
    """``{group: [sum of value per day]}`` for each value of ``key`` (null keys dropped)."""
    if frame.height == 0:
        return {}
    sums = (
        frame.filter(pl.col(key).is_not_null())
        .with_columns(pl.col("started").dt.date().alias("day"))
        .group_by(key, "day")
        .agg(pl.col(value).sum())
    )
    out: dict[str, list[float]] = {}
    for group in sorted(sums[key].unique().to_list()):
        got = dict(sums.filter(pl.col(key) == group).select("day", value).iter_rows())
        out[str(group)] = [float(got.get(d, 0.0)) for d in days]
    return out


def weekly_by(frame: pl.DataFrame, key: str) -> list[dict[str, Any]]:
    """Spend per ISO week and ``key``: rows ``{week, key, runs, cost, tokens}``."""
    if frame.height == 0:
        return []
    return (
        frame.filter(pl.col(key).is_not_null())
        .with_columns(
            pl.concat_str(
                [
                    pl.col("started").dt.iso_year().cast(pl.Utf8),
                    pl.lit("-W"),
                    pl.col("started").dt.week().cast(pl.Utf8).str.zfill(2),
                ]
            ).alias("week")
        )
        .group_by("week", key)
        .agg(
            pl.len().alias("runs"),
            pl.col("total_cost_usd").sum().alias("cost"),
            pl.col("total_tokens").sum().alias("tokens"),
        )
        .sort(["week", "cost"], descending=[True, True])
        .to_dicts()
    )


def top_consumers(frame: pl.DataFrame, n: int = 10) -> list[dict[str, Any]]:
    """Initiators by spend."""
    if frame.height == 0:
        return []
    return (
        frame.group_by("initiator_id")
        .agg(
            pl.len().alias("runs"),
            pl.col("total_cost_usd").sum().alias("cost"),
            pl.col("total_tokens").sum().alias("tokens"),
            pl.col("role").mode().first().alias("role"),
        )
        .sort("cost", descending=True)
        .head(n)
        .to_dicts()
    )


def alerts(ledger: Ledger, *, since: datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Budget alerts (ledger ``alert`` records), newest first."""
    frame = current(ledger, "alert", ALERT_FIELDS, since=since)
    return frame.sort("recorded_at", descending=True).head(limit).to_dicts()


def audit(
    ledger: Ledger,
    *,
    since: datetime,
    decided_by: str | None = None,
    decision: str | None = None,
    tool_name: str | None = None,
) -> pl.DataFrame:
    """Every decided gate (approved, rejected, timed out) since ``since``, newest first."""
    gates = current(ledger, "gate", GATE_FIELDS, since=since).filter(
        pl.col("decision") != "pending"
    )
    details = merged_details(ledger, "gate_detail", GATE_DETAIL_FIELDS, since=since)
    frame = gates.join(details, left_on="gate_id", right_on="record_id", how="left").with_columns(
        pl.col("decided_by").fill_null("system"),
        pl.col("edited").fill_null(value=False),
        pl.col("decision_reason").fill_null(""),
    )
    if decided_by:
        frame = frame.filter(pl.col("decided_by").str.contains(decided_by, literal=True))
    if decision:
        frame = frame.filter(pl.col("decision") == decision)
    if tool_name:
        frame = frame.filter(pl.col("tool_name") == tool_name)
    return frame.sort("decided_at", descending=True, nulls_last=True)


AUDIT_COLUMNS = (
    "decided_at",
    "decision",
    "decided_by",
    "decision_reason",
    "edited",
    "tool_name",
    "risk_level",
    "gate_id",
    "run_id",
    "step_id",
    "presented_at",
    "reason",
)


def quality_trend(
    ledger: Ledger, *, until: datetime, days: int = 28, window: int = 7
) -> tuple[list[date], dict[str, list[float | None]], dict[str, dict[str, Any]]]:
    """Rolling ``window``-day mean outcome quality score per role, one point per day.

    Returns the days, ``{role: [score or None]}`` and per role the latest window's figures
    (mean score, outcomes, objective met share).
    """
    since = until - timedelta(days=days + window)
    outcomes = current(ledger, "outcome", OUTCOME_FIELDS, since=since)
    run_roles = runs(ledger, since=since - timedelta(days=1)).select("run_id", "role")
    frame = (
        outcomes.join(run_roles, on="run_id", how="left")
        .with_columns(
            pl.col("role").fill_null("unknown"),
            _ts("evaluated_at").dt.date().alias("day"),
        )
        .filter(pl.col("quality_score").is_not_null())
    )
    all_days = day_range(since, until)
    shown = all_days[window:]
    trend: dict[str, list[float | None]] = {}
    latest: dict[str, dict[str, Any]] = {}
    for role in sorted(frame["role"].unique().to_list()):
        of = frame.filter(pl.col("role") == role)
        daily = of.group_by("day").agg(
            pl.col("quality_score").sum().alias("s"),
            pl.len().alias("n"),
            (pl.col("objective_met") == "yes").sum().alias("met"),
        )
        by_day = {d: (s, n, m) for d, s, n, m in daily.iter_rows()}
        points: list[float | None] = []
        for d in shown:
            span = [by_day.get(d - timedelta(days=k)) for k in range(window)]
            s = sum(x[0] for x in span if x)
            n = sum(x[1] for x in span if x)
            points.append(round(s / n, 1) if n else None)
        trend[str(role)] = points
        last = [by_day.get(until.date() - timedelta(days=k)) for k in range(window)]
        n_last = sum(x[1] for x in last if x)
        latest[str(role)] = {
            "score": (sum(x[0] for x in last if x) / n_last) if n_last else None,
            "outcomes": n_last,
            "met": (sum(x[2] for x in last if x) / n_last) if n_last else None,
        }
    return shown, trend, latest
