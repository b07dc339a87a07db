"""How long ``tailguard mcp --list`` takes, beside ``python -c 'import mcp'`` (the SDK's own
import, the floor of anything that serves MCP) and ``python -c 'pass'`` (the interpreter).

Each command is a fresh process started from an empty temporary directory (which must stay
empty: the listing opens no database), interleaved, repeated; medians of wall time and of the
child's user CPU time are printed with their ratio to ``import mcp``. User CPU is the steadier
figure on a shared machine.

Run: ``.venv/bin/python bench/bench_mcp_list.py [--repeats 5] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TAILGUARD = str(Path(sys.executable).with_name("tailguard"))

WAYS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import mcp' (baseline)": [sys.executable, "-c", "import mcp"],
    "tailguard mcp --list (recruiting)": [TAILGUARD, "mcp", "--list"],
    "tailguard mcp --list --domain operations": [
        TAILGUARD,
        "mcp",
        "--list",
        "--domain",
        "operations",
    ],
}


def _once(argv: list[str], cwd: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ))
    wall = time.perf_counter() - start
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before


def main() -> None:
    """Print the medians and the ratios to the ``import mcp`` baseline."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="two repeats")
    opts = parser.parse_args()
    repeats = 2 if opts.quick else opts.repeats
    walls: dict[str, list[float]] = {w: [] for w in WAYS}
    users: dict[str, list[float]] = {w: [] for w in WAYS}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(repeats):
            for way, argv in WAYS.items():
                wall, user = _once(argv, cwd)
                walls[way].append(wall)
                users[way].append(user)
        left = sorted(os.listdir(cwd))
    base_wall = statistics.median(walls["python -c 'import mcp' (baseline)"])
    base_user = statistics.median(users["python -c 'import mcp' (baseline)"])
    print(f"{'command':<44} {'wall s':>8} {'ratio':>6} {'user s':>8} {'ratio':>6}")
    for way in WAYS:
        wall, user = statistics.median(walls[way]), statistics.median(users[way])
        print(f"{way:<44} {wall:8.3f} {wall / base_wall:6.2f} {user:8.3f} {user / base_user:6.2f}")
    print(f"files left in the working directory: {left or 'none'}")
    if left:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
