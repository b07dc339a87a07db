"""Drift between last week's and this week's distribution of a KPI over an area's units.

Four measures, all computed exactly from the raw values of the two weeks (no sampling):

* **normalised Wasserstein** (``wasserstein_norm``): the earth mover's distance W1 between the
  two empirical distributions (the area between their CDFs) divided by last week's standard
  deviation (by ``max(|mean|, 1)`` when that is 0), so 0.1 reads "moved a tenth of a usual
  spread" whatever the KPI's unit;
* **KS** (``ks``): the two-sample Kolmogorov-Smirnov statistic, the largest gap between the
  two empirical CDFs (0..1);
* **PSI** (``psi``): the population stability index over bins cut at last week's deciles
  (fewer bins when values repeat, and ``n // 10`` bins, at least 2, when last week has fewer
  than 100 values, since PSI over sparse bins is mostly noise), with empty-bin shares floored
  at ``PSI_EPS``;
* **Jensen-Shannon** (``js``): the Jensen-Shannon divergence in bits (0..1) over the same
  bins, exact (``0 log 0 = 0``, no flooring).

Thresholds (:data:`THRESHOLDS`): PSI >= 0.1 is a moderate shift and >= 0.25 a major one (the
credit-scoring rule of thumb); JS >= 0.1 bits; normalised Wasserstein >= 0.1; KS above the
two-sample critical value at alpha = 0.05, ``1.358 * sqrt((n + m) / (n * m))``. A KPI drifts
when any measure crosses its threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

#: Smallest bin share PSI uses (an empty bin would make the log infinite).
PSI_EPS: Final = 1e-4
#: At most this many bins (last week's deciles) cut the PSI / JS bins...
N_BINS: Final = 10
#: ...and at least this many of last week's values per bin (fewer, wider bins for small areas).
MIN_PER_BIN: Final = 10
#: Drift thresholds of each measure (KS: the critical value is computed from n and m).
THRESHOLDS: Final = {"psi": 0.1, "psi_major": 0.25, "js": 0.1, "wasserstein_norm": 0.1}
#: KS coefficient c(alpha) for alpha = 0.05.
KS_C_ALPHA: Final = 1.358


def _clean(values: npt.ArrayLike) -> F64:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return np.sort(arr[np.isfinite(arr)])


def _cdfs(a: F64, b: F64) -> tuple[F64, F64, F64]:
    """The pooled sorted support and both right-continuous empirical CDFs on it."""
    grid = np.unique(np.concatenate([a, b]))
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    return grid, fa, fb


def wasserstein(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """W1 between two samples: the integral of ``|F_a - F_b|`` over the real line."""
    x, y = _clean(a), _clean(b)
    if x.size == 0 or y.size == 0:
        return math.nan
    grid, fa, fb = _cdfs(x, y)
    return float(np.sum(np.abs(fa[:-1] - fb[:-1]) * np.diff(grid)))


def wasserstein_norm(before: npt.ArrayLike, after: npt.ArrayLike) -> float:
    """W1 divided by the spread of ``before`` (its standard deviation, else ``max(|mean|, 1)``)."""
    x = _clean(before)
    w = wasserstein(x, after)
    if math.isnan(w):
        return w
    sd = float(np.std(x))
    scale = sd if sd > 0 else max(abs(float(np.mean(x))), 1.0)
    return w / scale


def ks(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """The two-sample Kolmogorov-Smirnov statistic ``sup |F_a - F_b|``."""
    x, y = _clean(a), _clean(b)
    if x.size == 0 or y.size == 0:
        return math.nan
    _, fa, fb = _cdfs(x, y)
    return float(np.max(np.abs(fa - fb)))


def ks_critical(n: int, m: int) -> float:
    """The KS statistic above which two samples of sizes n and m differ at alpha = 0.05."""
    if n == 0 or m == 0:
        return math.nan
    return KS_C_ALPHA * math.sqrt((n + m) / (n * m))


def bins_for(n: int) -> int:
    """PSI / JS bins for a baseline of ``n`` values: about 10 values a bin, 2 to 10 bins."""
    return max(2, min(N_BINS, n // MIN_PER_BIN))


def bin_edges(before: npt.ArrayLike, n_bins: int = N_BINS) -> F64:
    """Inner bin edges at the deciles of ``before`` (duplicates dropped).

    A value ``v`` falls in bin ``i`` when ``edges[i-1] < v <= edges[i]`` (first bin: up to
    ``edges[0]``; last: above ``edges[-1]``), so ties stay together.
    """
    x = _clean(before)
    if x.size == 0:
        return np.empty(0)
    ranks = [max(1, math.ceil(k * x.size / n_bins)) - 1 for k in range(1, n_bins)]
    edges = np.unique(x[ranks])
    return edges[edges < x[-1]] if edges.size else edges


def shares(values: npt.ArrayLike, edges: F64) -> F64:
    """Share of ``values`` in each bin cut by ``edges`` (see :func:`bin_edges`)."""
    x = _clean(values)
    counts = np.bincount(np.searchsorted(edges, x, side="left"), minlength=edges.size + 1)
    return counts / max(x.size, 1)


def psi(p: npt.ArrayLike, q: npt.ArrayLike, eps: float = PSI_EPS) -> float:
    """PSI of bin shares ``q`` (this week) against ``p`` (last week): sum (q-p) ln(q/p)."""
    pp = np.maximum(np.asarray(p, dtype=np.float64), eps)
    qq = np.maximum(np.asarray(q, dtype=np.float64), eps)
    return float(np.sum((qq - pp) * np.log(qq / pp)))


def js_divergence(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Jensen-Shannon divergence of two bin-share vectors, in bits (0..1)."""
    pp = np.asarray(p, dtype=np.float64)
    qq = np.asarray(q, dtype=np.float64)
    m = 0.5 * (pp + qq)

    def kl(a: F64, b: F64) -> float:
        keep = a > 0
        return float(np.sum(a[keep] * np.log2(a[keep] / b[keep])))

    return max(0.0, 0.5 * kl(pp, m) + 0.5 * kl(qq, m))


