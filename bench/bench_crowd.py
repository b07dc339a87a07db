"""Benchmark: the crowd exchange's nightly run and its figures against hidden truth.

Usage: .venv/bin/python bench/bench_crowd.py [--areas 400] [--weeks 12] [--tactics 30]
       [--seeds 20] [--seed-base 0]

1. Speed. A synthetic network of ``--areas`` areas publishing ``--tactics`` tactics over
   ``--weeks`` weeks (tailguard.crowd.synth) is written to a SQLite exchange store; the
   nightly exchange (read the store, cluster the areas, a Callaway-Sant'Anna lift with
   standard error for every tactic in every cluster, always-valid p-values, Benjamini-Hochberg)
   is timed. The baseline computes the same point estimates (no standard errors) the naive
   way: one Polars filter and join per (tactic, cluster, cohort, period) cell. Their ratio and
   the largest difference between the two sets of estimates are printed; so is peak RSS.
2. Figures: ``tailguard crowd bench --seeds K`` (top-3 precision, FDR, bias, TWFE bias,
   harmful adoption), unless ``--seeds 0``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import polars as pl


def naive_att(kpis: pl.DataFrame, adoptions: pl.DataFrame, clusters: dict[str, str]) -> dict:
    """Point ATTs per (tactic, kpi, cluster) by a per-cell filter loop (no SE)."""
    frame = kpis.join(
        pl.DataFrame({"area_id": list(clusters), "cluster": list(clusters.values())}),
        on="area_id",
    )
    out = {}
    for tactic, kpi in adoptions.select("tactic", "kpi").unique().sort("tactic", "kpi").iter_rows():
        ad = adoptions.filter((pl.col("tactic") == tactic) & (pl.col("kpi") == kpi))
        for cluster in sorted(set(clusters.values())):
            panel = (
                frame.filter((pl.col("kpi") == kpi) & (pl.col("cluster") == cluster))
                .join(ad.select("area_id", "adopted_period"), on="area_id", how="left")
                .with_columns(pl.col("adopted_period").fill_null(0))
            )
            periods = sorted(panel["period"].unique().to_list())
            total = weight = 0.0
            for g in sorted(set(panel.filter(pl.col("adopted_period") > 0)["adopted_period"])):
                before = [p for p in periods if p < g]
                if not before:
                    continue
                base = panel.filter(pl.col("period") == before[-1]).select("area_id", "value")
                for t in (p for p in periods if p >= g):
                    now = panel.filter(pl.col("period") == t).select(
                        "area_id", "value", "adopted_period"
                    )
                    d = now.join(base, on="area_id", suffix="_b").with_columns(
                        (pl.col("value") - pl.col("value_b")).alias("d")
                    )
                    tr = d.filter(pl.col("adopted_period") == g)["d"]
                    co = d.filter((pl.col("adopted_period") == 0) | (pl.col("adopted_period") > t))[
                        "d"
                    ]
                    if tr.len() and co.len():
                        total += tr.len() * (tr.mean() - co.mean())
                        weight += tr.len()
            if weight:
                out[(tactic, kpi, cluster)] = total / weight
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", type=int, default=400)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--tactics", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--seed-base", type=int, default=0)
    args = parser.parse_args()

    from tailguard.crowd.bench import bench
    from tailguard.crowd.exchange import direction, run_exchange
    from tailguard.crowd.store import CrowdStore
    from tailguard.crowd.synth import load_network, make_network
    from tailguard.ledger import Ledger

    net = make_network(args.seed_base, areas=args.areas, weeks=args.weeks, tactics=args.tactics)
    with tempfile.TemporaryDirectory() as tmp, Ledger.open(str(Path(tmp) / "x.db")) as ledger:
        store = CrowdStore(ledger.engine)
        load_network(store, net, units=1)
        start = time.perf_counter()
        result = run_exchange(store)
        exchange_s = time.perf_counter() - start
    start = time.perf_counter()
    naive = naive_att(net.kpis, net.adoptions, dict(result.clusters))
    naive_s = time.perf_counter() - start
    ours = {(x.tactic, x.kpi, x.cluster): direction(x.kpi) * x.lift for x in result.lifts}
    diff = max((abs(ours[k] - naive[k]) for k in ours), default=0.0)
    speed = {
        "areas": args.areas,
        "weeks": args.weeks,
        "tactics": args.tactics,
        "lifts": len(result.lifts),
        "discoveries": sum(x.discovered for x in result.lifts),
        "exchange_s": round(exchange_s, 3),
        "naive_s": round(naive_s, 3),
        "speedup": round(naive_s / exchange_s, 1),
        "max_abs_diff_vs_naive": diff,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps({"nightly": speed}))
    if args.seeds > 0:
        start = time.perf_counter()
        figures = bench(args.seeds, seed_base=args.seed_base)
        figures["wall_s"] = round(time.perf_counter() - start, 1)
        print(json.dumps({"figures": figures}))


if __name__ == "__main__":
    main()
