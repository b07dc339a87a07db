"""Benchmark: the whole weekly cycle for a simulated network (default 400 areas).

Usage: .venv/bin/python bench/bench_weekly.py [--areas 400] [--data DIR] [--workers 2] [--no-pdf]

Setup (cached in --data, default /tmp/tailguard-bench-weekly-<areas>): two simulated weeks fed
hour by hour to a ScorecardEngine and a UnitMoney, a pulse row for every area every 6 hours,
a week snapshot at each week's end (what the demo does), and the raw job.completed / cx.survey
events of those weeks in Parquet for the baseline.

Measured: ``run_week`` on a fresh copy of the ledger: load + compute (benchmark, packs,
playbooks, OKRs), ledger commit, rendering (figures, HTML, PDFs; wall time with ``--workers``
processes, plus the CPU seconds of each part summed over workers) and the index page.

Baseline, same run: a naive per-area Polars recomputation from the raw events of what the
compute phase reads from the snapshots (per-tech earnings, NPS, first-time fix and GP, per-zip
GP and lateness, per-job parts-cost deltas, this week and last), one ``filter`` per area.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import timedelta
from pathlib import Path

import polars as pl


def setup(data: Path, areas: int) -> list[str]:
    """Simulate two weeks into ``data`` unless already there; returns the week ends."""
    marker = data / "bench.json"
    if marker.is_file():
        return list(json.loads(marker.read_text())["ends"])
    from tailguard.clock import format_ts
    from tailguard.ledger import Ledger
    from tailguard.metrics import ScorecardEngine
    from tailguard.pulse import PulseStore
    from tailguard.sim import NetworkConfig, Simulator
    from tailguard.weekly import UnitMoney, snapshot_week

    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    t0 = time.perf_counter()
    sim = Simulator(NetworkConfig(areas=areas, seed=0))
    engine = ScorecardEngine(7)
    money = UnitMoney()
    Ledger.open(f"sqlite:///{data / 'ledger.db'}").close()
    raw: list[pl.DataFrame] = []
    ends = []
    snapshot_s: list[float] = []
    keep = ["type", "ts", "area_id", "tech_id", "zip", "job_code", "window_end", "arrived_at",
            "revenue", "parts_cost", "tech_pay", "first_time_fix", "nps"]  # fmt: skip
    with PulseStore.open(f"sqlite:///{data / 'pulse.db'}") as pulse:
        for h in range(14 * 24):
            batch = sim.step()
            engine.ingest(batch)
            money.ingest(batch)
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            raw.append(
                frame.filter(pl.col("type").is_in(["job.completed", "cx.survey"])).select(keep)
            )
            now = sim.now
            if (h + 1) % 6 == 0:
                pulse.write(now, engine.scorecard(now))
            if (h + 1) % (7 * 24) == 0:
                t_snap = time.perf_counter()
                snapshot_week(engine, now, data, money=money)
                snapshot_s.append(time.perf_counter() - t_snap)
                ends.append(format_ts(now))
            if (h + 1) % 24 == 0:
                print(
                    f"  setup: day {(h + 1) // 24} of 14, {time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
    pl.concat(raw).write_parquet(data / "raw.parquet")
    marker.write_text(
        json.dumps(
            {
                "ends": ends,
                "areas": areas,
                "setup_s": time.perf_counter() - t0,
                "snapshot_s": snapshot_s,
            }
        )
    )
    return ends


def naive_baseline(raw: pl.DataFrame, as_of_text: str) -> float:
    """Per area, filter the raw events and recompute the per-unit aggregates of two weeks."""
    from tailguard.clock import parse_ts

    as_of = parse_ts(as_of_text)
    t0 = time.perf_counter()
    for area in raw["area_id"].unique().sort().to_list():
        mine = raw.filter(pl.col("area_id") == area)
        for end in (as_of - timedelta(days=7), as_of):
            week = mine.filter((pl.col("ts") > end - timedelta(days=7)) & (pl.col("ts") <= end))
            jobs = week.filter(pl.col("type") == "job.completed")
            gp = pl.col("revenue") - pl.col("parts_cost") - pl.col("tech_pay")
            jobs.group_by("tech_id").agg(
                pl.col("tech_pay").sum(), pl.len(), pl.col("first_time_fix").mean(), gp.sum()
            )
            week.filter(pl.col("type") == "cx.survey").group_by("tech_id").agg(pl.col("nps").mean())
            late = ((pl.col("arrived_at") - pl.col("window_end")).dt.total_seconds() / 60).clip(0)
            jobs.group_by("zip").agg(gp.sum(), late.quantile(0.9, "higher"), pl.len())
            jobs.with_columns(pl.col("parts_cost").median().over("job_code").alias("m")).select(
                100 * (pl.col("parts_cost") / pl.col("m") - 1)
            )
    return time.perf_counter() - t0


def main() -> None:
    """Run the benchmark and print its figures."""
    from tailguard.clock import parse_ts
    from tailguard.weekly import run_week

    ap = argparse.ArgumentParser()
    ap.add_argument("--areas", type=int, default=400)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-pdf", action="store_true")
    args = ap.parse_args()
    data = args.data or Path(f"/tmp/tailguard-bench-weekly-{args.areas}")
    ends = setup(data, args.areas)
    run_dir = data / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    shutil.copy(data / "ledger.db", run_dir / "ledger.db")
    out = data / "out"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    result = run_week(
        f"sqlite:///{run_dir / 'ledger.db'}",
        parse_ts(ends[-1]),
        out,
        workers=args.workers,
        pulse_url=f"sqlite:///{data / 'pulse.db'}",
        weeks_dir=data / "weeks",
        pdf=not args.no_pdf,
    )
    wall = time.perf_counter() - t0
    t = result.timings
    compute = t["load"] + t["compute"]
    raw = pl.read_parquet(data / "raw.parquet")
    base = naive_baseline(raw, ends[-1])
    pdfs = sum(1 for _ in out.glob("*/*.pdf"))
    print(json.dumps({"areas": len(result.areas), "pdfs": pdfs, "pdf_errors": len(result.pdf_errors),
                      "timings_s": {k: round(v, 2) for k, v in t.items()}}, indent=1))  # fmt: skip
    print(f"whole cycle wall time        {wall:8.1f} s  (target < 120 s)")
    print(f"  load + compute (1 process) {compute:8.1f} s")
    print(f"  ledger commit              {t['commit']:8.2f} s  ({result.okr_records} okr records)")
    print(f"  render ({args.workers} processes, wall)  {t['render']:8.1f} s")
    print(f"    CPU: plots {t['render_plot_cpu']:.1f} s, HTML/JSON {t['render_html_cpu']:.1f} s, "
          f"PDF {t['render_pdf_cpu']:.1f} s")  # fmt: skip
    print(f"  index                      {t['index']:8.2f} s")
    snap = json.loads((data / "bench.json").read_text()).get("snapshot_s", [])
    if snap:
        print(f"snapshot_week at the week's end (demo side) {snap[-1]:8.2f} s")
    print(f"baseline: naive per-area Polars from raw events {base:8.1f} s")
    print(f"ratio load (reading snapshots) / baseline       {t['load'] / base:8.3f}")
    print(f"ratio load + compute (packs, playbooks, OKRs) / baseline {compute / base:8.3f}")


if __name__ == "__main__":
    main()
