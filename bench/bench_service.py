"""HTTP service: requests/s and p99 for listing pending approvals and deciding one.

The ledger holds ``--runs`` finished runs (100,000 by default) plus ``--pending`` runs waiting at
an approval gate, seeded in bulk (``Ledger.append_many`` and the control plane's tables, the
same rows the control plane writes). The service runs under uvicorn in a subprocess (one
process, as ``tailguard serve`` runs it, JSON access log to a file); a load generator (httpx async
client, ``--concurrency`` connections) drives it on loopback for ``--seconds`` per scenario:

- list: ``GET /v1/approvals?limit=50`` (the inbox's first page) with an approver key;
- decide: ``POST /v1/approvals/{gate_id}`` approving a distinct gate each time, which records
  the decision and resumes the gated call (it runs a trivial ``execute_high`` tool).

Baseline, measured in the same run: a bare FastAPI app under the same uvicorn settings that
answers the same paths with the same JSON bodies, without database, auth or middleware.

Run: ``.venv/bin/python bench/bench_service.py [--runs N] [--seconds S] [--backends sqlite,postgresql]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa
from fastapi import Body, FastAPI
from fastapi.responses import Response

PG_URL = os.environ.get(
    "TAILGUARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TOOL = "bench_close_account"
SEED_USER = "seed-operator"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


# ----------------------------------------------------------------------------- the apps


def _registry() -> Any:
    from tailguard.control import Policy, RiskLevel, Tool, ToolContext, ToolRegistry

    def handler(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        return {"closed": args["account_id"]}

    registry = ToolRegistry()
    registry.register(
        Tool(
            name=TOOL,
            description="Close an account (benchmark tool).",
            parameters={
                "type": "object",
                "properties": {"account_id": {"type": "string"}},
                "required": ["account_id"],
                "additionalProperties": False,
            },
            handler=handler,
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_HIGH,
                requires_approval=True,
                audit_fields=("account_id",),
                approval_timeout=None,
            ),
        )
    )
    return registry


def make_app() -> Any:
    """The real service (uvicorn factory; reads TG_BENCH_DB, TG_BENCH_DIR)."""
    import logging

    from tailguard.service import ServiceSettings, create_app
    from tailguard.service.observe import JsonFormatter

    out = Path(os.environ["TG_BENCH_DIR"])
    handler = logging.FileHandler(out / "service.log")
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tailguard")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    settings = ServiceSettings(
        ledger_url=os.environ["TG_BENCH_DB"],
        pulse_url=str(out / "pulse.db"),
        registry=_registry(),
    )
    return create_app(settings, optional_routers=False)


def make_baseline() -> Any:
    """A bare FastAPI app answering the same paths with canned bodies (reads TG_BENCH_DIR)."""
    out = Path(os.environ["TG_BENCH_DIR"])
    list_body = (out / "list.json").read_bytes()
    decide_body = (out / "decide.json").read_bytes()
    app = FastAPI()

    @app.get("/v1/approvals", response_class=Response)
    def pending(limit: int = 50) -> Any:
        return Response(list_body, media_type="application/json")

    @app.post("/v1/approvals/{gate_id}", response_class=Response)
    def decide(gate_id: str, body: dict[str, Any] = Body()) -> Any:
        return Response(decide_body, media_type="application/json")

    return app


# ----------------------------------------------------------------------------- seeding


def _ts(seconds: float) -> str:
    from datetime import UTC, datetime

    from tailguard.clock import format_ts

    return format_ts(datetime.fromtimestamp(seconds, UTC))


def seed(url: str, runs: int, pending: int) -> tuple[str, list[str]]:
    """Fill the ledger; returns an approver key and the pending gate ids."""
    from tailguard.control import ControlPlane
    from tailguard.control.store import gates as gate_table
    from tailguard.control.store import runs as run_table
    from tailguard.ledger import Ledger
    from tailguard.service.auth import KeyStore

    ledger = Ledger.open(url)
    ControlPlane(_registry(), ledger)  # creates the control plane's tables
    key = KeyStore(ledger.engine).create("bench-approver", "approver")[1]
    batch = 2000

    def control_row(run_id: str, started: float, status: str) -> dict[str, Any]:
        return {
            "run_id": run_id, "role": "area_agent", "initiator_id": SEED_USER, "goal_text": None,
            "conversation_id": None, "started_at": started, "status": status,
            "max_tokens": None, "max_cost_micros": None, "max_seconds": None,
            "alert_cost_micros": None, "input_tokens": 0, "output_tokens": 0, "cost_micros": 0,
            "reserved_tokens": 0, "reserved_cost_micros": 0, "alerted": False,
        }  # fmt: skip

    def run_fields(run_id: str, started: float, status: str) -> dict[str, Any]:
        done = status == "completed"
        return {
            "run_id": run_id, "conversation_id": None, "initiator_id": SEED_USER,
            "role": "area_agent", "goal_text": None, "status": status,
            "total_tokens": 1200 if done else 0, "total_cost_usd": 0.01 if done else 0.0,
            "steps_count": 1 if done else 0, "started_at": _ts(started),
            "completed_at": _ts(started + 30) if done else None, "sla_ms": None,
        }  # fmt: skip

    for lo in range(0, runs, batch):
        ids = [(f"run_{uuid.uuid4().hex}", T0 + i * 6.0) for i in range(lo, min(runs, lo + batch))]
        with ledger.engine.begin() as conn:
            conn.execute(sa.insert(run_table), [control_row(r, t, "completed") for r, t in ids])
        ledger.append_many([("run", run_fields(r, t, "completed")) for r, t in ids])
    gate_ids = []
    for lo in range(0, pending, batch):
        control_runs, gate_rows, records = [], [], []
        for i in range(lo, min(pending, lo + batch)):
            run_id, step_id, gate_id = (f"{p}_{uuid.uuid4().hex}" for p in ("run", "step", "gate"))
            presented = T0 + runs * 6.0 + i
            args = {"account_id": f"acc-{i}"}
            control_runs.append(control_row(run_id, presented, "running"))
            gate_rows.append(
                {
                    "gate_id": gate_id,
                    "run_id": run_id,
                    "step_id": step_id,
                    "tool_name": TOOL,
                    "args_json": json.dumps(args, sort_keys=True, separators=(",", ":")),
                    "risk_level": "execute_high",
                    "reason": "execute_high requires approval",
                    "requester_id": SEED_USER,
                    "initiator_id": SEED_USER,
                    "presented_at": presented,
                    "expires_at": None,
                    "decision": "pending",
                    "edited": False,
                    "idempotency_key": step_id,
                }
            )
            records += [
                ("run", run_fields(run_id, presented, "running")),
                ("gate", {
                    "gate_id": gate_id, "run_id": run_id, "step_id": step_id, "tool_name": TOOL,
                    "reason": "execute_high requires approval", "risk_level": "execute_high",
                    "presented_at": _ts(presented), "decision": "pending", "decided_by": None,
                    "decided_at": None,
                }),
                ("gate_detail", {
                    "gate_detail_id": gate_id, "run_id": run_id, "requester_id": SEED_USER,
                    "args_hash": None, "audit_args": args, "expires_at": None,
                }),
                ("run", run_fields(run_id, presented, "waiting_approval")),
            ]  # fmt: skip
            gate_ids.append(gate_id)
        with ledger.engine.begin() as conn:
            conn.execute(sa.insert(run_table), control_runs)
            conn.execute(sa.insert(gate_table), gate_rows)
        ledger.append_many(records)
    ledger.close()
    return key, gate_ids


# ----------------------------------------------------------------------------- load


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def uvicorn_server(factory: str, env: Mapping[str, str]) -> Iterator[str]:
    """``uvicorn --factory bench_service:<factory>`` on a free loopback port."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "--factory", f"bench_service:{factory}",
            "--app-dir", str(Path(__file__).parent), "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log",
        ],
        env={**os.environ, **env},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{factory} did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=60)


