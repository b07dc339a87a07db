"""Print the simulator's calibration table: each target beside the simulated value.

Run: .venv/bin/python bench/calibrate_sim.py [--areas 100] [--days 7] [--seed 0]
"""

from __future__ import annotations

import argparse

import polars as pl
import pyarrow as pa

from tailguard.demo.run import hourly_rows
from tailguard.metrics import ScorecardEngine
from tailguard.rules import GUARD_BANDS
from tailguard.sim import NetworkConfig, Simulator
from tailguard.sim.measure import network_summary


def band_shares(sim: Simulator, days: int, every: int = 3) -> pl.DataFrame:
    """Share of area-hours inside each guard-band over ``days`` more days (no agents).

    The first week warms the 7-day window; then a scorecard every ``every`` hours.
    """
    engine = ScorecardEngine()
    rows = []
    for h in range((7 + days) * 24):
        engine.ingest(sim.step())
        if h >= 7 * 24 and h % every == 0:
            rows.append(hourly_rows(engine.scorecard(sim.now), "off", sim.now))
    frame = pl.concat(rows)
    cols = [f"inside_{b.id}" for b in GUARD_BANDS if b.kind == "threshold"] + ["inside_all"]
    return frame.select([pl.col(c).cast(pl.Float64).mean().mul(100).round(1) for c in cols])


def main() -> None:
    """Simulate, measure and print the table (Markdown)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--areas", type=int, default=100)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--band-areas", type=int, default=100, help="areas of the band run")
    parser.add_argument("--band-days", type=int, default=7, help="days after a warm-up week")
    args = parser.parse_args()
    sim = Simulator(NetworkConfig(areas=args.areas, seed=args.seed))
    table = pa.concat_tables(list(sim.run(args.days * 24)))
    s = network_summary(table, float(args.days))
    q = sim.evaluation().quality()
    failed = float((q["visits"] * (1 - q["true_ftf_pct"] / 100)).sum())
    parts_share = 100.0 * float(q["parts_missing"].sum()) / max(failed, 1.0)
    techs = int(sim.areas["n_techs"].sum())
    rows = [
        ("first-time fix % (job.completed rows)", "~77", s["ftf_pct"]),
        ("FTF % of areas, P10 / P90", "bottom ~60, top ~88",
         f"{s['ftf_pct_area_p10']} / {s['ftf_pct_area_p90']}"),
        ("missing parts, % of failed visits", "~50", round(parts_share, 1)),
        ("recall visits, % of jobs", "2-18 by tech", s["recall_visit_pct"]),
        ("jobs per tech per working day", "4-7", s["jobs_per_tech_day"]),
        ("mean ticket (USD)", "175-235", s["mean_ticket_usd"]),
        ("NPS surveys per completed job, %", "~33", s["nps_response_pct"]),
        ("lateness P90, network (min)", "long right tail", s["lateness_p90_min"]),
        ("weekly earnings P10, median area (USD)", "~600-700 band",
         s["earnings_p10_week_median_area"]),
        ("weekly earnings P50, median area (USD)", "-", s["earnings_p50_week_median_area"]),
        ("tech churn, annualised %", "~20", round(100.0 * s["churned_techs"] / techs * 365 / args.days, 1)),
        ("areas with earnings P10 < $600", "some", s["areas_earnings_p10_below_600"]),
        ("areas with lateness P90 > 30 min", "some", s["areas_late_p90_over_30"]),
        ("areas with NPS P10 < 5", "some", s["areas_nps_p10_below_5"]),
        ("areas with recall P90 > 15 %", "some", s["areas_recall_p90_over_15"]),
        ("areas with parts lead P95 > 5 d", "some", s["areas_lead_p95_over_5"]),
    ]  # fmt: skip
    print(f"areas={args.areas} days={args.days} seed={args.seed} events={s['events']:,}")
    print("| figure | target | simulated |")
    print("|---|---|---|")
    for name, target, value in rows:
        print(f"| {name} | {target} | {value} |")
    bands = band_shares(
        Simulator(NetworkConfig(areas=args.band_areas, seed=args.seed)), args.band_days
    )
    print()
    print(
        f"Share of area-hours inside each guard-band, no agents ({args.band_areas} areas, "
        f"{args.band_days} days after a warm-up week, every 3 h):"
    )
    print("| band | % of area-hours inside |")
    print("|---|---|")
    for name, value in bands.row(0, named=True).items():
        print(f"| {name.removeprefix('inside_')} | {value} |")


if __name__ == "__main__":
    main()
