"""Innovation Delta reputation and the coaches' view (exporters, importers, laggards).

An area earns Innovation Delta points only when a tactic it published replicates: an
independent local A/B test in another area (one that had not adopted the tactic itself)
confirmed the uplift and adopted it. Each replication is worth the replicated lift in units of
its own standard error, capped at 5 so one lucky test cannot dominate; the points go to every
area that had published the tactic before the test started, so adoption alone and tactics
that fail to replicate earn nothing.

Coaches see exporters (areas with points, highest first), importers (areas that adopted a
proven tactic through a local test) and laggards (areas with a tactic proven in their cluster
that they neither adopted nor tested).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import polars as pl

from tailguard.crowd.did import Z95
from tailguard.crowd.exchange import ExchangeResult
from tailguard.crowd.store import LocalTest

MAX_POINTS_PER_REPLICATION = 5.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Reputation:
    """An area's Innovation Delta."""

    area_id: str
    points: float
    replicated_tactics: int
    replications: int


def _strength(test: LocalTest) -> float:
    if test.lift is None or test.lift_lo is None or test.lift_hi is None:
        return 0.0
    se = (test.lift_hi - test.lift_lo) / (2 * Z95)
    if se <= 0:
        return MAX_POINTS_PER_REPLICATION if test.lift > 0 else 0.0
    return max(0.0, min(MAX_POINTS_PER_REPLICATION, test.lift / se))


def innovation_delta(adoptions: pl.DataFrame, tests: list[LocalTest]) -> list[Reputation]:
    """Points per publishing area, highest first.

    Args:
        adoptions: published adoptions ``area_id, tactic, kpi, adopted_period``.
        tests: every local test (only adopted ones, in non-adopting areas, count).
    """
    adopters: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for area, tactic, kpi, period in adoptions.select(
        "area_id", "tactic", "kpi", "adopted_period"
    ).iter_rows():
        adopters[(tactic, kpi)].append((area, int(period)))
    points: dict[str, float] = defaultdict(float)
    reps: dict[str, int] = defaultdict(int)
    tactics: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for test in tests:
        if test.status != "adopted":
            continue
        publishers = adopters.get((test.tactic, test.kpi), [])
        if any(area == test.area_id for area, _ in publishers):
            continue  # not independent: the testing area had published the tactic itself
        strength = _strength(test)
        if strength <= 0:
            continue
        for area, period in publishers:
            if period < test.started_period:
                points[area] += strength
                reps[area] += 1
                tactics[area].add((test.tactic, test.kpi))
    out = [
        Reputation(
            area_id=a, points=points[a], replicated_tactics=len(tactics[a]), replications=reps[a]
        )
        for a in points
    ]
    return sorted(out, key=lambda r: (-r.points, r.area_id))


def coaches_view(
    result: ExchangeResult, adoptions: pl.DataFrame, tests: list[LocalTest]
) -> dict[str, Any]:
    """``{"exporters", "importers", "laggards"}`` for the coaches' dashboard and API."""
    reputation = innovation_delta(adoptions, tests)
    imported: dict[str, list[str]] = defaultdict(list)
    touched: set[tuple[str, str]] = set()
    for t in tests:
        touched.add((t.area_id, t.tactic))
        if t.status == "adopted":
            imported[t.area_id].append(t.tactic)
    laggards = []
    for area in sorted(result.clusters):
        ignored = [
            x.tactic for x in result.proven_elsewhere(area) if (area, x.tactic) not in touched
        ]
        if ignored:
            laggards.append(
                {"area_id": area, "cluster": result.clusters[area], "ignored": sorted(ignored)}
            )
    return {
        "exporters": [
            {
                "area_id": r.area_id,
                "innovation_delta": r.points,
                "replicated_tactics": r.replicated_tactics,
                "replications": r.replications,
            }
            for r in reputation
        ],
        "importers": [
            {"area_id": a, "adopted": len(v), "tactics": sorted(v)}
            for a, v in sorted(imported.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ],
        "laggards": sorted(laggards, key=lambda r: (-len(r["ignored"]), r["area_id"])),
    }
