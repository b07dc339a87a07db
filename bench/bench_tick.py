"""Benchmark: the hourly tick of every area agent at network scale, and where its time goes.

Warms a network up for a week (scorecards only), then runs ``--hours`` agent ticks with the
simulated approver and prints the tick's p50/p95/max (scorecard, rules, gates, choice, governed
execution and ledger writes), the whole simulated hour's (the tick plus the approver's three
inbox polls, which decide gates one by one as people would) and the time per phase, next to a
baseline measured in the same run: the scorecard alone for the same hours (the tick's floor:
what a network costs with no agent logic, no ledger, no control plane).

    .venv/bin/python bench/bench_tick.py --areas 400 --hours 24
"""

from __future__ import annotations

import argparse
import copy
import resource
import statistics
import tempfile
import time
from pathlib import Path

from tailguard.agents.world import build_world
from tailguard.metrics import ScorecardEngine
from tailguard.sim import NetworkConfig, Simulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=400)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    sim = Simulator(NetworkConfig(areas=args.areas, seed=args.seed))
    engine = ScorecardEngine()
    t = time.perf_counter()
    for _ in range(7 * 24):
        engine.ingest(sim.step())
    print(f"warm-up: {args.areas} areas x 7 days in {time.perf_counter() - t:.1f} s")
    base_sim, base_engine = copy.deepcopy(sim), copy.deepcopy(engine)

    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(sim, engine, Path(tmp), seed=args.seed)
        ticks: list[float] = []
        hours: list[float] = []
        phases: dict[str, float] = {}
        decisions = 0
        for _ in range(args.hours):
            a = time.perf_counter()
            report = world.hour()
            hours.append(time.perf_counter() - a)
            ticks.append(sum(report.seconds.values()))
            decisions += report.decisions
            for k, v in report.seconds.items():
                phases[k] = phases.get(k, 0.0) + v
        records = world.ledger.count()
        world.close()

    base: list[float] = []
    for _ in range(args.hours):
        events = base_sim.step()
        a = time.perf_counter()
        base_engine.ingest(events)
        base_engine.scorecard(base_sim.now)
        base.append(time.perf_counter() - a)

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    p50, b50 = statistics.median(ticks), statistics.median(base)
    p95 = sorted(ticks)[int(0.95 * (len(ticks) - 1))]
    print(f"areas={args.areas} hours={args.hours} decisions={decisions} ledger_records={records}")
    print(f"tick p50 {p50:.3f} s  p95 {p95:.3f} s  max {max(ticks):.3f} s")
    h95 = sorted(hours)[int(0.95 * (len(hours) - 1))]
    print(
        f"hour (tick + approver polls) p50 {statistics.median(hours):.3f} s  p95 {h95:.3f} s  "
        f"max {max(hours):.3f} s"
    )
    print(f"baseline (scorecard only) p50 {b50:.3f} s  ratio tick/baseline {p50 / b50:.1f}x")
    total = sum(phases.values())
    polls = sum(hours) - total
    for k, v in sorted(phases.items(), key=lambda kv: -kv[1]):
        print(f"  {k:<10} {v:8.2f} s  {100 * v / total:5.1f} % of the tick")
    print(f"  approver polls (outside the tick) {polls:.2f} s")
    print(f"peak RSS {rss:.2f} GiB")


if __name__ == "__main__":
    main()
