"""The weekly strategic cycle: diagnostic pack, benchmark, levers, playbook, OKRs, ledger.

>>> from tailguard.weekly import snapshot_week, run_week
>>> snapshot_week(engine, as_of, out_dir)            # at each week's end (the demo does it)
>>> result = run_week("sqlite:///out/ledger.db", as_of, out_dir / "week")

See ``docs/weekly.md``.
"""

from tailguard.weekly.benchmark import Benchmark, benchmark
from tailguard.weekly.cycle import WeekResult, run_week
from tailguard.weekly.drift import Drift, drift
from tailguard.weekly.library import LeverLibrary, load_library
from tailguard.weekly.snapshot import UnitMoney, snapshot_week

__all__ = [
    "Benchmark",
    "Drift",
    "LeverLibrary",
    "UnitMoney",
    "WeekResult",
    "benchmark",
    "drift",
    "load_library",
    "run_week",
    "snapshot_week",
]
