"""The offline HTML report of ``tailguard demo``: one self-contained ``report.html``.

:func:`render_report` turns what the demo measured into a single HTML file that opens with no
network: CSS inline, every plot an inline SVG drawn by Matplotlib's object API (no pyplot, no
GUI backend), no scripts. Frames are aggregated with Polars before anything is drawn, so the
drawing cost depends on hours and bands, not on the number of area-hours.

Input contract (a frame with no rows may have any columns; otherwise the listed ones are
required):

``summary``
    The ``summary.json`` dict: ``areas``, ``weeks``, ``seed``, ``start``, ``end``;
    ``agents_on`` and ``agents_off``, each ``{"guardband_pass_pct", "kpis": {kpi_id: network
    value}, "band_pass_pct": {band_id: pct}}``; ``interventions``: ``{"total", "by_kind":
    {kind: {"count", "executed", "rejected", "timeout", "failed", "cost_usd",
    "mean_outcome_delta"}}}``; ``approvals``: ``{"approved", "rejected", "timeout", "pending",
    "bypasses", "median_latency_min"}``; ``ledger``: ``{"records", "verified"}``;
    ``wall_seconds``: ``{phase: seconds}``. A missing figure is shown as "n/a".
``hourly``
    One row per (arm, hour, area): ``arm`` ("on" or "off"), ``hour`` (Datetime, UTC),
    ``area_id`` (str), one Float64 column per guard-band KPI (``GuardBand.kpi``; null = no
    data), ``inside_<band id>`` (Boolean; null when the KPI is null) and ``inside_all``
    (Boolean).
``interventions``
    One row per intervention decision: ``decision_id, area_id, kind, tool_name, target_type,
    target_id, decided_at`` (Datetime) ``, propensity, policy_version, status`` ("executed",
    "pending_approval", "rejected", "timeout", "failed", "skipped") ``, reason, cost_usd,
    outcome_kpi, outcome_delta, measured_at`` (the last three null until measured).
``approvals``
    One row per approval gate: ``gate_id, area_id, tool_name, risk_level, presented_at,
    decided_at, decision`` ("approved", "rejected", "timeout", "pending") ``, decided_by,
    latency_min``.
``control_kpis``
    The dict returned by :func:`tailguard.ledger.kpis.control_plane_kpis`.
``week_links``
    ``(label, href)`` pairs, each href relative to ``out_dir`` (no scheme, not absolute).

Definitions the report states: the network-wide value of a KPI in an hour is the median across
areas (nulls skipped); its tail is the P90 across areas for a band whose inside is "<" (high is
bad) and the P10 for ">" (inverted CDF); the share inside a band is area-hours inside over
area-hours with data; an outcome interval is the mean plus or minus 1.96 standard errors.
Where a figure is both in ``summary`` and derivable from a frame, the report shows the
summary's and lists any disagreement under "Consistency checks", so a bug in either shows.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jinja2
import polars as pl
from markupsafe import Markup

import tailguard
from tailguard.demo import charts
from tailguard.demo.charts import DECISION_COLOURS, STATUS_COLOURS
from tailguard.demo.compare import paired_difference
from tailguard.demo.crowd_report import crowd_section
from tailguard.demo.gamification_report import gamification_section
from tailguard.demo.harm import harm_section
from tailguard.demo.levers_report import levers_section
from tailguard.demo.tables import (
    control_section,
    dig,
    fmt_better_worse,
    fmt_ci,
    fmt_kpi,
    fmt_num,
    fmt_pct,
    fmt_pp,
    fmt_usd,
    is_missing,
)
from tailguard.errors import InvalidInputError
from tailguard.metrics.kpis import KPIS
from tailguard.rules.guardbands import GUARD_BANDS, GuardBand

__all__ = ["render_report"]


_INTERVENTION_COLUMNS: Final = (
    "decision_id", "area_id", "kind", "tool_name", "target_type", "target_id", "decided_at",
    "propensity", "policy_version", "status", "reason", "cost_usd", "outcome_kpi",
    "outcome_delta", "measured_at",
)  # fmt: skip
_APPROVAL_COLUMNS: Final = (
    "gate_id", "area_id", "tool_name", "risk_level", "presented_at", "decided_at", "decision",
    "decided_by", "latency_min",
)  # fmt: skip
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


# --- views handed to the template ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class BandView:
    """One guard-band: its plot and its on/off figures, formatted."""

    id: str
    title: str
    doc: str
    kpi: str
    tail: str
    better: str
    svg: Markup | None
    value_on: str
    value_off: str
    pass_on: str
    pass_off: str
    lift: str
    with_data_on: str
    with_data_off: str


@dataclass(frozen=True, kw_only=True, slots=True)
class KindView:
    """One intervention kind: counts and cost from the summary, outcomes from the frame."""

    kind: str
    tools: str
    count: str
    executed: str
    rejected: str
    timeout: str
    failed: str
    cost: str
    outcome_kpi: str
    better: str
    measured: str
    mean_delta: str
    interval: str
    verdict: str


def render_report(
    out_dir: Path,
    *,
    summary: Mapping[str, Any],
    hourly: pl.DataFrame,
    interventions: pl.DataFrame,
    approvals: pl.DataFrame,
    control_kpis: Mapping[str, Any],
    week_links: Iterable[tuple[str, str]] = (),
) -> Path:
    """Write ``out_dir/report.html``, the demo's self-contained report, and return its path.

    Args:
        out_dir: the demo's output directory (created if missing); nothing is written outside.
        summary: the ``summary.json`` dict (see the module docstring for every input).
        hourly: one row per arm, hour and area with the guard-band KPIs and inside flags.
        interventions: one row per intervention decision.
        approvals: one row per approval gate.
        control_kpis: the control-plane KPIs of the demo's ledger.
        week_links: ``(label, relative href)`` of the weekly packs.

    Raises:
        InvalidInputError: a frame lacks a required column, an arm is unknown, or a weekly
            link is not a relative href.
    """
    links = [(str(label), str(href)) for label, href in week_links]
    _check_inputs(hourly, interventions, approvals, links)
    checks: list[str] = []
    with charts.style():
        context = {
            "run": _run_info(summary),
            "headline": _headline(summary, control_kpis, checks),
            "business": summary.get("business"),
            "harm": harm_section(summary),
            **_bands_section(summary, hourly, checks),
            **_interventions_section(summary, interventions, checks),
            **_approvals_section(summary, approvals, checks),
            "control": control_section(control_kpis),
            **_learning_section(summary),
            **crowd_section(summary),
            **gamification_section(summary),
            **levers_section(summary),
            "week_links": links,
            "version": tailguard.__version__,
        }
    context["checks"] = checks
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tailguard.demo", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = env.get_template("report.html.j2").render(**context)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "report.html"
    partial = out_dir / ".report.html.partial"
    partial.write_text(html, encoding="utf-8")
    os.replace(partial, target)
    return target


def _check_inputs(
    hourly: pl.DataFrame,
    interventions: pl.DataFrame,
    approvals: pl.DataFrame,
    links: Sequence[tuple[str, str]],
) -> None:
    hourly_columns = ["arm", "hour", "area_id", "inside_all"]
    for band in GUARD_BANDS:
        hourly_columns += [band.kpi, f"inside_{band.id}"]
    for name, frame, columns in (
        ("hourly", hourly, hourly_columns),
        ("interventions", interventions, _INTERVENTION_COLUMNS),
        ("approvals", approvals, _APPROVAL_COLUMNS),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if frame.height and missing:
            raise InvalidInputError(f"{name} frame lacks column(s): {', '.join(missing)}")
    if hourly.height:
        arms = set(hourly["arm"].unique().to_list()) - {"on", "off"}
        if arms:
            raise InvalidInputError(f"hourly frame has unknown arm(s): {sorted(map(str, arms))}")
    for label, href in links:
        if _SCHEME.match(href) or href.startswith(("/", "\\")):
            raise InvalidInputError(f"weekly link {label!r} is not a relative href: {href!r}")


def _differs(a: Any, b: Any, tolerance: float) -> bool:
    if is_missing(a) or is_missing(b):
        return False
    return abs(float(a) - float(b)) > tolerance + 1e-9 * max(abs(float(a)), abs(float(b)))


def _run_info(summary: Mapping[str, Any]) -> dict[str, Any]:
    wall = dig(summary, "wall_seconds")
    return {
        "areas": fmt_num(dig(summary, "areas")),
        "weeks": fmt_num(dig(summary, "weeks")),
        "seed": "n/a" if summary.get("seed") is None else str(summary["seed"]),
        "start": _when(summary.get("start")),
        "end": _when(summary.get("end")),
        "wall_seconds": [
            (str(k), fmt_num(v, 1)) for k, v in (wall.items() if isinstance(wall, Mapping) else ())
        ],
    }


def _when(value: Any) -> str:
    """An RFC 3339 time as ``2026-01-05 00:00 UTC``; anything else as it is."""
    if value is None:
        return "n/a"
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _headline(
    summary: Mapping[str, Any], control_kpis: Mapping[str, Any], checks: list[str]
) -> dict[str, Any]:
    on = dig(summary, "agents_on", "guardband_pass_pct")
    off = dig(summary, "agents_off", "guardband_pass_pct")
    by_kind = dig(summary, "interventions", "by_kind") or {}
    costs = [dig(v, "cost_usd") for v in by_kind.values()]
    spend = None if any(is_missing(c) for c in costs) else sum(float(c) for c in costs)
    executed = [dig(v, "executed") for v in by_kind.values()]
    bypasses = dig(summary, "approvals", "bypasses")
    ledger_bypasses = dig(control_kpis, "overall", "approval_bypass_count")
    if _differs(bypasses, ledger_bypasses, 0):
        checks.append(
            f"approval bypasses: summary.json says {bypasses}, the ledger's control-plane "
            f"KPIs say {ledger_bypasses}"
        )
    worst = max((int(b) for b in (bypasses, ledger_bypasses) if not is_missing(b)), default=None)
    verified = dig(summary, "ledger", "verified")
    return {
        "pass_on": fmt_pct(on),
        "pass_off": fmt_pct(off),
        "lift": fmt_pp(None if is_missing(on) or is_missing(off) else float(on) - float(off)),
        "lift_positive": not (is_missing(on) or is_missing(off)) and float(on) > float(off),
        "lift_ci": fmt_ci(dig(summary, "comparison", "guardband_pass_pct", "ci95")),
        "interventions": fmt_num(dig(summary, "interventions", "total")),
        "executed": fmt_num(None if any(is_missing(e) for e in executed) else sum(executed)),
        "spend": fmt_usd(spend),
        "bypasses": "n/a" if worst is None else f"{worst:,}",
        "bypasses_ok": worst == 0,
        "ledger_records": fmt_num(dig(summary, "ledger", "records")),
        "ledger_verified": verified,
    }


# --- guard-bands -------------------------------------------------------------------------------


def _tail_q(band: GuardBand) -> float:
    return 0.9 if band.lower_is_better else 0.1


def _learning_section(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The learning curve: each week's paired gain and the policy version in force."""
    rows = list(summary.get("learning_curve") or [])
    view = [
        {
            "week": r["week"],
            "gain": (
                "n/a"
                if r["guardband_gain_points"] is None
                else f"{r['guardband_gain_points']:+.2f}"
            ),
            "ci": (
                "n/a"
                if not r.get("ci95") or r["ci95"][0] is None
                else f"{r['ci95'][0]:+.2f} to {r['ci95'][1]:+.2f}"
            ),
            "version": r.get("policy_version") or "",
        }
        for r in rows
    ]
    usable = [r for r in rows if r.get("guardband_gain_points") is not None]
    versions = summary.get("policy_versions") or {}
    return {
        "policy": summary.get("policy", "fixed"),
        "learning_rows": view,
        "learning_svg": charts.learning_plot(usable) if usable else None,
        "rollbacks": list(versions.get("rollbacks") or []),
    }


