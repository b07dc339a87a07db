"""Benchmark: what the gamification programme adds to each hour at network scale.

Warms a network up (``--days``, default 7, which also fills the fix ledger with each tech's
baseline), then for ``--hours`` hours times, on the same events: the programme's hourly
ingest (TechPower's weekly sums, the kit streaks, the fix ledger), and the scorecard's ingest
plus scorecard (the hourly tick's floor, measured in the same run) as the baseline. Once at the
end it times the nightly gaming check over every tech (the fix ledger's per-tech frame and the
flags) and a week's TechPower scores. Prints each with its ratio to the baseline; the issue's
budget is +10 % of the tick for the hourly part.

    .venv/bin/python bench/bench_gamification.py --areas 400 --hours 24
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

import polars as pl

from tailguard.gamification import FixLedger, KitStreaks, TechPowerBook, gaming_flags
from tailguard.metrics import ScorecardEngine
from tailguard.sim import NetworkConfig, Simulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=400)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="40 areas, 6 hours, 2 days")
    args = parser.parse_args()
    if args.quick:
        args.areas, args.hours, args.days = 40, 6, 2

    sim = Simulator(NetworkConfig(areas=args.areas, seed=args.seed))
    engine, book, streaks, fixes = ScorecardEngine(), TechPowerBook(), KitStreaks(), FixLedger()
    t = time.perf_counter()
    for _ in range(args.days * 24):
        events = sim.step()
        engine.ingest(events)
        frame = pl.from_arrow(events)
        assert isinstance(frame, pl.DataFrame)
        book.ingest(frame)
        streaks.ingest(frame)
        fixes.ingest(frame)
    print(f"warm-up: {args.areas} areas x {args.days} days in {time.perf_counter() - t:.1f} s")
    since = sim.now

    base: list[float] = []
    game: list[float] = []
    for _ in range(args.hours):
        events = sim.step()
        a = time.perf_counter()
        engine.ingest(events)
        engine.scorecard(sim.now)
        base.append(time.perf_counter() - a)
        a = time.perf_counter()
        frame = pl.from_arrow(events)
        assert isinstance(frame, pl.DataFrame)
        book.ingest(frame)
        streaks.ingest(frame)
        fixes.ingest(frame)
        game.append(time.perf_counter() - a)

    a = time.perf_counter()
    per_tech = fixes.frame(sim.now, since=since - timedelta(days=1))
    flags = gaming_flags(per_tech)
    nightly = time.perf_counter() - a
    a = time.perf_counter()
    week = book.weeks()[-1]
    scores = book.scores(week)
    weekly = time.perf_counter() - a

    b50, g50 = statistics.median(base), statistics.median(game)
    print(
        f"areas={args.areas} hours={args.hours} techs scored={scores.height} "
        f"techs checked={flags.height}"
    )
    print(f"baseline (scorecard ingest + scorecard) p50 {b50:.3f} s")
    print(f"gamification hourly ingest p50 {g50:.3f} s  = {100 * g50 / b50:.1f} % of the baseline")
    print(
        f"nightly gaming check (every tech) {nightly:.3f} s  = {nightly / b50:.1f}x one baseline hour"
    )
    print(f"weekly TechPower scores {weekly:.3f} s  = {weekly / b50:.1f}x one baseline hour")


if __name__ == "__main__":
    main()
