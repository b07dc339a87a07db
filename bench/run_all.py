"""Run every bench/bench_*.py script in turn and print a table of exit codes and durations.

Each script runs in its own Python process (this interpreter) from the repository root, its
output streamed as it comes. ``--quick`` is passed on to the scripts that accept it and noted
for the others, which then run at their defaults. The exit code is 0 only when every script
exits 0. Used by ``make bench``.

    python bench/run_all.py [--quick] [--only NAME ...] [--timeout SECONDS] [--list]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """How one benchmark script ended."""

    script: str
    status: str  # the exit code, "timeout" or "not run"
    seconds: float
    quick: str  # "yes", "no" (not asked for) or "unsupported"

    @property
    def ok(self) -> bool:
        """Whether the script ran and exited 0."""
        return self.status == "0"


def discover(bench_dir: Path, only: list[str]) -> list[Path]:
    """The bench_*.py scripts of ``bench_dir`` in name order, kept to ``only`` substrings."""
    scripts = sorted(bench_dir.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if any(part in s.name for part in only)]
    return scripts


def supports_quick(script: Path) -> bool:
    """Whether the script declares a ``--quick`` option (read from its source, not run)."""
    return '"--quick"' in script.read_text(encoding="utf-8")


def run_one(script: Path, *, quick: bool, timeout: float | None) -> Outcome:
    """Run one script to completion (or until ``timeout`` seconds) and time it."""
    takes_quick = supports_quick(script)
    command = [sys.executable, str(script)]
    if quick and takes_quick:
        command.append("--quick")
    quick_note = "no" if not quick else ("yes" if takes_quick else "unsupported")
    print(f"\n=== {' '.join([script.name, *command[2:]])}", flush=True)
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=ROOT, check=False, timeout=timeout)
        status = str(proc.returncode)
    except subprocess.TimeoutExpired:
        status = "timeout"
    return Outcome(
        script=script.name,
        status=status,
        seconds=time.perf_counter() - start,
        quick=quick_note,
    )


def table(outcomes: list[Outcome]) -> str:
    """The summary: one row per script, then the total time."""
    width = max([len("script"), *(len(o.script) for o in outcomes)])
    lines = [f"{'script':<{width}}  {'exit':>7}  {'seconds':>9}  quick", "-" * (width + 32)]
    for o in outcomes:
        lines.append(f"{o.script:<{width}}  {o.status:>7}  {o.seconds:>9.1f}  {o.quick}")
    total = sum(o.seconds for o in outcomes)
    failed = sum(not o.ok for o in outcomes)
    lines.append("-" * (width + 32))
    lines.append(f"{len(outcomes)} scripts, {failed} failed, {total:.1f} s in all")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; returns the process exit code."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="pass --quick to the scripts that accept it"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run scripts whose file name contains NAME (repeatable)",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds a script may run (default: no cap)"
    )
    parser.add_argument("--list", action="store_true", help="list the scripts and stop")
    parser.add_argument("--dir", type=Path, default=BENCH_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    scripts = discover(args.dir, args.only)
    if not scripts:
        print(f"no bench_*.py scripts in {args.dir} match {args.only}", file=sys.stderr)
        return 2
    if args.list:
        for script in scripts:
            print(f"{script.name}  quick={'yes' if supports_quick(script) else 'no'}")
        return 0
    outcomes: list[Outcome] = []
    try:
        for script in scripts:
            outcomes.append(run_one(script, quick=args.quick, timeout=args.timeout))
    except KeyboardInterrupt:
        done = {o.script for o in outcomes}
        outcomes += [
            Outcome(script=s.name, status="not run", seconds=0.0, quick="-")
            for s in scripts
            if s.name not in done
        ]
        print("\ninterrupted", file=sys.stderr)
    print("\n" + table(outcomes), flush=True)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
