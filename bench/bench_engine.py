"""Benchmark: the agents' hour on each engine, and the coordinator's share of it.

Warms ``--areas`` areas up for ``--warmup-days`` (scorecards only), then runs ``--hours``
simulated hours of the area agents (``AgentWorld.hour``: the simulator, the tick, the
approver's polls) once per engine given, each from a copy of the same warmed-up network. It
prints, per engine: the hour's wall p50, the coordinator's CPU seconds per hour (the
process driving the tick; the shards' CPU is not in it), and the ratio of each to the baseline
measured in the same run (the first engine, by default ``local:1``: today's single process).
The coordinator's CPU per hour is the demo's critical path and, unlike wall time, does not
move much with other jobs on the machine. It also prints the scorecard state's bytes per area
(``ScorecardEngine.nbytes`` summed over shards). Every engine's decisions are checked equal.

    .venv/bin/python bench/bench_engine.py --areas 400 --hours 12 --engines local:1,local:2,ray:2
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from tailguard.agents.world import build_world, warm_up
from tailguard.engine import ShardedScorecards, open_engine
from tailguard.metrics import ScorecardEngine
from tailguard.sim import NetworkConfig, Simulator


def run(kind: str, shards: int, sim: Simulator, warm: list[pl.DataFrame], hours: int) -> dict:
    engine = open_engine(kind, shards=shards)
    try:
        state = engine.scorecards(prefetch=("tech", "zip", "sku"))
        for events in warm:
            state.ingest(events)
        state.scorecard(sim.now)
        with tempfile.TemporaryDirectory() as tmp:
            world = build_world(sim, state, Path(tmp), seed=7, durable=False)
            walls, cpus, decided = [], [], 0
            for _ in range(hours):
                w, c = time.perf_counter(), time.process_time()
                decided += world.hour().decisions
                walls.append(time.perf_counter() - w)
                cpus.append(time.process_time() - c)
            world.close()
        if isinstance(state, ScorecardEngine):
            nbytes = sum(state.nbytes().values())
        else:
            assert isinstance(state, ShardedScorecards)
            nbytes = sum(sum(n.values()) for n in state.nbytes())
        return {
            "wall_p50": statistics.median(walls),
            "cpu_per_hour": sum(cpus) / hours,
            "decisions": decided,
            "bytes": nbytes,
        }
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=400)
    parser.add_argument("--hours", type=int, default=12)
    parser.add_argument("--warmup-days", type=int, default=2)
    parser.add_argument("--engines", default="local:1,local:2,ray:2")
    args = parser.parse_args()

    sim = Simulator(NetworkConfig(areas=args.areas, seed=7))
    warm: list[pl.DataFrame] = []
    t = time.perf_counter()
    warm_up(sim, ScorecardEngine(), args.warmup_days * 24, observe=lambda e: warm.append(e))
    print(
        f"warm-up: {args.areas} areas x {args.warmup_days} days in {time.perf_counter() - t:.1f} s"
    )
    results = {}
    for spec in args.engines.split(","):
        kind, shards = spec.split(":")
        results[spec] = run(kind, int(shards), copy.deepcopy(sim), warm, args.hours)
    base = next(iter(results.values()))
    print(
        f"{'engine':<10} {'hour p50 s':>10} {'ratio':>6} {'coord CPU s/h':>14} {'ratio':>6} "
        f"{'KiB/area':>9} {'decisions':>9}"
    )
    for spec, r in results.items():
        print(
            f"{spec:<10} {r['wall_p50']:>10.2f} {r['wall_p50'] / base['wall_p50']:>6.2f} "
            f"{r['cpu_per_hour']:>14.2f} {r['cpu_per_hour'] / base['cpu_per_hour']:>6.2f} "
            f"{r['bytes'] / args.areas / 1024:>9.0f} {r['decisions']:>9}"
        )
    assert len({r["decisions"] for r in results.values()}) == 1, "engines decided differently"


if __name__ == "__main__":
    main()
