"""Overhead of a governed ``read`` call over calling its handler directly, SQLite and PostgreSQL.

A governed call = JSON-schema validation, policy check, rate limit (a sliding window in the
database, 30 calls/min), budget check and the ledger append (step + step_detail records). The
baselines, measured in the same run: the bare handler, and one plain ledger ``append_many`` of
the same two records (the part of the overhead that is the evidence itself).

Run: ``.venv/bin/python bench/bench_control.py [--calls N] [--pg-url URL]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tailguard.clock import FakeClock
from tailguard.control import ControlPlane, Policy, RiskLevel, Tool, ToolContext, ToolRegistry
from tailguard.ledger import Ledger

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _handler(args: Mapping[str, Any], ctx: ToolContext | None) -> Any:
    return {"zip": args["zip"], "matches": [1, 2, 3]}


def _registry() -> ToolRegistry:
    registry = ToolRegistry()
    registry.register(
        Tool(
            name="find_matches",
            description="Find matches near a zip.",
            parameters={
                "type": "object",
                "properties": {
                    "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
                    "maxDistance": {"type": "number", "minimum": 0},
                },
                "required": ["zip"],
                "additionalProperties": False,
            },
            handler=_handler,
            policy=Policy(
                risk_level=RiskLevel.READ,
                rate_limit=30,
                audit_fields=("zip", "maxDistance"),
                idempotent=True,
            ),
        )
    )
    return registry


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return statistics.median(ordered), p99


def _time(fn: Callable[[], Any], calls: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e6)
    return out


@contextmanager
def _pg_schema(url: str) -> Iterator[str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def bench(url: str, calls: int) -> dict[str, tuple[float, float]]:
    """Time the direct handler, a bare ledger append, and a governed call on one database."""
    clock = FakeClock()
    args = {"zip": "75001", "maxDistance": 50}
    with Ledger.open(url, clock=clock) as ledger:
        plane = ControlPlane(_registry(), ledger, clock=clock)
        run = plane.start_run("driver", "bench-user", "benchmark")

        def governed() -> None:
            # 2.1 s of simulated time per call keeps a user at 28-29 calls a minute: the limit
            # is checked on every call but never refuses one.
            clock.advance(2.1)
            result = plane.execute(run, "find_matches", args)
            assert result.ok, result.reason

        record = {
            "step_id": "x",
            "run_id": run.run_id,
            "tool_name": "find_matches",
            "risk_level": "read",
            "args_hash": "0" * 64,
            "result_summary": "object (matches, zip)",
            "latency_ms": 0.01,
            "retries": 0,
            "status": "executed",
            "approval_gate_id": None,
        }
        detail = {"step_detail_id": "x", "run_id": run.run_id, "audit_args": {"zip": "75001"}}

        def append_only() -> None:
            ledger.append_many([("step", record), ("step_detail", detail)])

        return {
            "handler": _percentiles(_time(lambda: _handler(args, None), calls)),
            "ledger append": _percentiles(_time(append_only, calls)),
            "governed": _percentiles(_time(governed, calls)),
        }


def main() -> None:
    """Run the benchmark on SQLite and PostgreSQL and print p50/p99 with ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--skip-pg", action="store_true")
    opts = parser.parse_args()
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = bench(f"sqlite:///{Path(tmp) / 'bench.db'}", opts.calls)
    if not opts.skip_pg:
        with _pg_schema(opts.pg_url) as url:
            results["postgresql"] = bench(url, opts.calls)
    print(f"governed read call, {opts.calls} calls per backend (microseconds)")
    print(f"{'backend':<11} {'what':<15} {'p50':>9} {'p99':>9}")
    for backend, rows in results.items():
        for what, (p50, p99) in rows.items():
            print(f"{backend:<11} {what:<15} {p50:>9.1f} {p99:>9.1f}")
        g50, g99 = rows["governed"]
        h50, h99 = rows["handler"]
        a50, a99 = rows["ledger append"]
        print(
            f"{backend:<11} overhead        {g50 - h50:>9.1f} {g99 - h99:>9.1f}   "
            f"governed / bare ledger append: p50 x{g50 / a50:.2f}, p99 x{g99 / a99:.2f}"
        )


if __name__ == "__main__":
    main()