def _bands_section(
    summary: Mapping[str, Any], hourly: pl.DataFrame, checks: list[str]
) -> dict[str, Any]:
    inside = [f"inside_{b.id}" for b in GUARD_BANDS] + ["inside_all"]
    if hourly.height:
        shares = hourly.group_by("arm").agg(
            *((100.0 * pl.col(c).cast(pl.Float64).mean()).alias(c) for c in inside),
            *((100.0 * pl.col(c).is_not_null().mean()).alias(f"n:{c}") for c in inside),
        )
        per_hour = (
            hourly.group_by("arm", "hour")
            .agg(
                *(pl.col(b.kpi).median().alias(f"med:{b.id}") for b in GUARD_BANDS),
                *(
                    pl.col(b.kpi).quantile(_tail_q(b), "equiprobable").alias(f"tail:{b.id}")
                    for b in GUARD_BANDS
                ),
                (100.0 * pl.col("inside_all").cast(pl.Float64).mean()).alias("share:all"),
            )
            .sort("arm", "hour")
        )
    else:
        shares = pl.DataFrame({"arm": []}, schema={"arm": pl.Utf8})
        per_hour = None
    from_frame = {row["arm"]: row for row in shares.iter_rows(named=True)}

    def share(arm: str, band_id: str) -> tuple[Any, Any]:
        """(pct from the summary, falling back to the frame; pct of area-hours with data)."""
        column = "inside_all" if band_id == "all" else f"inside_{band_id}"
        row = from_frame.get(arm, {})
        key = "guardband_pass_pct" if band_id == "all" else None
        stated = dig(summary, f"agents_{arm}", *((key,) if key else ("band_pass_pct", band_id)))
        derived = row.get(column)
        if _differs(stated, derived, 0.05):
            checks.append(
                f"share of area-hours inside {band_id!r} with agents {arm}: summary.json says "
                f"{fmt_pct(stated, 2)}, the hourly frame gives {fmt_pct(derived, 2)}"
            )
        return (derived if is_missing(stated) else stated), row.get(f"n:{column}")

    bands: list[BandView] = []
    share_rows: list[dict[str, Any]] = []
    for band in (*GUARD_BANDS, None):
        band_id = band.id if band else "all"
        (p_on, n_on), (p_off, n_off) = share("on", band_id), share("off", band_id)
        lift = None if is_missing(p_on) or is_missing(p_off) else float(p_on) - float(p_off)
        label = band.doc if band else "all guard-bands"
        paired = _paired(hourly, band_id)
        share_rows.append(
            {"id": band_id, "label": label, "on": p_on, "off": p_off, "lift": fmt_pp(lift),
             "pass_on": fmt_pct(p_on), "pass_off": fmt_pct(p_off),
             "with_data_on": fmt_pct(n_on), "with_data_off": fmt_pct(n_off),
             "ci": fmt_ci(paired.get("ci95")),
             "areas": fmt_better_worse(paired)}
        )  # fmt: skip
        if band is None:
            continue
        kdef = KPIS.get(band.kpi)
        bands.append(
            BandView(
                id=band.id,
                title=kdef.title if kdef else band.kpi,
                doc=band.doc,
                kpi=band.kpi,
                tail=f"P{round(100 * _tail_q(band))}",
                better="lower" if band.lower_is_better else "higher",
                svg=(
                    charts.band_plot(
                        band, per_hour, tail_q=_tail_q(band), unit=kdef.unit if kdef else ""
                    )
                    if per_hour is not None
                    else None
                ),
                value_on=fmt_kpi(dig(summary, "agents_on", "kpis", band.kpi), band.kpi),
                value_off=fmt_kpi(dig(summary, "agents_off", "kpis", band.kpi), band.kpi),
                pass_on=fmt_pct(p_on),
                pass_off=fmt_pct(p_off),
                lift=fmt_pp(lift),
                with_data_on=fmt_pct(n_on),
                with_data_off=fmt_pct(n_off),
            )
        )
    return {
        "bands": bands,
        "share_rows": share_rows,
        "share_svg": charts.share_plot(share_rows),
        "share_time_svg": charts.share_time_plot(per_hour) if per_hour is not None else None,
    }


