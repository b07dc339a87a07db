"""Benchmark the hourly scorecard tick, ingest throughput and partial memory.

Run: .venv/bin/python bench/bench_scorecard.py [--areas 400] [--days 7] [--ticks 3]

On the simulator's network (default 400 areas) it simulates ``days`` days plus ``ticks`` hours,
then measures, in the same run:

1. the hourly tick (ingest one hour, update partials, merge the window, compute every KPI,
   evaluate the built-in rules, write the SQLite pulse table) beside Polars computing the same
   KPIs exactly from the raw window already in memory (``exact_scorecard``);
2. ingest throughput from Parquet and JSON Lines (validated read + engine ingest) beside
   Polars alone reading the same file;
3. memory held by the window's partials, extrapolated linearly to 40,000 areas.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa

from tailguard.events import read_events, write_events
from tailguard.metrics.engine import ScorecardEngine
from tailguard.metrics.exact import exact_scorecard
from tailguard.pulse import PulseStore
from tailguard.rules import RuleEngine, builtin_rules
from tailguard.sim import NetworkConfig, Simulator


def _t(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--areas", type=int, default=400)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--ticks", type=int, default=3)
    ap.add_argument("--jsonl-hours", type=int, default=24, help="hours written to the JSONL file")
    args = ap.parse_args()

    config = NetworkConfig(areas=args.areas, seed=0)
    sim = Simulator(config)
    warm_hours = 24 * args.days
    sim_s, hours = _t(lambda: list(sim.run(warm_hours + args.ticks)))
    n_week = sum(h.num_rows for h in hours[:warm_hours])
    print(
        f"network: {args.areas} areas, {n_week:,} events in {args.days} days (simulated in {sim_s:.1f} s)"
    )

    engine = ScorecardEngine(args.days)
    ingest_s, _ = _t(lambda: [engine.ingest(h) for h in hours[:warm_hours]])
    as_of = config.start + timedelta(hours=warm_hours)
    first_s, _ = _t(lambda: engine.scorecard(as_of))
    print(
        f"warm-up: in-memory ingest of the week {ingest_s:.2f} s ({n_week / ingest_s:,.0f} ev/s); first scorecard (daily roll-ups) {first_s:.2f} s"
    )

    rules = RuleEngine(builtin_rules())
    tmp = Path(tempfile.mkdtemp(prefix="tg-bench-"))
    pulse = PulseStore.open(f"sqlite:///{tmp / 'pulse.db'}")
    window: list[pa.Table] = list(hours[warm_hours - 24 * args.days : warm_hours])
    ticks: list[float] = []
    exact: list[float] = []
    parts: dict[str, list[float]] = {"ingest": [], "scorecard": [], "rules": [], "pulse": []}
    for k in range(args.ticks):
        hour = hours[warm_hours + k]
        as_of = config.start + timedelta(hours=warm_hours + k + 1)
        t0 = time.perf_counter()
        engine.ingest(hour)
        t1 = time.perf_counter()
        sc = engine.scorecard(as_of)
        t2 = time.perf_counter()
        alerts = rules.evaluate(sc, as_of)
        t3 = time.perf_counter()
        pulse.write(as_of, sc)
        t4 = time.perf_counter()
        ticks.append(t4 - t0)
        for name, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            parts[name].append(dt)
        window = [*window[1:], hour]
        raw = pl.from_arrow(pa.concat_tables(window))
        assert isinstance(raw, pl.DataFrame)
        ex_s, want = _t(lambda raw=raw, as_of=as_of: exact_scorecard(raw, as_of, args.days))
        exact.append(ex_s)
        diff = (
            (sc.drop("area_id") - want.drop("area_id"))
            .select(pl.all().abs().max())
            .max_horizontal()
            .item()
        )
        print(
            f"tick {k + 1}: {ticks[-1] * 1000:.0f} ms ({len(alerts)} alerts); exact Polars {ex_s * 1000:.0f} ms on {raw.height:,} raw events; max |diff| {diff:.2e}"
        )
    tick = statistics.median(ticks)
    base = statistics.median(exact)
    print(
        "tick breakdown (median ms): "
        + ", ".join(f"{k} {statistics.median(v) * 1000:.1f}" for k, v in parts.items())
    )
    print(
        f"TICK median {tick * 1000:.0f} ms vs exact Polars {base * 1000:.0f} ms: ratio {tick / base:.3f} (target <= 0.2)"
    )

    mem = engine.nbytes()
    total = sum(mem.values())
    print(
        "memory of partials: "
        + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in mem.items())
        + f"; total {total / 2**20:.1f} MiB for {args.areas} areas -> {total / args.areas * 40_000 / 2**30:.2f} GiB at 40,000 areas"
    )

    week = pa.concat_tables(hours[:warm_hours])
    pq = tmp / "week.parquet"
    write_events(week, pq)
    n_js = sum(h.num_rows for h in hours[warm_hours - args.jsonl_hours : warm_hours])
    js = tmp / "day.jsonl"
    write_events(pa.concat_tables(hours[warm_hours - args.jsonl_hours : warm_hours]), js)
    for path, n in ((pq, week.num_rows), (js, n_js)):
        e2 = ScorecardEngine(args.days)
        ours, _ = _t(lambda path=path, e2=e2: [e2.ingest(b) for b in read_events(path)])
        if path.suffix == ".parquet":
            polars_s, _ = _t(lambda path=path: pl.read_parquet(path))
        else:
            polars_s, _ = _t(lambda path=path: pl.read_ndjson(path, infer_schema_length=None))
        print(
            f"INGEST {path.suffix}: {n:,} events, {n / ours:,.0f} ev/s (read+validate+ingest {ours:.2f} s) "
            f"vs Polars read alone {polars_s:.2f} s ({n / polars_s:,.0f} ev/s): ratio {ours / polars_s:.1f}x"
        )
    pulse.close()


if __name__ == "__main__":
    main()
