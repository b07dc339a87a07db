"""What the MCP surface adds to a governed call, over the gateway call it wraps (SQLite).

Three ways to make the same ``get_carrier_details`` call, each a whole run (start, execute,
finish with its outcome) in the ledger, measured in the same process on one database:

* ``gateway``: :meth:`tailguard.mcp.Gateway.call` directly (the baseline);
* ``mcp in-process``: the official SDK client against the server in the same process (no
  transport: the SDK's direct dispatch), so the cost of the MCP layer itself;
* ``mcp http``: the SDK client over streamable HTTP to uvicorn on loopback, with an API key.

Run: ``.venv/bin/python bench/bench_mcp.py [--calls N]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tailguard.clock import FakeClock
from tailguard.mcp import GovernedMcpServer, open_mcp
from tailguard.service.auth import KeyStore

ARGS = {"carrierId": "C-001"}


def _per_call_ms(total_s: float, calls: int) -> float:
    return 1000.0 * total_s / calls


def main() -> None:
    """Print ms per call for each way and the ratios over the gateway baseline."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # Read tools allow 30 calls a minute per caller: a fake clock moves 2.5 s per call so
        # the rate limiter counts every call (as in production) and never refuses one.
        clock = FakeClock()
        stack = open_mcp(f"sqlite:///{Path(tmp) / 'bench.db'}", clock=clock, daily_run_cap=None)
        server = GovernedMcpServer(stack, local_user="bench")
        keys = KeyStore(stack.ledger.engine)
        _, raw = keys.create("bench", "operator")
        app = server.http_app(keys.verify)
        web = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
        thread = threading.Thread(target=web.run, daemon=True)
        thread.start()
        while not web.started:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{web.servers[0].sockets[0].getsockname()[1]}/mcp"

        def gateway() -> float:
            start = time.perf_counter()
            for _ in range(opts.calls):
                clock.advance(2.5)
                report = stack.gateway.call(
                    role="mcp", principal="bench", tool_name="get_carrier_details", args=ARGS
                )
                assert report.ok
            return time.perf_counter() - start

        async def through(client: Client) -> float:
            start = time.perf_counter()
            for _ in range(opts.calls):
                clock.advance(2.5)
                result = await client.call_tool("get_carrier_details", ARGS)
                assert not result.is_error
            return time.perf_counter() - start

        async def in_process() -> float:
            async with Client(server.server) as client:
                return await through(client)

        async def over_http() -> float:
            headers = {"Authorization": f"Bearer {raw}"}
            async with (
                create_mcp_http_client(headers=headers) as http,
                Client(streamable_http_client(url, http_client=http)) as client,
            ):
                return await through(client)

        ways: dict[str, Callable[[], float]] = {
            "gateway": gateway,
            "mcp in-process": lambda: anyio.run(in_process),
            "mcp http": lambda: anyio.run(over_http),
        }
        gateway()  # warm caches and the dataset
        timings: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(opts.repeats):  # interleaved, so load on the machine hits all alike
            for name, way in ways.items():
                timings[name].append(way())
        web.should_exit = True
        thread.join(timeout=30)
        stack.close()
    base = statistics.median(timings["gateway"])
    print(f"calls per measurement: {opts.calls}, repeats: {opts.repeats} (median shown)")
    for name, values in timings.items():
        median = statistics.median(values)
        print(
            f"{name:<16} {_per_call_ms(median, opts.calls):7.2f} ms/call  "
            f"ratio {median / base:5.2f}"
        )


if __name__ == "__main__":
    main()
