"""Ledger benchmark: hash-chained appends vs plain INSERTs, and verify time per million records.

Run: ``.venv/bin/python bench/bench_ledger.py`` (about a minute and a half on 2 cores).
Options: ``--appends N`` (single-writer and 4-writer appends), ``--verify-records N``,
``--backends sqlite,postgresql``, ``--pg-url URL``.

For each backend, in the same run and on the same database:

- single writer: ``Ledger.append`` (one record per transaction, chain head locked, SHA-256)
  beside a plain ``INSERT`` of the same rows, one per transaction, into a plain table with the
  same columns and secondary indexes but no chain; and the same for 500-record batches
  (``append_many`` vs one multi-row INSERT);
- four writer processes appending at once (the same two variants);
- ``verify`` over ``--verify-records`` records, scaled to a million, beside a plain keyset scan
  of the same rows that does no hashing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from tailguard.ledger import Ledger, canonical_json
from tailguard.ledger import _tables as t

PG_URL = os.environ.get(
    "TAILGUARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

plain_meta = sa.MetaData()
plain = sa.Table(
    "bench_plain_log",
    plain_meta,
    # INTEGER PRIMARY KEY is SQLite's rowid alias, the only column it auto-numbers.
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(255), nullable=False),
    sa.Column("run_id", sa.String(255)),
    sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),
    sa.Index("ix_bench_plain_entity", "kind", "record_id", "seq"),
    sa.Index("ix_bench_plain_run", "run_id", "seq"),
    sa.Index("ix_bench_plain_time", "recorded_at_us"),
)


def step_fields(writer: str, i: int) -> dict[str, object]:
    """A realistic section-5 step record."""
    return {
        "step_id": f"{writer}-s{i}",
        "run_id": f"{writer}-r{i // 10}",
        "tool_name": "get_pulse",
        "risk_level": "read",
        "args_hash": "ab" * 32,
        "result_summary": "3 areas above the lateness guard-band",
        "latency_ms": 12.5,
        "retries": 0,
        "status": "executed",
        "approval_gate_id": None,
    }


def plain_row(fields: dict[str, object]) -> dict[str, object]:
    """The same record as a plain row (no seq, no hashes)."""
    return {
        "kind": "step",
        "record_id": fields["step_id"],
        "run_id": fields["run_id"],
        "recorded_at_us": time.time_ns() // 1000,
        "fields": canonical_json(fields),
    }


def work(url: str, writer: str, n: int, mode: str) -> float:
    """Append ``n`` records in ``mode`` (chain/plain x single/batch); return elapsed seconds."""
    with Ledger.open(url) as ledger:
        items = [step_fields(writer, i) for i in range(n)]
        started = time.perf_counter()
        if mode == "chain-single":
            for fields in items:
                ledger.append("step", fields)
        elif mode == "chain-batch":
            for lo in range(0, n, 500):
                ledger.append_many([("step", f) for f in items[lo : lo + 500]])
        elif mode == "plain-single":
            for fields in items:
                with ledger.engine.begin() as conn:
                    conn.execute(sa.insert(plain), [plain_row(fields)])
        elif mode == "plain-batch":
            for lo in range(0, n, 500):
                with ledger.engine.begin() as conn:
                    conn.execute(sa.insert(plain), [plain_row(f) for f in items[lo : lo + 500]])
        return time.perf_counter() - started


def _child(url: str, writer: str, n: int, mode: str, barrier: object, out: object) -> None:
    with Ledger.open(url) as ledger:  # warm the pool before the start line
        ledger.count()
    barrier.wait()  # type: ignore[attr-defined]
    started = time.time()
    work(url, writer, n, mode)
    out.put((started, time.time()))  # type: ignore[attr-defined]


def four_writers(url: str, n_each: int, mode: str) -> float:
    """Four spawned processes append ``n_each`` each from one start line; wall seconds."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(url, f"{mode}-w{w}", n_each, mode, barrier, out))
        for w in range(4)
    ]
    for proc in procs:
        proc.start()
    spans = [out.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"writer process failed with exit code {proc.exitcode}")
    return max(end for _, end in spans) - min(start for start, _ in spans)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def plain_scan(ledger: Ledger, batch: int = 5000) -> int:
    """Read every record's chain columns in keyset batches, without hashing (verify's baseline)."""
    c = t.records.c
    query = (
        sa.select(c.seq, c.kind, c.record_id, c.fields, c.prev_hash, c.hash)
        .where(c.seq > sa.bindparam("after"))
        .order_by(c.seq)
        .limit(batch)
    )
    after, total = 0, 0
    while True:
        with ledger.engine.connect() as conn:
            rows = (
                conn.execution_options(**ledger.backend.read_options())
                .execute(query, {"after": after})
                .all()
            )
        if not rows:
            return total
        total += len(rows)
        after = rows[-1][0]