def _paired(hourly: pl.DataFrame, band_id: str) -> dict[str, Any]:
    """The paired-by-area difference of a band (``{}`` without both arms' rows)."""
    column = "inside_all" if band_id == "all" else f"inside_{band_id}"
    if not hourly.height or column not in hourly.columns:
        return {}
    return paired_difference(hourly, column)


# --- interventions ---------------------------------------------------------------------------


_KIND_KEYS: Final = ("count", "executed", "rejected", "timeout", "failed", "cost_usd")


def _first(value: Any, fallback: Any) -> Any:
    return fallback if is_missing(value) else value


def _verdict(mean: Any, half: float | None, better: str) -> str:
    """``improved`` or ``worsened`` when the interval excludes 0, else ``unclear``."""
    if half is None or is_missing(mean) or not better:
        return "unclear"
    lo, hi = float(mean) - half, float(mean) + half
    if lo > 0 or hi < 0:
        return "improved" if (lo > 0) == (better == "higher") else "worsened"
    return "unclear"


def _better(kpi_id: Any) -> str:
    kdef = KPIS.get(kpi_id) if isinstance(kpi_id, str) else None
    return "" if kdef is None else ("higher" if kdef.higher_is_better else "lower")


def _interventions_section(
    summary: Mapping[str, Any], frame: pl.DataFrame, checks: list[str]
) -> dict[str, Any]:
    by_kind: Mapping[str, Any] = dig(summary, "interventions", "by_kind") or {}
    stats: dict[str, dict[str, Any]] = {}
    if frame.height:
        agg = frame.group_by("kind").agg(
            pl.len().alias("count"),
            *((pl.col("status") == s).sum().alias(s) for s in STATUS_COLOURS),
            pl.col("cost_usd").sum().alias("cost_usd"),
            pl.col("tool_name").drop_nulls().unique().sort().str.join(", ").alias("tools"),
            pl.col("outcome_kpi").drop_nulls().mode().sort().first().alias("outcome_kpi"),
            pl.col("outcome_delta").count().alias("measured"),
            pl.col("outcome_delta").mean().alias("mean"),
            pl.col("outcome_delta").std().alias("std"),
        )
        stats = {row["kind"]: row for row in agg.iter_rows(named=True)}
    total = dig(summary, "interventions", "total")
    if _differs(total, frame.height, 0):
        checks.append(
            f"interventions: summary.json says {total}, the frame has {frame.height} rows"
        )
    kinds = sorted(set(by_kind) | set(stats), key=lambda k: (-stats.get(k, {}).get("count", 0), k))
    rows: list[KindView] = []
    for kind in kinds:
        stated, row = by_kind.get(kind, {}), stats.get(kind, {})
        for key in (*_KIND_KEYS, "mean_outcome_delta"):
            tolerance = {"cost_usd": 0.005, "mean_outcome_delta": 1e-6}.get(key, 0.0)
            derived = row.get("mean" if key == "mean_outcome_delta" else key)
            if _differs(dig(stated, key), derived, tolerance):
                checks.append(
                    f"interventions of kind {kind!r}, {key}: summary.json says "
                    f"{dig(stated, key)}, the frame gives {derived}"
                )
        n: int = row.get("measured", 0)
        mean: Any = row.get("mean")
        std: Any = row.get("std")
        half = None if n < 2 or is_missing(std) else 1.96 * float(std) / math.sqrt(n)
        pick = {key: _first(dig(stated, key), row.get(key)) for key in _KIND_KEYS}
        pick["mean_outcome_delta"] = _first(dig(stated, "mean_outcome_delta"), mean)
        rows.append(
            KindView(
                kind=kind,
                tools=row.get("tools") or "",
                count=fmt_num(pick["count"]),
                executed=fmt_num(pick["executed"]),
                rejected=fmt_num(pick["rejected"]),
                timeout=fmt_num(pick["timeout"]),
                failed=fmt_num(pick["failed"]),
                cost=fmt_usd(pick["cost_usd"]),
                outcome_kpi=row.get("outcome_kpi") or "",
                better=_better(row.get("outcome_kpi")),
                measured=fmt_num(n),
                mean_delta=fmt_num(pick["mean_outcome_delta"], 2),
                interval="n/a" if half is None else f"[{mean - half:,.2f}, {mean + half:,.2f}]",
                verdict=_verdict(mean, half, _better(row.get("outcome_kpi"))),
            )
        )
    return {
        "kind_rows": rows,
        "interventions_total": fmt_num(total if not is_missing(total) else frame.height),
        "kinds_svg": (
            charts.kinds_plot(
                [k for k in kinds if k in stats],
                stats,
                cost_labels=[fmt_usd(stats[k]["cost_usd"]) for k in kinds if k in stats],
            )
            if stats
            else None
        ),
        "daily_svg": charts.daily_plot(frame) if frame.height else None,
        "outcomes_svg": charts.outcomes_plot(
            frame,
            stats,
            titles={
                k: f"{k}\n{s['outcome_kpi'] or 'outcome'}"
                + (f" ({_better(s['outcome_kpi'])} is better)" if _better(s["outcome_kpi"]) else "")
                for k, s in stats.items()
            },
        ),
    }


