"""What the migrations cost when a store opens a database (SQLite files in a temp dir).

* fresh: ``Ledger.open`` on a new file (revision 0001 creates every table on the ledger's
  database) beside the baseline of the release before migrations, ``create_all`` of the same
  table definitions in one transaction;
* current: ``Ledger.open`` on a database already at the head (the fast path: one version read
  per engine) beside ``create_all(checkfirst=True)`` on the same database (what every store did
  on every open before).

Alembic's one-off import is paid by the first fresh open and left out (a warm-up).

Run: ``.venv/bin/python bench/bench_migrations.py [--opens 40] [--quick]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tailguard.control import store as control_tables
from tailguard.crowd import store as crowd_tables
from tailguard.gamification import replays as replay_tables
from tailguard.gamification import store as game_tables
from tailguard.learning import store as learn_tables
from tailguard.learning import versions as version_tables
from tailguard.ledger import Ledger, parse_url
from tailguard.ledger import _tables as ledger_tables
from tailguard.mcp import registry as mcp_tables
from tailguard.roles import conversations as chat_tables
from tailguard.roles.recruiting import schema as recruiting_tables
from tailguard.service import auth as key_tables
from tailguard.service.voice import calls as call_tables

METADATA = (
    ledger_tables.metadata, control_tables.metadata, crowd_tables.metadata,
    game_tables.metadata, replay_tables.metadata, learn_tables.metadata,
    version_tables.metadata, key_tables.metadata, call_tables.metadata,
    chat_tables.metadata, recruiting_tables.metadata, mcp_tables._metadata,
)  # fmt: skip


def _create_all(path: Path) -> None:
    url, backend = parse_url(str(path))
    engine = backend.create_engine(url)
    try:
        with engine.begin() as conn:
            for meta in METADATA:
                meta.create_all(conn, checkfirst=True)
    finally:
        engine.dispose()


def _open(path: Path) -> None:
    Ledger.open(str(path)).close()


def _ms(fn: Callable[[Path], None], paths: list[Path]) -> float:
    start = time.perf_counter()
    for p in paths:
        fn(p)
    return 1000.0 * (time.perf_counter() - start) / len(paths)


def main() -> None:
    """Print ms per open and the ratios to the create_all baselines."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--opens", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="10 opens")
    opts = parser.parse_args()
    n = 10 if opts.quick else opts.opens
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _open(root / "warmup.db")
        rows: dict[str, list[float]] = {k: [] for k in ("fresh base", "fresh", "cur base", "cur")}
        for r in range(3):
            base = [root / f"b{r}-{i}.db" for i in range(n)]
            mig = [root / f"m{r}-{i}.db" for i in range(n)]
            rows["fresh base"].append(_ms(_create_all, base))
            rows["fresh"].append(_ms(_open, mig))
            rows["cur base"].append(_ms(_create_all, base))
            rows["cur"].append(_ms(_open, mig))
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"{'open of a SQLite database':<58} {'ms':>8} {'ratio':>6}")
    print(f"{'fresh: create_all of every table (baseline)':<58} {med['fresh base']:8.1f} {1:6.2f}")
    print(
        f"{'fresh: Ledger.open, migrated to head':<58} {med['fresh']:8.1f} {med['fresh'] / med['fresh base']:6.2f}"
    )
    print(f"{'current: create_all(checkfirst) (baseline)':<58} {med['cur base']:8.1f} {1:6.2f}")
    print(
        f"{'current: Ledger.open, version read only':<58} {med['cur']:8.1f} {med['cur'] / med['cur base']:6.2f}"
    )


if __name__ == "__main__":
    main()
