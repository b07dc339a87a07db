"""Two curators at once, in two processes, on one directory and ledger: no file is corrupted."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from tailguard.clock import FakeClock
from tailguard.compendium import Compendium, curate, parse_cards, problems, verify
from tailguard.compendium.readers import card_files
from tailguard.learning import SelfLearnStore
from tailguard.ledger import Ledger

from ._world import add_runs, make_plane


def _curate(url: str, root: str, barrier: object) -> None:
    with Ledger.open(url, clock=FakeClock()) as ledger:
        plane = make_plane(ledger, FakeClock())
        barrier.wait()  # type: ignore[attr-defined]
        for _ in range(3):
            curate(plane, Compendium(root))


def test_two_curators_at_once_leave_every_file_whole_and_the_history_consistent(
    db_url: str, tmp_path: Path
) -> None:
    """Both processes write the same files three times each; afterwards every card file
    parses, each card appears once, and verify finds the hash chain of every file unbroken."""
    with Ledger.open(db_url, clock=FakeClock()) as ledger:
        plane = make_plane(ledger, FakeClock())
        SelfLearnStore(ledger.engine)  # the deployment's tables exist before its curators start
        for role in ("recruiter", "carrier", "driver", "admin"):
            add_runs(plane, role, "lookup", [60.0 + k for k in range(12)])
            add_runs(plane, role, "act", [40.0 + k for k in range(4)])
    root = tmp_path / "comp"
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_curate, args=(db_url, str(root), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    comp = Compendium(root)
    assert problems(comp) == []
    for rel in card_files(comp):
        ids = [c.card_id for c in parse_cards(comp.read(rel) or "", rel)]
        assert len(ids) == len(set(ids)) == 2, rel
    with Ledger.open(db_url) as ledger:
        result = verify(ledger, comp)
    assert result.ok, result.problems
