"""Event file throughput: read+validate and write, beside Polars and plain pyarrow.

Run: .venv/bin/python bench/bench_events_io.py [--events N] [--parquet FILE] [--jsonl FILE]

Generates N synthetic events of every type (tailguard.events.synthetic), then measures
  * reading + validating Parquet and JSONL with tailguard.events.read_events, beside
    pl.read_parquet / pl.read_ndjson of the same file (no validation) - a ratio;
  * writing Parquet and JSONL with tailguard.events.write_events, beside
    pyarrow.parquet.write_table (default options) and Polars' write_ndjson.
Each figure is the best of two runs (``--runs``). ``--parquet`` / ``--jsonl`` measure the
validated read of those files too (e.g. the simulated 400-area week and one day of it), beside
Polars' plain read of the same file; "throughput" is Polars' time / ours (the issue's target: at
least 0.5x). Those lines also give the least CPU time of the runs (user + system, all threads),
which a loaded machine distorts less than wall time, and the load average.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from tailguard.events import DeadLetterSink, read_events, synthetic_events, write_events


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def _best(fn: Callable[[], object], runs: int = 2) -> float:
    return _best_cpu(fn, runs)[0]


def _best_cpu(fn: Callable[[], object], runs: int = 2) -> tuple[float, float]:
    """The best wall time of ``runs`` calls and the least CPU time (all threads) of them."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu = _cpu()
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return min(walls), min(cpus)


def _consume(path: Path, dead: Path) -> int:
    with DeadLetterSink(dead) as sink:
        return sum(t.num_rows for t in read_events(path, dead_letter=sink))


def _ndjson(path: Path) -> object:
    return pl.read_ndjson(path, infer_schema_length=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--parquet", type=Path, default=None)
    parser.add_argument("--jsonl", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=2, help="best of this many reads each")
    args = parser.parse_args()
    readers: tuple[tuple[Path | None, Callable[[Path], object]], ...] = (
        (args.parquet, pl.read_parquet),
        (args.jsonl, _ndjson),
    )
    for path, reader in readers:
        if path is None:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            dead = Path(tmp) / "dead.jsonl"
            count = _consume(path, dead)
            letters = len(dead.read_text().splitlines()) if dead.exists() else 0
            ours, ours_cpu = _best_cpu(partial(_consume, path, dead), runs=args.runs)
            theirs, theirs_cpu = _best_cpu(partial(reader, path), runs=args.runs)
        print(
            f"{path.name}: {count:,} events, {letters:,} dead letters; read+validate {ours:.2f} s "
            f"({count / ours:,.0f} ev/s), Polars plain read {theirs:.2f} s: time ratio "
            f"{ours / theirs:.2f}x, throughput {theirs / ours:.2f}x of Polars; CPU {ours_cpu:.2f} / "
            f"{theirs_cpu:.2f} s = {ours_cpu / theirs_cpu:.2f}x; load {os.getloadavg()[0]:.1f}"
        )
    if args.parquet or args.jsonl:
        return
    n = args.events
    table = synthetic_events(n, seed=1, extra_every=20)
    rows: list[tuple[str, float, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        pqf, jsf = d / "e.parquet", d / "e.jsonl"
        t_w_pq = _best(lambda: write_events(table, pqf))
        t_w_pq_base = _best(lambda: pq.write_table(table, d / "base.parquet"))
        t_w_js = _best(lambda: write_events(table, jsf))
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        t_w_js_base = _best(lambda: frame.write_ndjson(d / "base.jsonl"))
        assert _consume(pqf, d / "dead1.jsonl") == n
        assert _consume(jsf, d / "dead2.jsonl") == n
        t_r_pq = _best(lambda: _consume(pqf, d / "dead1.jsonl"))
        t_r_pq_base = _best(lambda: pl.read_parquet(pqf))
        t_r_js = _best(lambda: _consume(jsf, d / "dead2.jsonl"))
        t_r_js_base = _best(lambda: pl.read_ndjson(jsf, infer_schema_length=None))
        rows += [
            ("read+validate Parquet", t_r_pq, "pl.read_parquet", t_r_pq_base),
            ("read+validate JSONL", t_r_js, "pl.read_ndjson", t_r_js_base),
            ("write Parquet (zstd, fixed)", t_w_pq, "pq.write_table", t_w_pq_base),
            ("write JSONL", t_w_js, "pl.write_ndjson", t_w_js_base),
        ]
        sizes = (
            f"Parquet {pqf.stat().st_size / 1e6:.1f} MB, JSONL {jsf.stat().st_size / 1e6:.1f} MB"
        )
    print(f"{n:,} synthetic events ({sizes})")
    print(f"{'operation':30} {'events/s':>12} {'baseline':18} {'events/s':>12} {'ratio':>7}")
    for name, ours, base_name, base in rows:
        print(f"{name:30} {n / ours:12,.0f} {base_name:18} {n / base:12,.0f} {ours / base:6.1f}x")
    print("ratio = our time / baseline time (baselines do no validation)")


if __name__ == "__main__":
    main()
