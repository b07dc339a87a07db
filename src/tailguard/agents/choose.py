"""Choosing interventions: firing tails -> eligible catalogue entries -> one draw per group.

For every area with a firing trigger, each catalogue group whose trigger fires offers its
eligible entries (a target is available, not cooling down, within the entry's and the area's
weekly budget) as arms: with the fixed policy each entry's own arguments, drawn with probability
weight / sum of the eligible weights; with another policy (the learning one,
:mod:`tailguard.learning.policy`) also each affordable argument level and the group's hold arm,
drawn with that policy's probabilities for the decision's context bucket. The drawn arm's
probability is logged as the decision's propensity (with the arms and the whole vector), so
that off-policy evaluation of another policy is possible later. The random stream is seeded per
(seed, hour), so a run replays. Where an area runs a local A/B test of a tactic (``cells``,
the crowd exchange's tests), a unit in the test's B cell gets the tactic's arm whatever the
policy says (logged with propensity 1 given the unit's random assignment, and the test id and
cell), and a unit in the A cell follows the policy.

Each area keeps its own state here (cooldowns, weekly spend and counts, customers already
credited); the choice for all areas is one pass over frames partitioned by area.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import polars as pl

from tailguard.agents.catalogue import TARGET_ARG, Catalogue, Entry
from tailguard.learning import DecisionState
from tailguard.learning.arms import arm_id, bucket_of, hold_arm, is_hold
from tailguard.learning.policy import ChoicePolicy, FixedPolicy
from tailguard.rules.model import COMPARISONS

_ID_COLUMN = {"tech": "tech_id", "zip": "zip", "sku": "sku"}


def week_key(when: datetime) -> str:
    """The ISO week a budget is counted in, e.g. ``2026-W10``."""
    year, week, _ = when.isocalendar()
    return f"{year}-W{week:02d}"


def paced(cap: float, now: datetime, pacing: str) -> float:
    """What an area may have spent of its weekly ``cap`` by ``now`` (see Catalogue)."""
    if pacing == "none":
        return cap
    return cap * now.isoweekday() / 7.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Choice:
    """One chosen intervention, ready to record and execute."""

    decision_id: str
    area_id: str
    entry: Entry
    trigger: str
    target_type: str
    target_id: str
    args: dict[str, Any]
    propensity: float
    context: dict[str, Any]
    baseline_value: float | None
    arm: str = ""
    policy_version: str = ""
    cost_usd: float = 0.0

    @property
    def hold(self) -> bool:
        """Whether the policy chose to do nothing about this tail (logged, measured, no call)."""
        return is_hold(self.arm)


@dataclass(slots=True)
class AreaState:
    """What one area agent remembers between ticks."""

    cooldown_until: dict[tuple[str, str], datetime] = field(default_factory=dict)
    spend: dict[str, float] = field(default_factory=dict)  # week -> usd (all entries)
    entry_spend: dict[tuple[str, str], float] = field(default_factory=dict)  # (entry, week)
    entry_count: dict[tuple[str, str], int] = field(default_factory=dict)
    credited: set[str] = field(default_factory=set)


@dataclass(frozen=True, kw_only=True, slots=True)
class Situation:
    """Everything the choice looks at, for all areas, at one hour.

    Attributes:
        now: decision time.
        scorecard: ``area_id`` + KPI columns.
        firing: area -> trigger name -> the value that breached (rules and signals).
        units: per unit type, ``area_id`` + id column + feature columns.
        signal_units: per signal, the units it names (``area_id`` + id column).
        customers: area -> recent detractor customers, newest first.
        lockers: (area, sku) -> the locker a buffer goes to.
    """

    now: datetime
    scorecard: pl.DataFrame
    firing: Mapping[str, Mapping[str, float | None]]
    units: Mapping[str, pl.DataFrame]
    signal_units: Mapping[str, pl.DataFrame]
    customers: Mapping[str, list[str]]
    lockers: Mapping[tuple[str, str], str | None]


class _Ranked:
    """Candidate rows sorted by area then rank; an area's rows are built on demand."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self._columns = frame.columns
        self._data = frame.to_dict(as_series=False)
        self._spans: dict[str, tuple[int, int]] = {}
        areas = self._data.get("area_id", [])
        start = 0
        for i in range(1, len(areas) + 1):
            if i == len(areas) or areas[i] != areas[start]:
                self._spans[areas[start]] = (start, i)
                start = i

    def rows(self, area_id: str) -> Iterator[dict[str, Any]]:
        """The area's candidates, best first, as dictionaries (one at a time)."""
        lo, hi = self._spans.get(area_id, (0, 0))
        for i in range(lo, hi):
            yield {c: self._data[c][i] for c in self._columns}


