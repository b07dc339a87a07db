"""``tailguard scorecard`` as a whole process beside a plain Polars script on the same file.

Run: .venv/bin/python bench/bench_scorecard_cli.py [--events FILE] [--as-of TS] [--runs 2]

Without ``--events`` it simulates the 400-area week (``tailguard simulate --areas 400 --days 7
--seed 0``) into ``/tmp/tailguard-bench-week.parquet`` once and reuses it. Each run starts both
processes in turn (the order alternates) and measures wall time and CPU time (user + system of the
child); the figure is the median over the runs, and the ratio is ours / the
script's. The two outputs are compared value by value (identical, or the largest difference).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WEEK = Path("/tmp/tailguard-bench-week.parquet")


def _run(cmd: list[str], out: Path) -> tuple[float, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with out.open("w") as sink:
        subprocess.run(cmd, stdout=sink, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 2**20


def _values(path: Path) -> dict[tuple[str, str], float | None]:
    doc = json.loads(path.read_text())
    return {(a["area_id"], k): v for a in doc["areas"] for k, v in a["kpis"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, default=None)
    parser.add_argument("--as-of", default=None, help="default: the day after the last event")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    events = args.events or WEEK
    if args.events is None and not WEEK.exists():
        subprocess.run(
            [str(BIN / "tailguard"), "simulate", "--areas", "400", "--days", "7", "--seed", "0",
             "--out", str(WEEK), "--format", "json"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    as_of = args.as_of
    if as_of is None:
        last = pl.scan_parquet(events).select(pl.col("ts").max()).collect().item()
        day = datetime.combine(last.date() + timedelta(days=1), datetime.min.time())
        as_of = day.strftime("%Y-%m-%dT%H:%M:%SZ")
    ours_cmd = [str(BIN / "tailguard"), "scorecard", "--events", str(events), "--as-of", as_of,
                "--format", "json", "--dead-letter", "/tmp/tailguard-bench-cli.dead.jsonl"]  # fmt: skip
    base_cmd = [sys.executable, str(ROOT / "bench" / "polars_scorecard.py"), str(events), as_of]
    ours_out, base_out = (
        Path("/tmp/tailguard-bench-cli.ours.json"),
        Path("/tmp/tailguard-bench-cli.base.json"),
    )
    ours: list[tuple[float, float, float]] = []
    base: list[tuple[float, float, float]] = []
    for k in range(args.runs):
        pair = [(ours, ours_cmd, ours_out), (base, base_cmd, base_out)]
        for into, cmd, out in pair if k % 2 == 0 else pair[::-1]:
            into.append(_run(cmd, out))
    a, b = _values(ours_out), _values(base_out)
    assert a.keys() == b.keys(), "the two scorecards name different areas or KPIs"
    same = sum(1 for key in a if a[key] == b[key])
    nulls_agree = all((a[key] is None) == (b[key] is None) for key in a)
    diff = max((abs(a[k] - b[k]) for k in a if a[k] is not None and b[k] is not None), default=0)
    wall_o, wall_b = (statistics.median(x[0] for x in r) for r in (ours, base))
    cpu_o, cpu_b = (statistics.median(x[1] for x in r) for r in (ours, base))
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"events: {events} ({pl.scan_parquet(events).select(pl.len()).collect().item():,})"
          if str(events).endswith(".parquet") else f"events: {events}")  # fmt: skip
    print(f"as_of {as_of}; {args.runs} runs each; load average at the end {load}")
    print(f"tailguard scorecard  wall {wall_o:6.2f} s  cpu {cpu_o:6.2f} s")
    print(f"Polars script        wall {wall_b:6.2f} s  cpu {cpu_b:6.2f} s")
    print(f"RATIO wall {wall_o / wall_b:.2f}x  cpu {cpu_o / cpu_b:.2f}x  (target wall <= 1.5x)")
    print(
        f"values: {len(a):,}; identical {same:,}; nulls agree {nulls_agree}; "
        f"largest difference {diff:.2e}"
    )


if __name__ == "__main__":
    main()
