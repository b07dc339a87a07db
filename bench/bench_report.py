"""Report benchmark: ``render_report`` on demo-sized frames, beside writing them to Parquet.

Run: ``.venv/bin/python bench/bench_report.py`` (about half a minute on 2 cores). Options:
``--areas N`` (400), ``--hours H`` (336 = 2 weeks), ``--interventions N`` (20,000),
``--out DIR`` (``/tmp/tailguard-report-bench``), ``--repeat N`` (best of N, default 3),
``--screenshot PNG``: also take a headless Chromium screenshot (1280 x 4000) of the report when
``chromium`` is installed; ``docs/screenshots/demo-report.png`` is made with it.

The frames are synthetic but shaped as the demo writes them (module docstring of
``tailguard.demo.report``): 2 arms x areas x hours of guard-band KPIs with nulls, the inside
flags, interventions of six kinds with measured outcomes, approval gates, and control-plane
KPIs from a small real SQLite ledger. The baseline is ``pl.DataFrame.write_parquet`` of the
same four frames into the same directory: a report that costs a few Parquet writes is cheap.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from PIL import Image

from tailguard.clock import format_ts
from tailguard.demo.report import render_report
from tailguard.rules.guardbands import GUARD_BANDS

START = datetime(2026, 1, 5, tzinfo=UTC)
# (centre when agents are off, spread across areas, improvement when on, null share)
SHAPES: dict[str, tuple[float, float, float, float]] = {
    "lateness_p90_min": (22.0, 6.0, -4.0, 0.01),
    "nps_p10": (7.2, 0.5, 0.25, 0.03),
    "earnings_p10_week": (720.0, 60.0, 25.0, 0.0),
    "churn_90d_pct": (6.5, 2.0, -0.4, 0.0),
    "recall_pct_p90": (8.5, 2.5, -0.6, 0.10),
    "parts_cost_delta_p90_pct": (13.0, 4.0, -0.8, 0.02),
    "jobs_per_week": (260.0, 60.0, 4.0, 0.0),
    "gp_pct": (19.0, 3.0, 0.6, 0.0),
}
KINDS = {
    "surge_shift_offer": ("corey_offer_surge_shift", "earnings_p10_week", 35.0, 60.0, 12.0),
    "routing_traffic_boost": ("roster_boost_traffic_weight", "lateness_p90_min", 0.0, -3.0, 6.0),
    "apology_credit": ("cx_apology_credit", "nps_p10", 15.0, 0.3, 1.0),
    "locker_buffer": ("parts_locker_buffer", "parts_lead_time_p95_days", 40.0, -0.8, 1.2),
    "master_tech_shadow": ("master_tech_shadow", "recall_pct_p90", 80.0, -1.5, 3.0),
    "surge_pay_window": ("surge_pay_window", "jobs_per_week", 120.0, 6.0, 10.0),
}


def synthetic_hourly(areas: int, hours: int, seed: int = 0) -> pl.DataFrame:
    """Two arms x areas x hours of guard-band KPIs, inside flags included."""
    rng = np.random.default_rng(seed)
    n = areas * hours
    area_ids = np.repeat([f"A{i:04d}" for i in range(areas)], hours)
    hour_index = np.tile(np.arange(hours), areas)
    frames = []
    for arm in ("on", "off"):
        cols: dict[str, Any] = {
            "arm": np.full(n, arm),
            "hour": [START + timedelta(hours=int(h)) for h in range(hours)] * areas,
            "area_id": area_ids,
        }
        ramp = np.minimum(hour_index / (hours / 2), 1.0) if arm == "on" else 0.0
        for k, (kpi, (centre, spread, gain, nulls)) in enumerate(SHAPES.items()):
            # The same area levels in both arms (common random numbers), one stream per KPI.
            area_level = np.repeat(np.random.default_rng(100 + k).normal(0, spread, areas), hours)
            daily = 0.15 * spread * np.sin(2 * np.pi * hour_index / 24)
            values = centre + area_level + daily + gain * ramp + rng.normal(0, 0.1 * spread, n)
            values[rng.random(n) < nulls] = np.nan
            cols[kpi] = values
        frames.append(pl.DataFrame(cols).with_columns(pl.col(k).fill_nan(None) for k in SHAPES))
    frame = pl.concat(frames).with_columns(pl.col("hour").dt.replace_time_zone("UTC"))
    return add_inside_flags(frame)


def add_inside_flags(frame: pl.DataFrame) -> pl.DataFrame:
    """``inside_<band>`` (null when the KPI is null, or for the YoY band) and ``inside_all``."""
    ops = {"<": pl.Expr.lt, "<=": pl.Expr.le, ">": pl.Expr.gt, ">=": pl.Expr.ge}
    flags = []
    for band in GUARD_BANDS:
        if band.kind == "threshold":
            flags.append(
                ops[band.inside_op](pl.col(band.kpi), band.bound).alias(f"inside_{band.id}")
            )
        else:
            flags.append(pl.lit(None, pl.Boolean).alias(f"inside_{band.id}"))
    frame = frame.with_columns(flags)
    return frame.with_columns(
        pl.all_horizontal(pl.col(f"inside_{b.id}").fill_null(True) for b in GUARD_BANDS).alias(
            "inside_all"
        )
    )


def synthetic_interventions(count: int, areas: int, hours: int, seed: int = 1) -> pl.DataFrame:
    """``count`` intervention decisions of six kinds, two thirds with a measured outcome."""
    rng = np.random.default_rng(seed)
    names = list(KINDS)
    kind = np.array(names)[rng.integers(0, len(names), count)]
    status = rng.choice(
        ["executed", "pending_approval", "rejected", "timeout", "failed", "skipped"],
        size=count,
        p=[0.78, 0.02, 0.07, 0.04, 0.02, 0.07],
    )
    cost = np.array([KINDS[k][2] for k in kind]) * (status == "executed")
    measured = (status == "executed") & (rng.random(count) < 0.8)
    effect = np.array([KINDS[k][3] for k in kind])
    noise = np.array([KINDS[k][4] for k in kind])
    delta = np.where(measured, effect + rng.normal(0, 1, count) * noise, np.nan)
    decided = [START + timedelta(minutes=int(m)) for m in rng.integers(0, hours * 60, count)]
    return pl.DataFrame(
        {
            "decision_id": [f"d{i}" for i in range(count)],
            "area_id": [f"A{i:04d}" for i in rng.integers(0, areas, count)],
            "kind": kind,
            "tool_name": [KINDS[k][0] for k in kind],
            "target_type": "tech",
            "target_id": [f"T{i}" for i in rng.integers(0, 50_000, count)],
            "decided_at": decided,
            "propensity": rng.uniform(0.2, 1.0, count),
            "policy_version": "greedy-v1",
            "status": status,
            "reason": "tail rule fired",
            "cost_usd": cost,
            "outcome_kpi": np.where(measured, [KINDS[k][1] for k in kind], None),
            "outcome_delta": delta,
            "measured_at": [
                d + timedelta(hours=24) if m else None
                for d, m in zip(decided, measured, strict=True)
            ],
        }
    ).with_columns(pl.col("outcome_delta").fill_nan(None))


def synthetic_approvals(interventions: pl.DataFrame, seed: int = 2) -> pl.DataFrame:
    """One gate per money or message intervention, with the decision its status implies."""
    rng = np.random.default_rng(seed)
    gated = interventions.filter(
        pl.col("kind").is_in(["surge_shift_offer", "apology_credit", "surge_pay_window"])
        & pl.col("status").is_in(["executed", "rejected", "timeout", "pending_approval"])
    )
    decision = gated["status"].replace_strict(
        {
            "executed": "approved",
            "rejected": "rejected",
            "timeout": "timeout",
            "pending_approval": "pending",
        }
    )
    latency = np.where(decision.to_numpy() == "timeout", 240.0, rng.gamma(2.0, 12.0, gated.height))
    latency[decision.to_numpy() == "pending"] = np.nan
    return pl.DataFrame(
        {
            "gate_id": [f"g{i}" for i in range(gated.height)],
            "area_id": gated["area_id"],
            "tool_name": gated["tool_name"],
            "risk_level": "execute_high",
            "presented_at": gated["decided_at"],
            "decided_at": gated["decided_at"],
            "decision": decision,
            "decided_by": "sim-approver",
            "latency_min": latency,
        }
    ).with_columns(pl.col("latency_min").fill_nan(None))


def summary_of(
    hourly: pl.DataFrame, interventions: pl.DataFrame, approvals: pl.DataFrame, *, weeks: int
) -> dict[str, Any]:
    """The summary.json figures computed from the frames (as the demo would)."""
    arms = {}
    for arm in ("on", "off"):
        part = hourly.filter(pl.col("arm") == arm)
        last = part.filter(pl.col("hour") == part["hour"].max())
        arms[f"agents_{arm}"] = {
            "guardband_pass_pct": 100.0 * part["inside_all"].mean(),  # type: ignore[operator]
            "kpis": {k: last[k].median() for k in SHAPES},
            "band_pass_pct": {
                b.id: (
                    None
                    if part[f"inside_{b.id}"].null_count() == part.height
                    else 100.0 * part[f"inside_{b.id}"].mean()
                )  # type: ignore[operator]
                for b in GUARD_BANDS
            },
        }
    by_kind = {
        row["kind"]: {k: v for k, v in row.items() if k != "kind"}
        for row in interventions.group_by("kind")
        .agg(
            pl.len().alias("count"),
            *(
                (pl.col("status") == s).sum().alias(s)
                for s in ("executed", "rejected", "timeout", "failed")
            ),
            pl.col("cost_usd").sum(),
            pl.col("outcome_delta").mean().alias("mean_outcome_delta"),
        )
        .iter_rows(named=True)
    }
    decisions = approvals["decision"].value_counts()
    counts = dict(zip(decisions["decision"], decisions["count"], strict=True))
    return {
        "areas": hourly["area_id"].n_unique(),
        "weeks": weeks,
        "seed": 0,
        "start": format_ts(hourly["hour"].min()),  # type: ignore[arg-type]
        "end": format_ts(hourly["hour"].max() + timedelta(hours=1)),  # type: ignore[operator]
        **arms,
        "interventions": {"total": interventions.height, "by_kind": by_kind},
        "approvals": {
            **{d: counts.get(d, 0) for d in ("approved", "rejected", "timeout", "pending")},
            "bypasses": 0,
            "median_latency_min": approvals.filter(pl.col("decision") != "pending")[
                "latency_min"
            ].median(),
        },
        "ledger": {"records": 123_456, "verified": True},
        "wall_seconds": {"agents on": 181.2, "agents off": 64.0, "report": 0.0},
    }


def control_kpis_sample() -> dict[str, Any]:
    """A control-plane KPI dict of the shape ``control_plane_kpis`` returns."""
    per_tool = {
        tool: {"steps_ran": 2000, "rollback_rate": 0.01, "gates": 900, "gates_decided": 880,
               "human_override_rate": 0.08, "approval_bypass_count": 0,
               "bypasses": {"none": 0, "pending": 0, "rejected": 0, "timeout": 0}}
        for tool, *_ in KINDS.values()
    }  # fmt: skip
    overall = {
        "runs": 134_400, "runs_finished": 134_400,
        "time_to_first_action_ms": {"count": 90_000, "median": 41.0, "p90": 180.0},
        "workflow_success_rate": 0.994, "objective_met_rate": 0.61, "steps_ran": 15_600,
        "rollback_rate": 0.004, "gates": 5400, "gates_decided": 5300, "human_override_rate": 0.07,
        "approval_bypass_count": 0, "bypasses": {"none": 0, "pending": 0, "rejected": 0, "timeout": 0},
        "total_cost_usd": 0.0, "cost_per_run_usd": 0.0, "total_tokens": 0, "productive_steps": 15_500,
        "tokens_per_productive_step": 0.0,
    }  # fmt: skip
    return {"since": None, "until": None, "overall": overall, "per_role": {"area_ceo": overall},
            "per_tool": per_tool, "alerts": []}  # fmt: skip


def main() -> None:
    """Build the frames, time the report against Parquet writes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=400)
    parser.add_argument("--hours", type=int, default=336)
    parser.add_argument("--interventions", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/tailguard-report-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()

    t0 = time.perf_counter()
    hourly = synthetic_hourly(args.areas, args.hours)
    interventions = synthetic_interventions(args.interventions, args.areas, args.hours)
    approvals = synthetic_approvals(interventions)
    summary = summary_of(hourly, interventions, approvals, weeks=max(1, args.hours // 168))
    control = control_kpis_sample()
    links = [(f"Week {w}: network index", f"weeks/{w}/index.html") for w in (1, 2)]
    print(f"frames built in {time.perf_counter() - t0:.1f} s: hourly {hourly.height:,} rows, "
          f"interventions {interventions.height:,}, approvals {approvals.height:,}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)

    def parquet() -> None:
        for name, frame in (("hourly", hourly), ("interventions", interventions),
                            ("approvals", approvals)):  # fmt: skip
            frame.write_parquet(args.out / f"{name}.parquet")

    def report() -> Path:
        return render_report(args.out, summary=summary, hourly=hourly, interventions=interventions,
                             approvals=approvals, control_kpis=control, week_links=links)  # fmt: skip

    report()  # warm-up: imports, fonts, template compilation
    timings: dict[str, list[float]] = {"report": [], "parquet": []}
    for _ in range(args.repeat):
        for name, fn in (("parquet", parquet), ("report", report)):
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in timings.items()}
    path = args.out / "report.html"
    print(f"report: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    print(f"render_report best of {args.repeat}: {best['report']:.2f} s (runs: "
          + ", ".join(f"{t:.2f}" for t in timings["report"]) + ")")  # fmt: skip
    print(f"baseline write_parquet of the same frames: {best['parquet']:.2f} s")
    print(f"ratio report / parquet: {best['report'] / best['parquet']:.1f}x")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    if args.screenshot is not None:
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        if not Path(chromium).exists():
            print("no chromium: screenshot skipped", file=sys.stderr)
            return
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--hide-scrollbars",
             f"--screenshot={args.screenshot}", "--window-size=1280,4000", path.as_uri()],
            check=True, timeout=120,
        )  # fmt: skip
        # 128 colours keep the PNG small enough for the repository (docs/screenshots/).
        with Image.open(args.screenshot) as shot:
            small = shot.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        small.save(args.screenshot, optimize=True)
        print(f"screenshot: {args.screenshot} ({args.screenshot.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
