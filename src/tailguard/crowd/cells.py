"""Serving and reading local A/B tests (the crowd exchange's B cells), in the demo and in service mode.

A local test of a tactic proven elsewhere assigns the area's eligible units to a B cell (20 %,
drawn with the test's logged seed) and an A cell. The eligible units are those the tactic's
catalogue entry targets: the area's zips, technicians or SKUs (listed when the test starts and
drawn at once, :func:`tailguard.crowd.abtest.allocate`), or the customer batches a customer
tactic credits (an open population: each batch gets its cell on first sight from the seed,
:func:`tailguard.crowd.abtest.hashed_in_b`). :class:`LocalCells` is what the area agents'
chooser asks (:class:`tailguard.agents.choose.Cells`): a decision on a unit of the B cell plays
the tactic's arm, one on the A cell follows the policy, and both are logged with the test id
and cell. Once a test is adopted, every unit of the area gets the tactic; with ``gated`` (service
mode) only once the roll-out passed the approval-gated ``crowd_adopt_tactic`` tool (its
``crowd_adoption`` ledger record): until then the adopted test keeps serving its B cell only.

Every night :meth:`LocalCells.look` reads each open test on what its units' decisions measured
so far (intent to treat: each unit's mean signed outcome change, better positive, by cell):
first the sample-ratio check on the units reached (:func:`tailguard.crowd.abtest.srm_stops`),
then the sequential test of :mod:`tailguard.crowd.abtest`, which stays valid under daily looks;
a decisive verdict (adopt, drop, stopped_srm) is recorded in the store and the ledger
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
from tailguard.crowd.abtest import (
    ABSettings,
    Allocation,
    TestRun,
    allocate,
    hashed_in_b,
    look,
    srm_stops,
)
from tailguard.crowd.local import close_local_test
from tailguard.crowd.publish import tactic_name
from tailguard.crowd.sequential import srm_p_value
from tailguard.crowd.store import CrowdStore, LocalTest
from tailguard.learning.arms import LOWER_IS_BETTER, arm_id
from tailguard.ledger import Ledger


@dataclass(frozen=True, slots=True)
class _Test:
    test: LocalTest
    arm: str
    b_units: frozenset[str]
    units: frozenset[str]  # empty for an open population
    adopted: bool
    open: bool = False
    looking: bool = True  # still read every night (status testing)

    def in_b(self, unit_id: str) -> bool:
        """Whether the unit is in the B cell (drawn at the start, or hashed on sight)."""
        if self.open:
            return hashed_in_b(unit_id, seed=self.test.seed, b_share=self.test.b_share)
        return unit_id in self.b_units

    def covers(self, unit_id: str) -> bool:
        """Whether the unit is one of the test's eligible units."""
        return self.open or unit_id in self.units


#: Target units met as a tactic fires, never listed in advance (an open population).
OPEN_KINDS: frozenset[str] = frozenset({"customers"})


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
    #: Eligible units by target kind (zip, tech, sku) and area; a kind not here uses ``units``.
    unit_sets: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    settings: ABSettings = field(default_factory=ABSettings)
    #: Unit kinds met as a tactic fires rather than listed (service mode: every kind).
    open_kinds: frozenset[str] = OPEN_KINDS
    #: Serve an adopted tactic to every unit only after its approved roll-out.
    gated: bool = False
    by_area: dict[str, list[_Test]] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)
    unservable: int = 0
    first_night: dict[str, int] = field(default_factory=dict)
    night: int = 0

    def unit_kind(self, tactic: str) -> str | None:
        """The kind of unit the tactic's catalogue entry targets (None: no arm plays it)."""
        arm = tactic_arms(self.catalogue).get(tactic)
        if arm is None:
            return None
        entry_id = arm.split("@", 1)[0]
        return next(e.target.unit for e in self.catalogue.entries if e.id == entry_id)

    def eligible(self, area_id: str, tactic: str) -> tuple[str, list[str] | None] | None:
        """``(unit kind, eligible units)`` of a test of ``tactic`` in the area: the units are
        None for an open population (customers); None when the area cannot serve such a test
        (no catalogue arm plays the tactic, an area-wide tactic, or fewer than 2 units)."""
        kind = self.unit_kind(tactic)
        if kind is None or kind == "area":
            return None
        if kind in self.open_kinds:
            return kind, None
        source = self.unit_sets.get(kind, self.units)
        units = sorted(set(source.get(area_id, ())))
        return (kind, units) if len(units) >= 2 else None

    def refresh(self, night: int | None = None) -> None:
        """Read the tests again (after tests started or closed); ``night`` counts the nights
        of the run (a test's looks are numbered from the night it was first seen)."""
        if night is not None:
            self.night = night
        arms = tactic_arms(self.catalogue)
        by_area: dict[str, list[_Test]] = {}
        unservable = 0
        rolled_out: set[str] = set()
        if self.gated:
            rolled_out = {r.record_id for r in self.ledger.records(kind="crowd_adoption")}
        for t in self.store.local_tests():
            if t.status not in ("testing", "adopted"):
                continue
            arm = arms.get(t.tactic)
            found = self.eligible(t.area_id, t.tactic)
            if arm is None or found is None:
                unservable += 1
                continue
            units = found[1]
            b_units: tuple[str, ...] = ()
            if units is not None:
                b_units = allocate(units, b_share=t.b_share, seed=t.seed).b_units
            self.first_night.setdefault(t.test_id, self.night)
            by_area.setdefault(t.area_id, []).append(
                _Test(
                    test=t,
                    arm=arm,
                    b_units=frozenset(b_units),
                    units=frozenset(units or ()),
                    adopted=t.status == "adopted" and (not self.gated or t.test_id in rolled_out),
                    open=units is None,
                    looking=t.status == "testing",
                )
            )
        self.by_area = by_area
        self.unservable = unservable

    def cell(self, area_id: str, unit_id: str, arms: Sequence[str]) -> tuple[str, str, str] | None:
        """``(test_id, cell, arm)`` for a decision on ``unit_id`` (see the module docstring)."""
        for t in self.by_area.get(area_id, ()):
            if t.arm not in arms or not t.covers(unit_id):
                continue
            cell = "B" if t.adopted or t.in_b(unit_id) else "A"
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
                if not t.looking:
                    continue
                rows = outcomes.get(t.test.test_id, {})
                in_b = {u: t.in_b(u) for u in rows}
                a = np.array([v for u, v in rows.items() if not in_b[u]], dtype=float)
                b = np.array([v for u, v in rows.items() if in_b[u]], dtype=float)
                # The units the test reached so far: their split is checked at every look,
                # before any outcome is read (an open population has no other split).
                reached = Allocation(
                    seed=t.test.seed,
                    b_units=tuple(sorted(u for u in rows if in_b[u])),
                    a_units=tuple(sorted(u for u in rows if not in_b[u])),
                    srm_p=srm_p_value(len(a), len(b), t.test.b_share),
                )
                alloc = (
                    reached
                    if t.open
                    else allocate(sorted(t.units), b_share=t.test.b_share, seed=t.test.seed)
                )
                if srm_stops(len(a), len(b), b_share=t.test.b_share, settings=self.settings):
                    run = TestRun(allocation=reached, looks=(), verdict="stopped_srm")
                    close_local_test(
                        ledger=self.ledger, store=self.store, test=t.test, run=run, period=period
                    )
                    closed += 1
                    continue
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
