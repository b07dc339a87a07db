"""Serving and reading the local A/B tests of ``tailguard demo`` (the crowd exchange's B cells).

A local test of a tactic proven elsewhere assigns the area's eligible units (its zips) to a B
cell (20 %, drawn with the test's logged seed) and an A cell. :class:`LocalCells` is what the
area agents' chooser asks (:class:`tailguard.agents.choose.Cells`): a decision on a unit of the
B cell plays the tactic's arm, one on the A cell follows the policy, and both are logged with
the test id and cell. Once a test is adopted, every unit of the area gets the tactic.

Every night :meth:`LocalCells.look` reads each open test on what its units' decisions measured
so far (intent to treat: each unit's mean signed outcome change, better positive, by cell) with
the sequential test of :mod:`tailguard.crowd.abtest`, which stays valid under daily looks, and
records a decisive verdict (adopt, drop) in the store and the ledger
(:func:`tailguard.crowd.local.close_local_test`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from tailguard.agents.catalogue import Catalogue
from tailguard.crowd.abtest import ABSettings, TestRun, allocate, look
from tailguard.crowd.local import close_local_test
from tailguard.crowd.publish import tactic_name
from tailguard.crowd.store import CrowdStore, LocalTest
from tailguard.learning.arms import LOWER_IS_BETTER, arm_id
from tailguard.ledger import Ledger


@dataclass(frozen=True, slots=True)
class _Test:
    test: LocalTest
    arm: str
    b_units: frozenset[str]
    units: frozenset[str]
    adopted: bool


def tactic_arms(catalogue: Catalogue) -> dict[str, str]:
    """Tactic name (as published) -> the catalogue arm that plays it."""
    out: dict[str, str] = {}
    for entry in catalogue.entries:
        for level in range(len(entry.levels) + 1):
            out.setdefault(tactic_name(entry.id, entry.level_args(level)), arm_id(entry.id, level))
    return out


@dataclass
class LocalCells:
    """The open and adopted local tests of every area, as the chooser and the nightly look see
    them."""

    store: CrowdStore
    ledger: Ledger
    catalogue: Catalogue
    units: Mapping[str, Sequence[str]]
    settings: ABSettings = field(default_factory=ABSettings)
    by_area: dict[str, list[_Test]] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)
    unservable: int = 0
    first_night: dict[str, int] = field(default_factory=dict)
    night: int = 0

    def refresh(self, night: int | None = None) -> None:
        """Read the tests again (after tests started or closed); ``night`` counts the nights
        of the run (a test's looks are numbered from the night it was first seen)."""
        if night is not None:
            self.night = night
        arms = tactic_arms(self.catalogue)
        by_area: dict[str, list[_Test]] = {}
        unservable = 0
        for t in self.store.local_tests():
            if t.status not in ("testing", "adopted"):
                continue
            arm = arms.get(t.tactic)
            units = list(self.units.get(t.area_id, ()))
            if arm is None or len(units) < 2:
                unservable += 1
                continue
            alloc = allocate(units, b_share=t.b_share, seed=t.seed)
            self.first_night.setdefault(t.test_id, self.night)
            by_area.setdefault(t.area_id, []).append(
                _Test(
                    test=t,
                    arm=arm,
                    b_units=frozenset(alloc.b_units),
                    units=frozenset(units),
                    adopted=t.status == "adopted",
                )
            )
        self.by_area = by_area
        self.unservable = unservable

    def cell(self, area_id: str, unit_id: str, arms: Sequence[str]) -> tuple[str, str, str] | None:
        """``(test_id, cell, arm)`` for a decision on ``unit_id`` (see the module docstring)."""
        for t in self.by_area.get(area_id, ()):
            if t.arm not in arms or unit_id not in t.units:
                continue
            cell = "B" if t.adopted or unit_id in t.b_units else "A"
            if cell == "B":
                self.served[t.test.test_id] = self.served.get(t.test.test_id, 0) + 1
            return t.test.test_id, cell, t.arm
        return None

    def look(self, decisions: pl.DataFrame, *, period: int) -> int:
        """Read every open test on the measured decisions logged with it; close decided ones.

        Returns how many tests were closed.
        """
        outcomes = _unit_outcomes(decisions)
        closed = 0
        for tests in self.by_area.values():
            for t in tests:
                if t.adopted:
                    continue
                rows = outcomes.get(t.test.test_id, {})
                a = np.array([v for u, v in rows.items() if u not in t.b_units], dtype=float)
                b = np.array([v for u, v in rows.items() if u in t.b_units], dtype=float)
                if len(a) < 2 or len(b) < 2:
                    continue
                scale = float(np.concatenate([a, b]).std()) or 1.0
                reading = look(
                    day=max(1, self.night - self.first_night.get(t.test.test_id, self.night)),
                    a=a,
                    b=b,
                    guard_a=None,
                    guard_b=None,
                    scale=scale,
                    guard_scale=1.0,
                    settings=self.settings,
                )
                if reading.verdict == "keep_testing":
                    continue
                alloc = allocate(sorted(t.units), b_share=t.test.b_share, seed=t.test.seed)
                run = TestRun(allocation=alloc, looks=(reading,), verdict=reading.verdict)
                close_local_test(
                    ledger=self.ledger, store=self.store, test=t.test, run=run, period=period
                )
                closed += 1
        if closed:
            self.refresh()
        return closed


def _unit_outcomes(decisions: pl.DataFrame) -> dict[str, dict[str, float]]:
    """test id -> unit -> the mean signed outcome change (better positive) of its decisions."""
    if decisions.is_empty():
        return {}
    measured = decisions.filter(
        pl.col("outcome_delta").is_not_null()
        & pl.col("context").str.contains('"test_id"', literal=True)
    )
    out: dict[str, dict[str, list[float]]] = {}
    for ctx, target, kpi, delta in measured.select(
        "context", "target_id", "outcome_kpi", "outcome_delta"
    ).iter_rows():
        test_id = json.loads(ctx).get("test_id")
        if not test_id:
            continue
        signed = -float(delta) if kpi in LOWER_IS_BETTER else float(delta)
        out.setdefault(test_id, {}).setdefault(str(target), []).append(signed)
    return {t: {u: float(np.mean(v)) for u, v in units.items()} for t, units in out.items()}


def describe(cells: LocalCells) -> dict[str, Any]:
    """What the tests served: B-cell decisions per test, and tests no arm could serve."""
    return {
        "b_cell_decisions": sum(cells.served.values()),
        "tests_served": len(cells.served),
        "tests_unservable": cells.unservable,
    }