class Cells(Protocol):
    """Local A/B tests an area runs (the crowd exchange's B cells), as the chooser sees them."""

    def cell(self, area_id: str, unit_id: str, arms: Sequence[str]) -> tuple[str, str, str] | None:
        """``(test_id, cell, arm)`` when ``unit_id`` of ``area_id`` is in a test of one of
        ``arms``: cell ``B`` gets ``arm`` whatever the policy says, cell ``A`` follows the
        policy (both are logged with the test id); None when no test covers the decision."""
        ...


class Chooser:
    """The hourly choice over a catalogue (see the module docstring).

    Args:
        catalogue: the entries.
        seed: the random stream's seed (a run with the same seed chooses the same).
        policy: the choice probabilities of each group's arms (default: the catalogue's fixed
            weights over the entries' own arguments, as before learning existed).
        area_types: area id -> its type (urban, suburban, rural), a public attribute of the
            area that the policy's context uses (unknown when absent).
        explore: offer the entries' alternative argument levels and each group's hold arm
            (default: whenever the policy is not the fixed one).
    """

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        seed: int = 0,
        policy: ChoicePolicy | None = None,
        area_types: Mapping[str, str] | None = None,
        explore: bool | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.seed = seed
        self.policy: ChoicePolicy = policy or FixedPolicy(
            weights={e.id: e.weight for e in catalogue.entries},
            version=catalogue.policy_version,
        )
        self.area_types = dict(area_types or {})
        self.explore = not isinstance(self.policy, FixedPolicy) if explore is None else explore
        self.states: dict[str, AreaState] = {}
        self._by_trigger = catalogue.by_trigger()
        self._order: dict[str, int] = {}
        for i, entry in enumerate(catalogue.entries):
            self._order.setdefault(entry.group, i)
        self._reserved: dict[str, tuple[str, str, str, float]] = {}
        self._restored: set[str] = set()  # decisions replayed by restore()
        #: Local A/B tests whose B cells this chooser serves (None: no test runs).
        self.cells: Cells | None = None

    def state(self, area_id: str) -> AreaState:
        """The area's state (created on first use)."""
        st = self.states.get(area_id)
        if st is None:
            st = self.states[area_id] = AreaState()
        return st

    def choose(self, situation: Situation) -> list[Choice]:
        """The interventions of this hour for every area with a firing trigger."""
        hour_seed = int(situation.now.timestamp() // 3600)
        rng = np.random.default_rng([self.seed, hour_seed])
        ranked = self._rank(situation)
        kpis = {
            row["area_id"]: row
            for row in situation.scorecard.filter(
                pl.col("area_id").is_in(list(situation.firing))
            ).iter_rows(named=True)
        }
        out: list[Choice] = []
        for area_id in sorted(situation.firing):
            triggers = situation.firing[area_id]
            groups: dict[str, dict[str, tuple[Entry, list[str]]]] = {}
            # A signal names its own units (the spiking SKU, the clustering tech): when one
            # entry has a signal and an area rule firing at once, the signal's pick is tried
            # first, the rule's when the signal's units are all cooling down or filtered out.
            for name in sorted(triggers, key=lambda n: (n not in situation.signal_units, n)):
                for entry in self._by_trigger.get(name, ()):
                    group_entries = groups.setdefault(entry.group, {})
                    group_entries.setdefault(entry.id, (entry, []))[1].append(name)
            acted = 0
            # Groups in catalogue order: earlier entries are the operator's priorities.
            for group in sorted(groups, key=lambda g: self._order[g]):
                if acted >= self.catalogue.max_actions_per_area_hour:
                    break
                eligible = []
                for entry, names in groups[group].values():
                    if not self._affordable(entry, area_id, situation.now):
                        continue
                    for trigger in names:
                        picked = self._target(entry, trigger, area_id, situation, ranked)
                        if picked is not None:
                            eligible.append((entry, trigger, picked))
                            break
                if not eligible:
                    continue
                arms, options = self._arms(group, eligible, area_id, situation.now)
                bucket = bucket_of(self.area_types.get(area_id), eligible[0][2][2])
                probs = self.policy.probabilities(group, bucket, arms, rng)
                i = int(rng.choice(len(arms), p=probs)) if len(arms) > 1 else 0
                test = self._cell(area_id, arms, options) if self.cells is not None else None
                if test is not None and test[1] == "B":
                    # The B cell of a local test gets the tactic: the unit's assignment (random,
                    # logged with the test) decided, so the propensity given it is 1.
                    i = arms.index(test[2])
                    probs = np.zeros(len(arms))
                    probs[i] = 1.0
                entry, trigger, (target_id, args, unit_row), level = options[i]
                choice = self._commit(
                    entry,
                    trigger,
                    area_id,
                    target_id,
                    args,
                    unit_row,
                    float(probs[i]),
                    kpis.get(area_id, {}),
                    triggers,
                    situation.now,
                    arm=arms[i],
                    level=level,
                    learning={
                        "arm": arms[i],
                        "group": group,
                        "bucket": bucket,
                        "arms": arms,
                        "probs": [round(float(p), 6) for p in probs],
                        **({"test_id": test[0], "cell": test[1]} if test is not None else {}),
                    },
                )
                out.append(choice)
                acted += 1
        return out

    # ----------------------------------------------------------------- pieces

    def _cell(
        self,
        area_id: str,
        arms: Sequence[str],
        options: Sequence[tuple[Entry, str, tuple[str, dict[str, Any], dict[str, Any]], int]],
    ) -> tuple[str, str, str] | None:
        """The local test covering this decision, asked per eligible entry with that entry's
        own target (a zip, tech, SKU or customer batch) and arms; a B cell wins over an A."""
        assert self.cells is not None
        found: tuple[str, str, str] | None = None
        asked: set[str] = set()
        for entry, _trigger, (target_id, _args, _row), _level in options:
            if entry.id in asked:
                continue
            asked.add(entry.id)
            own = [a for a, o in zip(arms, options, strict=True) if o[0] is entry and o[3] >= 0]
            test = self.cells.cell(area_id, target_id, own)
            if test is not None and (test[1] == "B" or found is None):
                found = test
                if test[1] == "B":
                    break
        return found

    def _arms(
        self,
        group: str,
        eligible: list[tuple[Entry, str, tuple[str, dict[str, Any], dict[str, Any]]]],
        area_id: str,
        now: datetime,
    ) -> tuple[list[str], list[tuple[Entry, str, tuple[str, dict[str, Any], dict[str, Any]], int]]]:
        """The group's arms: each eligible entry at each affordable level, then hold.

        Without exploration, only each entry's own level (the fixed policy's choice set). The
        hold arm stands for the first eligible entry's target (its outcome is measured there).
        """
        arms: list[str] = []
        options: list[tuple[Entry, str, tuple[str, dict[str, Any], dict[str, Any]], int]] = []
        for entry, trigger, (target_id, args, row) in eligible:
            arms.append(arm_id(entry.id, 0))
            options.append((entry, trigger, (target_id, args, row), 0))
            if not self.explore:
                continue
            for level in range(1, len(entry.levels) + 1):
                if not self._affordable(entry, area_id, now, cost=entry.level_cost(level)):
                    continue
                level_args = {**args, **entry.levels[level - 1].args}
                arms.append(arm_id(entry.id, level))
                options.append((entry, trigger, (target_id, level_args, row), level))
        if self.explore:
            entry, trigger, picked = eligible[0]
            arms.append(hold_arm(group))
            options.append((entry, trigger, picked, -1))
        return arms, options

    def _rank(self, sit: Situation) -> dict[tuple[str, str], _Ranked]:
        """Per (entry, trigger): each area's best candidate units, best first (top 20).

        One filter-sort-partition per entry for the areas where the trigger fires, instead of
        one per area; rows become dictionaries only when :meth:`_target` looks at them (it
        usually stops at the first).
        """
        wanted = {t for fired in sit.firing.values() for t in fired}
        out: dict[tuple[str, str], _Ranked] = {}
        for entry in self.catalogue.entries:
            t = entry.target
            if t.unit not in _ID_COLUMN or t.by is None:
                continue
            frame = sit.units.get(t.unit)
            if frame is None:
                continue
            id_col = _ID_COLUMN[t.unit]
            base = frame.filter(pl.col(t.by).is_not_null())
            for col, conds in t.where.items():
                for op, value in conds.items():
                    base = base.filter(COMPARISONS[op](pl.col(col), value))
            for trigger in entry.trigger:
                if trigger not in wanted:
                    continue
                areas = [a for a, fired in sit.firing.items() if trigger in fired]
                cands = base.filter(pl.col("area_id").is_in(areas))
                named = sit.signal_units.get(trigger)
                if named is not None:  # a signal names its own units
                    cands = cands.join(named, on=["area_id", id_col], how="semi")
                cands = (
                    cands.sort(
                        "area_id", t.by, id_col, descending=[False, t.pick == "highest", False]
                    )
                    .group_by("area_id", maintain_order=True)
                    .head(20)
                )
                out[(entry.id, trigger)] = _Ranked(cands)
        return out

    def _target(
        self,
        entry: Entry,
        trigger: str,
        area_id: str,
        sit: Situation,
        ranked: Mapping[tuple[str, str], _Ranked],
    ) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        st = self.state(area_id)
        t = entry.target
        args = dict(entry.args)
        if t.unit in ("customers", "area"):
            if self._cooling(st, entry.id, "*", sit.now):
                return None
            if t.unit == "area":
                args[TARGET_ARG[entry.kind]] = area_id
                return area_id, args, {}
            fresh = [c for c in sit.customers.get(area_id, []) if c not in st.credited]
            chosen = fresh[: t.max_units]
            if not chosen:
                return None
            args[TARGET_ARG[entry.kind]] = chosen
            return ",".join(chosen), args, {"customers": len(chosen)}
        id_col = _ID_COLUMN[t.unit]
        table = ranked.get((entry.id, trigger))
        for row in table.rows(area_id) if table is not None else ():
            target_id = str(row[id_col])
            if self._cooling(st, entry.id, target_id, sit.now):
                continue
            args[TARGET_ARG[entry.kind]] = target_id
            if entry.kind == "locker_buffer":
                locker = sit.lockers.get((area_id, target_id))
                if locker is None:
                    continue
                args["locker_id"] = locker
            return target_id, args, row
        return None

    @staticmethod
    def _cooling(st: AreaState, entry_id: str, target: str, now: datetime) -> bool:
        until = st.cooldown_until.get((entry_id, target))
        return until is not None and now < until

    def _affordable(
        self, entry: Entry, area_id: str, now: datetime, *, cost: float | None = None
    ) -> bool:
        st = self.state(area_id)
        week = week_key(now)
        cost = entry.cost_usd if cost is None else cost
        cap = self.catalogue.area_weekly_budget_usd
        if cap is not None and st.spend.get(week, 0.0) + cost > paced(
            cap, now, self.catalogue.area_budget_pacing
        ):
            return False
        if entry.weekly_budget_usd is not None and (
            st.entry_spend.get((entry.id, week), 0.0) + cost > entry.weekly_budget_usd
        ):
            return False
        return not (
            entry.weekly_max_actions is not None
            and st.entry_count.get((entry.id, week), 0) >= entry.weekly_max_actions
        )

    def _commit(
        self,
        entry: Entry,
        trigger: str,
        area_id: str,
        target_id: str,
        args: dict[str, Any],
        unit_row: Mapping[str, Any],
        propensity: float,
        kpis: Mapping[str, Any],
        triggers: Mapping[str, float | None],
        now: datetime,
        *,
        arm: str = "",
        level: int = 0,
        learning: Mapping[str, Any] | None = None,
    ) -> Choice:
        st = self.state(area_id)
        week = week_key(now)
        key = target_id if entry.target.unit not in ("customers", "area") else "*"
        # Holding starts the cooldown too: the same tail of the same unit is looked at again
        # when the entry could act on it again, not every hour.
        st.cooldown_until[(entry.id, key)] = now + entry.cooldown
        decision_id = f"dec-{uuid.uuid4().hex[:16]}"
        cost = 0.0
        if level >= 0:
            cost = entry.level_cost(level)
            st.spend[week] = st.spend.get(week, 0.0) + cost
            st.entry_spend[(entry.id, week)] = st.entry_spend.get((entry.id, week), 0.0) + cost
            st.entry_count[(entry.id, week)] = st.entry_count.get((entry.id, week), 0) + 1
            if entry.target.unit == "customers":
                st.credited.update(args[TARGET_ARG[entry.kind]])
            self._reserved[decision_id] = (area_id, entry.id, week, cost)
        baseline: float | None = None
        if entry.outcome is not None:
            source = unit_row if entry.outcome.scope == "unit" else kpis
            value = source.get(entry.outcome.kpi)
            baseline = None if value is None else float(value)
        unit = {k: v for k, v in unit_row.items() if k != "area_id"}
        arm = arm or arm_id(entry.id, 0)
        return Choice(
            decision_id=decision_id,
            area_id=area_id,
            entry=entry,
            trigger=trigger,
            target_type=entry.target.unit,
            target_id=target_id,
            args=args,
            propensity=propensity,
            context={
                "kpis": {k: v for k, v in kpis.items() if k != "area_id"},
                "triggers": dict(triggers),
                "unit": unit,
                **(learning or {}),
            },
            baseline_value=baseline,
            arm=arm,
            policy_version=self.policy.version,
            cost_usd=cost,
        )

    def restore(self, decisions: Iterable[DecisionState]) -> int:
        """Rebuild the areas' cooldowns, weekly spend and counts from recorded decisions.

        What :meth:`_commit` and :meth:`release` did in an earlier process, replayed from its
        decisions (oldest first): every decision starts its cooldown and counts towards its
        entry's weekly action cap; its estimated cost stays in the week's budgets unless it
        was rejected, timed out or failed; one still undecided (``decided`` or
        ``pending_approval``) is reserved again so a later rejection gives its cost back.
        Customers credited by a decision are not credited again. Pass the decisions of at
        least the current ISO week and the longest cooldown. A decision already known here is
        skipped, and so is one whose entry the catalogue no longer has (its cooldown and
        budgets went with the entry). Returns how many decisions were replayed.
        """
        entries = {e.id: e for e in self.catalogue.entries}
        released = ("rejected", "timeout", "failed", "skipped")
        n = 0
        for d in decisions:
            entry = entries.get(d.entry_id)
            if entry is None or d.decision_id in self._restored:
                continue
            self._restored.add(d.decision_id)
            st = self.state(d.area_id)
            week = week_key(d.decided_at)
            key = d.target_id if entry.target.unit not in ("customers", "area") else "*"
            until = d.decided_at + entry.cooldown
            st.cooldown_until[(entry.id, key)] = max(
                until, st.cooldown_until.get((entry.id, key), until)
            )
            if d.kind == "hold":  # a hold only started its cooldown
                n += 1
                continue
            count_key = (entry.id, week)
            st.entry_count[count_key] = st.entry_count.get(count_key, 0) + 1
            if entry.target.unit == "customers":
                credited = d.args.get(TARGET_ARG[entry.kind], [])
                st.credited.update(credited if isinstance(credited, list) else [])
            if d.status not in released:
                cost = entry.level_cost(_level_of(d, entry))
                st.spend[week] = st.spend.get(week, 0.0) + cost
                st.entry_spend[count_key] = st.entry_spend.get(count_key, 0.0) + cost
                if d.status in ("decided", "pending_approval"):
                    self._reserved[d.decision_id] = (d.area_id, entry.id, week, cost)
            n += 1
        return n

    def release(self, decision_id: str) -> None:
        """Give a decision's estimated cost back to its budgets (it was rejected or failed)."""
        item = self._reserved.pop(decision_id, None)
        if item is None:
            return
        area_id, entry_id, week, cost = item
        st = self.state(area_id)
        st.spend[week] = max(0.0, st.spend.get(week, 0.0) - cost)
        st.entry_spend[(entry_id, week)] = max(
            0.0, st.entry_spend.get((entry_id, week), 0.0) - cost
        )

    def settle(self, decision_id: str) -> None:
        """Forget a decision's budget bookkeeping once it executed (its spend stays)."""
        self._reserved.pop(decision_id, None)


def _level_of(d: DecisionState, entry: Entry) -> int:
    """The argument level a recorded decision played (its arguments tell; 0 when none fits)."""
    for level in range(len(entry.levels), 0, -1):
        if all(d.args.get(k) == v for k, v in entry.levels[level - 1].args.items()):
            return level
    return 0
