"""Clustering areas by KPI profile and type: deterministic k-means on standardised KPI means.

Areas of one type tend to respond alike to a tactic, and so do areas whose KPIs look alike.
Each area is a point: its KPI means standardised across areas, plus its type one-hot encoded
and scaled up so that areas of different types are not merged. k-means++ starts from a fixed
seed, so the same store gives the same clusters; clusters are named ``C1``, ``C2``, ... in the
order of their first area id.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import polars as pl

from tailguard.errors import InvalidInputError

TYPE_WEIGHT = 3.0


def _kmeans(
    x: npt.NDArray[np.float64], k: int, seed: int, iters: int = 100
) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(seed)
    n = len(x)
    centres = [x[int(rng.integers(n))]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.array(centres)[None]) ** 2).sum(axis=2), axis=1)
        total = d2.sum()
        pick = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centres.append(x[pick])
    c = np.array(centres)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iters):
        new = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(axis=2), axis=1)
        if (new == labels).all() and _ > 0:
            break
        labels = new
        for j in range(k):
            if (labels == j).any():
                c[j] = x[labels == j].mean(axis=0)
    return labels


def cluster_areas(
    kpis: pl.DataFrame, area_types: Mapping[str, str], *, k: int | None = None, seed: int = 0
) -> dict[str, str]:
    """Assign every area a cluster name.

    Args:
        kpis: long rows ``area_id, kpi, period, value``.
        area_types: each area's type (areas missing here get type ``unknown``).
        k: number of clusters; default the number of area types.
        seed: the k-means++ seed.
    """
    if kpis.is_empty():
        raise InvalidInputError("no KPI observations to cluster areas by")
    wide = (
        kpis.group_by("area_id", "kpi")
        .agg(pl.col("value").mean())
        .pivot(on="kpi", index="area_id", values="value")
        .sort("area_id")
    )
    areas = wide["area_id"].to_list()
    values = wide.drop("area_id").to_numpy().astype(np.float64)
    mean = np.nanmean(values, axis=0)
    sd = np.nanstd(values, axis=0)
    sd[~(sd > 0)] = 1.0
    z = np.nan_to_num((values - mean) / sd)
    types = [area_types.get(a, "unknown") for a in areas]
    names = sorted(set(types))
    onehot = np.array([[TYPE_WEIGHT * (t == n) for n in names] for t in types], dtype=np.float64)
    x = np.hstack([z, onehot])
    k = min(len(areas), k or len(names))
    labels = _kmeans(x, k, seed)
    first: dict[int, str] = {}
    for area, label in zip(areas, labels.tolist(), strict=True):
        first.setdefault(label, area)
    rename = {label: f"C{i + 1}" for i, label in enumerate(sorted(first, key=first.__getitem__))}
    return {a: rename[lab] for a, lab in zip(areas, labels.tolist(), strict=True)}