async def _load(
    base: str, make: Any, *, seconds: float, concurrency: int
) -> tuple[int, list[float], int]:
    """Drive ``make(client)`` (one request) from ``concurrency`` tasks for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await make(client)
                if response is None:
                    return
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 300:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies), latencies, errors if elapsed > 0 else 0


def measure(base: str, make: Any, *, seconds: float, concurrency: int) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms) of one scenario after a one-second warm-up."""
    asyncio.run(_load(base, make, seconds=1.0, concurrency=concurrency))
    started = time.perf_counter()
    count, latencies, errors = asyncio.run(
        _load(base, make, seconds=seconds, concurrency=concurrency)
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": count,
        "errors": errors,
        "rps": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
        if latencies
        else float("nan"),
    }


def run_backend(name: str, url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Seed one backend and measure both scenarios against the service and the baseline."""
    with tempfile.TemporaryDirectory(prefix=f"bench-service-{name}-") as tmp:
        return _run_backend(name, url, args, Path(tmp))


def _run_backend(
    name: str, url: str, args: argparse.Namespace, workdir: Path
) -> list[dict[str, Any]]:
    t = time.perf_counter()
    key, gates = seed(url, args.runs, args.pending)
    seed_s = time.perf_counter() - t
    print(f"[{name}] seeded {args.runs:,} runs + {args.pending:,} pending gates in {seed_s:.1f}s")
    headers = {"Authorization": f"Bearer {key}"}
    env = {"TG_BENCH_DB": url, "TG_BENCH_DIR": str(workdir)}
    queue = deque(gates)

    async def list_pending(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/v1/approvals", params={"limit": 50}, headers=headers)

    async def decide(client: httpx.AsyncClient) -> httpx.Response | None:
        if not queue:
            return None
        gate = queue.popleft()
        return await client.post(
            f"/v1/approvals/{gate}", json={"decision": "approve"}, headers=headers
        )

    rows = []
    with uvicorn_server("make_app", env) as base:
        first = httpx.get(f"{base}/v1/approvals", params={"limit": 50}, headers=headers)
        assert first.status_code == 200, first.text
        assert len(first.json()["items"]) == 50, first.text
        (workdir / "list.json").write_bytes(first.content)
        sample = httpx.post(
            f"{base}/v1/approvals/{queue.pop()}", json={"decision": "approve"}, headers=headers
        )
        assert sample.json()["resumed"]["outcome"] == "executed", sample.text
        (workdir / "decide.json").write_bytes(sample.content)
        service = {
            "list": measure(base, list_pending, seconds=args.seconds, concurrency=args.concurrency),
            "decide1": measure(base, decide, seconds=args.seconds, concurrency=1),
            "decide": measure(base, decide, seconds=args.seconds, concurrency=args.concurrency),
        }
    left = len(queue)
    queue.extend(f"gate_{i}" for i in range(1_000_000))
    with uvicorn_server("make_baseline", env) as base:
        baseline = {
            "list": measure(base, list_pending, seconds=args.seconds, concurrency=args.concurrency),
            "decide1": measure(base, decide, seconds=args.seconds, concurrency=1),
            "decide": measure(base, decide, seconds=args.seconds, concurrency=args.concurrency),
        }
    if left == 0:
        print(f"[{name}] warning: the decide runs used every seeded gate; raise --pending")
    labels = {
        "list": f"list pending (page of 50), {args.concurrency} connections",
        "decide1": "decide + resume, 1 connection",
        "decide": f"decide + resume, {args.concurrency} connections",
    }
    for key_, what in labels.items():
        svc, base_ = service[key_], baseline[key_]
        rows.append(
            {
                "backend": name,
                "what": what,
                **{f"service_{k}": v for k, v in svc.items()},
                **{f"baseline_{k}": v for k, v in base_.items()},
                "rps_ratio": svc["rps"] / base_["rps"],
            }
        )
    return rows


@contextmanager
def pg_schema(base_url: str) -> Iterator[str]:
    """A fresh schema on the machine's PostgreSQL, dropped afterwards."""
    import psycopg

    schema = f"bench_service_{uuid.uuid4().hex[:8]}"
    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    """Parse arguments, run every backend, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--pending", type=int, default=3_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="bench-service-db-") as folder:
                rows += run_backend("SQLite", f"sqlite:///{Path(folder) / 'ledger.db'}", args)
        elif backend == "postgresql":
            with pg_schema(args.pg_url) as url:
                rows += run_backend("PostgreSQL", url, args)
        else:
            raise SystemExit(f"unknown backend {backend!r}")
    print()
    print(
        "| backend | request | service req/s | p50 ms | p99 ms | baseline req/s | baseline p99 ms "
        "| req/s ratio |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['what']} | {r['service_rps']:,.0f} | "
            f"{r['service_p50_ms']:.1f} | {r['service_p99_ms']:.1f} | {r['baseline_rps']:,.0f} | "
            f"{r['baseline_p99_ms']:.1f} | {r['rps_ratio']:.3f} |"
        )
    print()
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