# --- approvals and control plane ----------------------------------------------------------------


def _approvals_section(
    summary: Mapping[str, Any], frame: pl.DataFrame, checks: list[str]
) -> dict[str, Any]:
    counts: dict[str, int] = dict.fromkeys(DECISION_COLOURS, 0)
    tools: list[dict[str, str]] = []
    svg = None
    if frame.height:
        for decision, n in frame.group_by("decision").len().iter_rows():
            counts[str(decision)] = int(n)
        per_tool = (
            frame.group_by("tool_name")
            .agg(
                pl.len().alias("gates"),
                *((pl.col("decision") == d).sum().alias(d) for d in DECISION_COLOURS),
                pl.col("latency_min").median().alias("median"),
            )
            .sort("gates", "tool_name", descending=[True, False])
        )
        tools = [
            {k: fmt_num(v, 1) if k == "median" else (v if k == "tool_name" else fmt_num(v))
             for k, v in row.items()}
            for row in per_tool.iter_rows(named=True)
        ]  # fmt: skip
        svg = charts.latency_plot(frame)
    cards = []
    for decision, title in (("approved", "approved"), ("rejected", "rejected"),
                            ("timeout", "timed out"), ("pending", "pending")):  # fmt: skip
        stated = dig(summary, "approvals", decision)
        if _differs(stated, counts[decision], 0):
            checks.append(
                f"approvals {decision}: summary.json says {stated}, the frame has "
                f"{counts[decision]}"
            )
        value = counts[decision] if is_missing(stated) else stated
        cards.append({"id": decision, "title": title, "value": fmt_num(value)})
    return {
        "approval_cards": cards,
        "approval_gates": fmt_num(frame.height),
        "median_latency": fmt_num(dig(summary, "approvals", "median_latency_min"), 1),
        "approval_tools": tools,
        "latency_svg": svg,
    }
