"""Benchmark the scorecard state held per area (issue 19: at most 0.25 MiB per area at 4,000).

Run: .venv/bin/python bench/bench_state.py [--areas 4000] [--days 9] [--seed 0]

Streams ``--days`` simulated days and ``--hours`` hours of the simulator's network (default 9: the engine's retained
window of 7 + 2 days is full) into one :class:`ScorecardEngine` an hour at a time, asks for the
scorecard at every simulated midnight (the daily roll-ups are built as the tick builds them) and
for the scorecard and the three drill-downs on each of the last ``--tick-hours`` hours, as the
hourly tick does. It then prints ``ScorecardEngine.nbytes()`` per area, part by part, beside the
baseline measured in the same run: the Arrow size of the raw events the engine retains (the
same hours, as the simulator produced them), with the ratio of the two, the extrapolation to
40,000 areas, the process's peak RSS, and the merged-window caches that ``nbytes()`` does not
count (the whole days merged once a day, the window merged once an hour).
"""

from __future__ import annotations

import argparse
import resource
import time
from collections import deque
from datetime import timedelta

from tailguard.metrics.engine import ScorecardEngine
from tailguard.sim import NetworkConfig, Simulator

MIB = 2**20


def cache_bytes(engine: ScorecardEngine) -> int:
    """The merged-window caches ``nbytes()`` leaves out: the merged whole days, and the merged
    window's frames other than its values (those are chunks of the days' and hours' values)."""
    total = 0
    days = engine._days_cache
    if days is not None:
        total += days[1].nbytes()
    window = engine._window_cache
    if window is not None:
        merged = window[1]
        total += sum(
            int(f.estimated_size()) for f in (merged.counts, merged.techs, merged.zips, merged.skus)
        )
    return total


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--areas", type=int, default=4000)
    ap.add_argument("--days", type=int, default=9, help="simulated days streamed in")
    ap.add_argument("--hours", type=int, default=12, help="hours streamed after the last day")
    ap.add_argument("--tick-hours", type=int, default=3, help="hourly ticks at the end")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    config = NetworkConfig(areas=args.areas, seed=args.seed)
    sim = Simulator(config)
    engine = ScorecardEngine(7)
    retain = 24 * (engine.window_days + 2)
    raw: deque[int] = deque(maxlen=retain)
    total = 24 * args.days + args.hours
    t0 = time.perf_counter()
    n_events = 0
    tick_cpu = 0.0
    for i, hour in enumerate(sim.run(total)):
        c0 = time.process_time()
        engine.ingest(hour)
        raw.append(hour.nbytes)
        n_events += hour.num_rows
        as_of = config.start + timedelta(hours=i + 1)
        if (i + 1) % 24 == 0 or i >= total - args.tick_hours:
            engine.scorecard(as_of)
        if i >= total - args.tick_hours:
            for unit in ("tech", "zip", "sku"):
                engine.units(as_of, unit)  # type: ignore[arg-type]
            tick_cpu += time.process_time() - c0
        if (i + 1) % 24 == 0:
            print(f"day {(i + 1) // 24}: {n_events:,} events, {time.perf_counter() - t0:.0f} s")
    mem = engine.nbytes()
    state = sum(mem.values())
    base = sum(raw)
    per_area = state / args.areas / MIB
    print(
        "state per area: "
        + ", ".join(f"{k} {v / args.areas / 1024:.1f} KiB" for k, v in mem.items())
        + f"; total {per_area:.3f} MiB (target <= 0.25)"
    )
    caches = cache_bytes(engine)
    print(
        f"merged-window caches (not in nbytes): {caches / args.areas / 1024:.1f} KiB per area; "
        f"state with them {(state + caches) / args.areas / MIB:.3f} MiB per area"
    )
    print(
        f"baseline, raw events retained ({len(raw)} h, Arrow): {base / args.areas / MIB:.3f} MiB "
        f"per area; ratio state / raw {state / base:.3f}"
    )
    print(
        f"extrapolated to 40,000 areas: {per_area * 40_000 / 1024:.1f} GiB; "
        f"peak RSS of this run {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GiB; "
        f"duplicates {engine.duplicates}, expired {engine.expired}, ingested {engine.ingested:,}"
    )
    print(
        f"CPU per hourly tick (ingest, scorecard, three drill-downs; mean of the last "
        f"{args.tick_hours}): {tick_cpu / max(args.tick_hours, 1) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
