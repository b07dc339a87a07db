"""Agents on against agents off, paired by area: how much of a difference, and how sure.

Both arms run the same network on the same seed (common random numbers), so the honest
comparison is paired: for every area, the share of its hours inside a band with the agents on
minus the same share with them off. The network-wide difference is the mean of those per-area
differences (every area has the same number of hours, so it equals the difference of the two
pooled shares), and its uncertainty comes from resampling areas (a percentile bootstrap): hours
of one area are strongly correlated, areas much less so, so the area is the unit of resampling.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import polars as pl

#: Bootstrap resamples and their seed (fixed: the same demo writes the same summary).
RESAMPLES: Final = 2000
SEED: Final = 20260105


def paired_difference(
    hourly: pl.DataFrame, column: str, *, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """The agents-on minus agents-off difference of ``column``'s share, in percentage points.

    Args:
        hourly: one row per (arm, hour, area_id) with a boolean ``column`` (null: no data, left
            out of that area's share), arms ``on`` and ``off``.
        column: an ``inside_*`` column.
        resamples: bootstrap resamples over areas.
        seed: the bootstrap's seed.

    Returns:
        ``{"points", "ci95": [lo, hi], "areas", "areas_better", "areas_worse"}``; ``points`` is
        None when no area has data in both arms.
    """
    per_area = (
        hourly.filter(pl.col(column).is_not_null())
        .group_by("area_id", "arm")
        .agg(pl.col(column).cast(pl.Float64).mean().alias("share"))
        .pivot(on="arm", index="area_id", values="share")
    )
    if not {"on", "off"} <= set(per_area.columns):
        return {"points": None, "ci95": None, "areas": 0, "areas_better": 0, "areas_worse": 0}
    diffs = (
        per_area.drop_nulls(["on", "off"])
        .sort("area_id")
        .select((100.0 * (pl.col("on") - pl.col("off"))).alias("d"))["d"]
        .to_numpy()
    )
    if diffs.size == 0:
        return {"points": None, "ci95": None, "areas": 0, "areas_better": 0, "areas_worse": 0}
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, diffs.size, size=(resamples, diffs.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {
        "points": round(float(diffs.mean()), 3),
        "ci95": [round(float(lo), 3), round(float(hi), 3)],
        "areas": int(diffs.size),
        "areas_better": int((diffs > 0).sum()),
        "areas_worse": int((diffs < 0).sum()),
    }


def compare_arms(hourly: pl.DataFrame, bands: list[str]) -> dict[str, Any]:
    """Paired differences for ``inside_all`` and each band id in ``bands``."""
    return {
        "guardband_pass_pct": paired_difference(hourly, "inside_all"),
        "band_pass_pct": {b: paired_difference(hourly, f"inside_{b}") for b in bands},
        "method": (
            "mean over areas of (agents-on share - agents-off share) of area-hours inside, in "
            f"percentage points; 95 % percentile bootstrap over areas ({RESAMPLES} resamples)"
        ),
    }