def bench_backend(name: str, url: str, appends: int, verify_records: int) -> dict[str, object]:
    """All figures for one backend."""
    with Ledger.open(url) as ledger:
        plain_meta.create_all(ledger.engine)
    fig: dict[str, object] = {"backend": name}
    for shape in ("single", "batch"):
        n = appends if shape == "single" else appends * 10
        chain_s = work(url, f"one-{shape}", n, f"chain-{shape}")
        plain_s = work(url, f"one-{shape}", n, f"plain-{shape}")
        fig[f"1w_{shape}"] = {
            "n": n,
            "chain_per_s": n / chain_s,
            "plain_per_s": n / plain_s,
            "ratio": plain_s / chain_s,
        }
        each = n // 4
        chain_s = four_writers(url, each, f"chain-{shape}")
        plain_s = four_writers(url, each, f"plain-{shape}")
        fig[f"4w_{shape}"] = {
            "n": each * 4,
            "chain_per_s": each * 4 / chain_s,
            "plain_per_s": each * 4 / plain_s,
            "ratio": plain_s / chain_s,
        }
    with Ledger.open(url) as ledger:
        have = ledger.count()
        filler = [("step", step_fields("v", i)) for i in range(20_000)]
        while have < verify_records:
            ledger.append_many(filler[: min(20_000, verify_records - have)])
            have = ledger.count()
        scan_s = timed(lambda: plain_scan(ledger))
        report = None

        def run_verify() -> None:
            nonlocal report
            report = ledger.verify()

        verify_s = timed(run_verify)
        assert report is not None
        assert report.ok, report
        fig["verify"] = {
            "records": report.records,
            "verify_s": verify_s,
            "s_per_million": verify_s * 1_000_000 / report.records,
            "scan_s_per_million": scan_s * 1_000_000 / report.records,
            "ratio": verify_s / scan_s,
        }
    return fig


def print_figures(fig: dict[str, object]) -> None:
    print(f"\n== {fig['backend']} ==")
    for key, label in (
        ("1w_single", "1 writer, 1 record/txn"),
        ("1w_batch", "1 writer, 500/txn"),
        ("4w_single", "4 processes, 1 record/txn"),
        ("4w_batch", "4 processes, 500/txn"),
    ):
        f = fig[key]
        assert isinstance(f, dict)
        print(
            f"{label:28s} n={f['n']:6d}  chained {f['chain_per_s']:9.0f}/s   plain INSERT "
            f"{f['plain_per_s']:9.0f}/s   chained throughput = {f['ratio']:.2f} x plain"
        )
    v = fig["verify"]
    assert isinstance(v, dict)
    print(
        f"verify {v['records']} records: {v['verify_s']:.2f} s -> {v['s_per_million']:.1f} s per million "
        f"(plain scan {v['scan_s_per_million']:.1f} s/M; verify/scan = {v['ratio']:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=600)
    parser.add_argument("--verify-records", type=int, default=200_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    results = []
    started = time.perf_counter()
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                fig = bench_backend(
                    "sqlite",
                    f"sqlite:///{Path(tmp) / 'bench.db'}",
                    args.appends,
                    args.verify_records,
                )
        else:
            import psycopg

            schema = f"bench_{uuid.uuid4().hex[:10]}"
            plain_pg = args.pg_url.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(plain_pg, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            try:
                sep = "&" if "?" in args.pg_url else "?"
                url = f"{args.pg_url}{sep}options={quote(f'-csearch_path={schema}')}"
                fig = bench_backend("postgresql", url, args.appends, args.verify_records)
            finally:
                with psycopg.connect(plain_pg, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        print_figures(fig)
        results.append(fig)
    print(f"\n(total {time.perf_counter() - started:.0f} s; python {sys.version.split()[0]})")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
