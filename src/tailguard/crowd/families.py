"""Families of similar tactics: levels of one catalogue entry, entries of one kind.

The exchange estimates each tactic at its exact catalogue entry and argument level
(``late_zip_routing_boost[hours=48,weight=0.15]``). Areas that use other levels of the same
entry, or other entries of the same kind (three ``master_tech_shadow`` entries), often see the
same effect, and pooling them would give more adopters per cluster, so earlier and tighter
estimates. Pooling is only sound when the members really act alike, so a family is formed per
cluster and target KPI only when:

* it has at least two members with their own estimate in the cluster (compatibility cannot
  be judged on one), and
* Cochran's Q test of "the members' lifts differ" (inverse-variance weights, ``m - 1``
  degrees of freedom) has a p-value of at least ``family_alpha`` (0.1), and
* pooling adds adopters or earlier adoption weeks to every member (a family whose pooled
  adoptions are one member's would only repeat that member's estimate).

The family's lift is then estimated afresh (not averaged: members share adopters) on the
cluster's panel with each area's first adoption of any compatible member as its adoption
week, by the same estimator and small-sample SE, and enters the night's Benjamini-Hochberg
pool like any tactic. Families are named ``<entry>[*]`` (levels of one entry) and
``kind:<kind>[*]`` (entries of one kind; only when its members span two entries or more) and
list their members. A family is no single arm, so it is never tagged for a local test
(:meth:`~tailguard.crowd.exchange.ExchangeResult.proven_elsewhere` skips it); it tells a
coach that a kind of tactic works in the cluster, whatever its exact level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import polars as pl
from scipy.stats import chi2

from tailguard.crowd.exchange import ExchangeSettings, TacticLift, cluster_lift


def entry_of(tactic: str) -> str:
    """The catalogue entry of a published tactic name (``entry[k=v,...]`` -> ``entry``)."""
    return tactic.split("[", 1)[0]


def family_keys(tactic: str, kinds: Mapping[str, str]) -> list[str]:
    """The families a tactic can join: its entry's levels, and its kind's entries."""
    entry = entry_of(tactic)
    keys = [f"{entry}[*]"]
    kind = kinds.get(entry)
    if kind is not None:
        keys.append(f"kind:{kind}[*]")
    return keys


def heterogeneity_p(lifts: Sequence[TacticLift]) -> float:
    """Cochran's Q p-value that the lifts differ (1.0 for fewer than two, or no finite SE)."""
    x = np.array([t.lift for t in lifts], dtype=np.float64)
    se = np.array([t.se for t in lifts], dtype=np.float64)
    ok = np.isfinite(se) & (se > 0)
    if ok.sum() < 2:
        return 1.0
    w = 1.0 / se[ok] ** 2
    mean = float((w * x[ok]).sum() / w.sum())
    q = float((w * (x[ok] - mean) ** 2).sum())
    return float(chi2.sf(q, int(ok.sum()) - 1))


def _adoptions(adopted: pl.DataFrame, cluster: str, kpi: str, tactic: str) -> set[tuple[str, int]]:
    return set(
        adopted.filter(
            (pl.col("cluster") == cluster) & (pl.col("kpi") == kpi) & (pl.col("tactic") == tactic)
        )
        .select("area_id", "adopted_period")
        .iter_rows()
    )


def family_lifts(
    by_kpi: Mapping[str, pl.DataFrame],
    adopted: pl.DataFrame,
    lifts: Sequence[TacticLift],
    settings: ExchangeSettings,
    kinds: Mapping[str, str],
) -> list[TacticLift]:
    """The night's families of compatible tactics, each with its pooled lift.

    Args:
        by_kpi: KPI -> the KPI's rows ``area_id, period, value, cluster``.
        adopted: ``area_id, tactic, kpi, adopted_period, cluster``.
        lifts: the night's lifts of single tactics.
        settings: the exchange settings (``family_alpha``, ``min_adopters``...).
        kinds: catalogue entry -> kind.
    """
    groups: dict[tuple[str, str, str], list[TacticLift]] = {}
    for x in lifts:
        if x.members:
            continue
        for key in family_keys(x.tactic, kinds):
            groups.setdefault((x.cluster, x.kpi, key), []).append(x)
    out: list[TacticLift] = []
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    for (cluster, kpi, key), members in sorted(groups.items()):
        names = tuple(sorted(m.tactic for m in members))
        if len(names) < 2 or (cluster, kpi, names) in seen:
            continue
        if key.startswith("kind:") and len({entry_of(n) for n in names}) < 2:
            continue  # the same members as the entry's own family
        if heterogeneity_p(members) < settings.family_alpha:
            continue
        seen.add((cluster, kpi, names))
        rows = by_kpi.get(kpi)
        if rows is None:
            continue
        first = (
            adopted.filter(
                (pl.col("cluster") == cluster)
                & (pl.col("kpi") == kpi)
                & pl.col("tactic").is_in(list(names))
            )
            .group_by("area_id")
            .agg(pl.col("adopted_period").min())
        )
        pooled = set(first.select("area_id", "adopted_period").iter_rows())
        if any(_adoptions(adopted, cluster, kpi, m) == pooled for m in names):
            continue  # one member already has every adopter at the same week: nothing to add
        lift = cluster_lift(
            rows.filter(pl.col("cluster") == cluster),
            first,
            tactic=key,
            kpi=kpi,
            cluster=cluster,
            settings=settings,
            replications=sum(m.replications for m in members),
        )
        if lift is not None:
            out.append(replace(lift, members=names))
    return out
