"""Inverted-CDF percentiles: exact (Polars, NumPy) and approximate (KLL sketches).

INTERFACES.md section 2 defines a percentile with the inverted CDF: the ``p``-th percentile of
``n`` sorted values is the value at 1-based rank ``ceil(p * n / 100)``. Percentiles are integers
here (10, 90, 95) so that rank is computed in integer arithmetic: ``0.1 * 30`` is
``3.0000000000000004`` in floating point, whose ceiling would pick the wrong value.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
from datasketches import kll_doubles_sketch

#: KLL accuracy parameter. k=400 gives a normalized rank error of about 0.68 % (99 %
#: confidence), inside the 1 % INTERFACES.md allows, at ~6 KiB per full sketch.
KLL_K: Final = 400


def rank_of(n: int, p: int) -> int:
    """The 1-based rank of the ``p``-th inverted-CDF percentile among ``n`` values (n >= 1)."""
    return max(1, (p * n + 99) // 100)


def pctl_expr(column: str, p: int) -> pl.Expr:
    """A Polars aggregation: the inverted-CDF ``p``-th percentile of ``column`` in a group.

    Nulls must be filtered out before; an empty group gives null.
    """
    index = ((pl.len() * p + 99) // 100 - 1).clip(lower_bound=0)
    return pl.col(column).sort().get(index)


def pctl_numpy(values: npt.NDArray[np.float64], p: int) -> float | None:
    """The inverted-CDF ``p``-th percentile of ``values``; None when empty."""
    if values.size == 0:
        return None
    ordered = np.sort(values)
    return float(ordered[rank_of(int(values.size), p) - 1])


def weighted_pctl(
    values: npt.NDArray[np.float64], weights: npt.NDArray[np.int64], p: int
) -> float | None:
    """The inverted-CDF percentile of a weighted sample (weights are integer counts)."""
    if values.size == 0:
        return None
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    total = int(cum[-1])
    target = rank_of(total, p)
    return float(values[order][int(np.searchsorted(cum, target, side="left"))])


def new_sketch() -> kll_doubles_sketch:
    """An empty KLL sketch with the project's accuracy."""
    return kll_doubles_sketch(KLL_K)


def sketch_of(values: npt.NDArray[np.float64]) -> kll_doubles_sketch:
    """A KLL sketch of ``values`` (one batch update from NumPy)."""
    sketch = new_sketch()
    if values.size:
        sketch.update(np.require(values, np.float64, ["C", "W"]))
    return sketch


def sketch_pctl(sketch: kll_doubles_sketch, p: int) -> float | None:
    """The approximate inverted-CDF percentile of a sketch; None when empty."""
    if sketch.is_empty():
        return None
    # inclusive=True: the smallest retained item whose inclusive rank reaches p, which is the
    # inverted-CDF definition.
    return float(sketch.get_quantile(p / 100.0, True))