@dataclass(frozen=True, kw_only=True, slots=True)
class Drift:
    """The drift of one KPI's unit distribution between two weeks (NaN: not computable)."""

    n_before: int
    n_after: int
    wasserstein_norm: float
    ks: float
    ks_critical: float
    psi: float
    js: float

    @property
    def flags(self) -> tuple[str, ...]:
        """The measures past their threshold."""
        out = []
        if self.psi >= THRESHOLDS["psi"]:
            out.append("psi")
        if self.js >= THRESHOLDS["js"]:
            out.append("js")
        if self.wasserstein_norm >= THRESHOLDS["wasserstein_norm"]:
            out.append("wasserstein")
        if self.ks > self.ks_critical:
            out.append("ks")
        return tuple(out)

    @property
    def level(self) -> str:
        """``none``, ``moderate`` or ``major`` (PSI >= 0.25 or three measures flagged)."""
        flags = self.flags
        if not flags:
            return "none"
        if self.psi >= THRESHOLDS["psi_major"] or len(flags) >= 3:
            return "major"
        return "moderate"

    def to_dict(self) -> dict[str, float | int | str | list[str] | None]:
        """JSON-ready (NaN becomes None)."""

        def num(v: float) -> float | None:
            return None if math.isnan(v) else round(v, 6)

        return {
            "n_before": self.n_before,
            "n_after": self.n_after,
            "wasserstein_norm": num(self.wasserstein_norm),
            "ks": num(self.ks),
            "ks_critical": num(self.ks_critical),
            "psi": num(self.psi),
            "js": num(self.js),
            "flags": list(self.flags),
            "level": self.level,
        }


def drift(before: npt.ArrayLike, after: npt.ArrayLike) -> Drift:
    """Every drift measure of ``after`` (this week) against ``before`` (last week)."""
    x, y = _clean(before), _clean(after)
    if x.size == 0 or y.size == 0:
        nan = math.nan
        return Drift(
            n_before=int(x.size),
            n_after=int(y.size),
            wasserstein_norm=nan,
            ks=nan,
            ks_critical=nan,
            psi=nan,
            js=nan,
        )
    edges = bin_edges(x, bins_for(int(x.size)))
    p, q = shares(x, edges), shares(y, edges)
    return Drift(
        n_before=int(x.size),
        n_after=int(y.size),
        wasserstein_norm=wasserstein_norm(x, y),
        ks=ks(x, y),
        ks_critical=ks_critical(int(x.size), int(y.size)),
        psi=psi(p, q),
        js=js_divergence(p, q),
    )
