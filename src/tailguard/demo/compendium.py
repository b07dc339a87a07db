"""The compendium inside ``tailguard demo``: the curator at each simulated week's end.

:func:`curate_week` runs :func:`tailguard.compendium.curate` over the demo's ledger and
self-learn store (the agents-on arm), through the world's control plane (so its writes are
governed calls in the same ledger, stamped with the simulated clock) into ``<out>/compendium``
beside ``ledger.db``. It returns the curation's JSON (``cards_written``, ``cards_updated``,
``regressions``, ``sharded``, ...), which it also keeps in ``<out>/compendium/curations.jsonl``
beside the tree, one line per week.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tailguard.clock import format_ts
from tailguard.compendium import Compendium, changes, curate


def curate_week(world: Any, out: Path) -> dict[str, Any]:
    """Curate the compendium of a demo world at the end of a simulated week."""
    root = out / "compendium"
    if root.exists() and not changes(world.ledger):
        shutil.rmtree(root)  # a previous demo's tree in the same --out: its ledger is gone
    report = curate(world.control, Compendium(root), world.learning).to_dict()
    line = {"at": format_ts(world.control.clock.now()), **report}
    with (root / "curations.jsonl").open("a") as fh:
        fh.write(json.dumps(line, default=str) + "\n")
    return report
