"""Benchmark: a simulated week of the default 400-area network, written to Parquet.

Run: .venv/bin/python bench/bench_simulate.py [--areas 400] [--days 7]
Prints wall time, events/s, peak RSS, and the time pyarrow alone takes to write the same table
(read back from the file) as the baseline ratio.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from tailguard.events.io import EventWriter
from tailguard.sim import NetworkConfig, Simulator


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--areas", type=int, default=400)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "week.parquet"
        t0 = time.perf_counter()
        sim = Simulator(NetworkConfig(areas=args.areas, seed=args.seed))
        t_init = time.perf_counter() - t0
        sim_s = 0.0
        write_s = 0.0
        with EventWriter(out) as writer:
            hours = sim.run(args.days * 24)
            while True:
                a = time.perf_counter()
                table = next(hours, None)
                b = time.perf_counter()
                sim_s += b - a
                if table is None:
                    break
                writer.write(table)
                write_s += time.perf_counter() - b
        total = time.perf_counter() - t0
        rows = writer.rows_written
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        size_mb = out.stat().st_size / 1e6
        table = pq.read_table(out)
        base = Path(tmp) / "baseline.parquet"
        a = time.perf_counter()
        pq.write_table(table, base, compression="zstd")
        baseline = time.perf_counter() - a
    print(f"areas={args.areas} days={args.days} events={rows:,} file={size_mb:.1f} MB")
    print(
        f"total {total:.1f} s (network build {t_init:.1f} s, stepping {sim_s:.1f} s, "
        f"EventWriter {write_s:.1f} s)"
    )
    print(f"events/s {rows / total:,.0f}")
    print(f"peak RSS (simulate + write) {peak_gib:.2f} GiB")
    print(
        f"baseline: pyarrow.parquet.write_table of the same table {baseline:.1f} s; "
        f"simulate+write / baseline = {total / baseline:.1f}x"
    )


if __name__ == "__main__":
    main()
