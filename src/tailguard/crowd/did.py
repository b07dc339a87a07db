"""Staggered-adoption difference-in-differences: Callaway and Sant'Anna, and the TWFE canary.

A panel is one row per (unit, period) with an outcome ``y`` and the unit's ``first_treated``
period (0: never treated). Units adopt a tactic at different periods (staggered adoption) and
the effect may differ by cohort and grow with exposure, so a plain two-way fixed-effects
regression is biased: it uses already-treated units as controls and weights some cells
negatively. :func:`callaway_santanna` estimates one 2x2 difference-in-differences per (cohort
``g``, period ``t``) cell instead,

    ATT(g, t) = mean over cohort g of (Y_t - Y_b)  -  mean over controls of (Y_t - Y_b),

with ``b`` the last period before ``g`` and the controls the units not yet treated at ``t``
(or never treated). A unit enters a cell only when it is observed at both ``t`` and ``b``
(unbalanced panels are fine). The overall ATT averages the post-treatment cells (t >= g),
weighting each by its number of treated units; its standard error comes from the units'
influence functions summed over cells, so it is clustered by unit. :func:`twfe` is kept only as
the canary the tests and the benchmark show biased.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from tailguard.errors import InvalidInputError

Z95: Final = 1.959963984540054
"""The two-sided 95 % normal quantile."""

PANEL_COLUMNS: Final = ("unit", "period", "y", "first_treated")

Control = Literal["not_yet_treated", "never_treated"]
FloatArray = npt.NDArray[np.float64]


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


@dataclass(frozen=True, kw_only=True, slots=True)
class CellEffect:
    """One group-time effect ATT(g, t) with the sizes of its treated and control groups."""

    cohort: int
    period: int
    base_period: int
    att: float
    n_treated: int
    n_control: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Estimate:
    """An average effect on the treated with its standard error and 95 % interval.

    Attributes:
        att: the estimate.
        se: its standard error (clustered by unit).
        method: ``callaway_santanna`` or ``twfe``.
        n_units: units in the panel.
        n_treated_units: units that entered at least one post-treatment cell as treated.
        cells: the post-treatment group-time effects it averages (empty for TWFE).
    """

    att: float
    se: float
    method: str
    n_units: int
    n_treated_units: int
    cells: tuple[CellEffect, ...] = ()

    @property
    def ci95(self) -> tuple[float, float]:
        """The normal 95 % interval."""
        return (self.att - Z95 * self.se, self.att + Z95 * self.se)

    @property
    def z(self) -> float:
        """The estimate over its standard error (inf when the SE is 0 and the ATT is not)."""
        if self.se > 0:
            return self.att / self.se
        return 0.0 if self.att == 0 else math.copysign(math.inf, self.att)

    @property
    def p_two_sided(self) -> float:
        """The two-sided p-value of ATT = 0."""
        return min(1.0, 2.0 * normal_sf(abs(self.z)))

    @property
    def p_uplift(self) -> float:
        """The one-sided p-value of ATT <= 0 (small: confident the effect is positive)."""
        return normal_sf(self.z)

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON shape (INTERFACES.md section 6) plus sizes."""
        lo, hi = self.ci95
        return {
            "att": self.att,
            "se": self.se,
            "ci95": [lo, hi],
            "method": self.method,
            "n_units": self.n_units,
            "n_treated_units": self.n_treated_units,
            "cells": len(self.cells),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class _Wide:
    """A panel as a unit x period matrix (NaN where a unit is not observed)."""

    y: FloatArray
    periods: npt.NDArray[np.int64]
    cohort: npt.NDArray[np.int64]


def _wide(panel: pl.DataFrame) -> _Wide:
    missing = [c for c in PANEL_COLUMNS if c not in panel.columns]
    if missing:
        raise InvalidInputError(f"panel lacks column(s) {', '.join(missing)}")
    if panel.is_empty():
        raise InvalidInputError("panel is empty")
    frame = panel.select(
        pl.col("unit").cast(pl.String),
        pl.col("period").cast(pl.Int64),
        pl.col("y").cast(pl.Float64),
        pl.col("first_treated").fill_null(0).cast(pl.Int64),
    )
    if frame["y"].is_nan().any() or frame["y"].is_infinite().any():
        raise InvalidInputError("panel y must be finite")
    if frame.select(pl.struct("unit", "period").is_duplicated().any()).item():
        raise InvalidInputError("panel has more than one row for a (unit, period)")
    per_unit = frame.group_by("unit").agg(pl.col("first_treated").n_unique().alias("n"))
    if (per_unit["n"] > 1).any():
        raise InvalidInputError("first_treated must be the same on every row of a unit")
    units, u_idx = np.unique(frame["unit"].to_numpy(), return_inverse=True)
    periods, p_idx = np.unique(frame["period"].to_numpy(), return_inverse=True)
    y = np.full((len(units), len(periods)), np.nan)
    y[u_idx, p_idx] = frame["y"].to_numpy()
    cohort = np.zeros(len(units), dtype=np.int64)
    cohort[u_idx] = frame["first_treated"].to_numpy()
    if (cohort < 0).any():
        raise InvalidInputError("first_treated must be 0 (never) or a period")
    return _Wide(y=y, periods=periods.astype(np.int64), cohort=cohort)


def callaway_santanna(
    panel: pl.DataFrame, *, control: Control = "not_yet_treated", small_sample: bool = False
) -> Estimate:
    """The overall ATT over all post-treatment (cohort, period) cells, Callaway-Sant'Anna style.

    Args:
        panel: columns ``unit``, ``period`` (int), ``y`` (float), ``first_treated`` (int, 0 or
            null: never treated).
        control: ``not_yet_treated`` (units not treated by ``t``, including never treated) or
            ``never_treated`` only.
        small_sample: guard the SE against cohorts of a handful of units. The plain influence
            function estimates a cohort's variance from its own units' spread, which with two or
            three adopters per cohort is often far too small. With this on, each cohort's treated
            variance (with the n / (n - 1) correction) is averaged with what the never-treated
            units show for the same contrasts (the same weights applied to their changes).
            Off by default, to stay the textbook estimator (what ``differences`` computes).

    Raises:
        InvalidInputError: bad panel, no treated units, or no cell with both treated and controls.
    """
    w = _wide(panel)
    n_units = len(w.cohort)
    treated_cohorts = np.unique(w.cohort[w.cohort > 0])
    if len(treated_cohorts) == 0:
        raise InvalidInputError("panel has no treated units (first_treated all empty or 0)")
    cells: list[CellEffect] = []
    psis: list[FloatArray] = []
    members: list[npt.NDArray[np.bool_]] = []
    saw_treated = False
    for g in treated_cohorts.tolist():
        before = np.flatnonzero(w.periods < g)
        post = np.flatnonzero(w.periods >= g)
        if len(before) == 0 or len(post) == 0:
            continue  # treated from the first period on (no baseline), or after the panel ends
        b = int(before[-1])
        diff = w.y[:, post] - w.y[:, [b]]  # units x post periods
        seen = np.isfinite(diff)
        treated = (w.cohort == g)[:, None] & seen
        if control == "never_treated":
            ctrl_unit = (w.cohort == 0)[:, None]
        else:
            ctrl_unit = (w.cohort == 0)[:, None] | (w.cohort[:, None] > w.periods[post][None, :])
        ctrl = ctrl_unit & seen
        n_t = treated.sum(axis=0)
        n_c = ctrl.sum(axis=0)
        saw_treated = saw_treated or bool(n_t.any())
        d0 = np.where(seen, diff, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            m_t = (d0 * treated).sum(axis=0) / n_t
            m_c = (d0 * ctrl).sum(axis=0) / n_c
            psi = np.where(treated, (d0 - m_t) / n_t, 0.0) - np.where(ctrl, (d0 - m_c) / n_c, 0.0)
        for j in np.flatnonzero((n_t > 0) & (n_c > 0)).tolist():
            cells.append(
                CellEffect(
                    cohort=int(g),
                    period=int(w.periods[post[j]]),
                    base_period=int(w.periods[b]),
                    att=float(m_t[j] - m_c[j]),
                    n_treated=int(n_t[j]),
                    n_control=int(n_c[j]),
                )
            )
            psis.append(psi[:, j])
            members.append(treated[:, j])
    if not cells:
        if not saw_treated:
            raise InvalidInputError(
                "panel has no treated unit observed both before and after its first_treated"
            )
        raise InvalidInputError("panel has no control units (never or not yet treated)")
    weights = np.array([c.n_treated for c in cells], dtype=np.float64)
    weights /= weights.sum()
    atts = np.array([c.att for c in cells])
    # The weights are estimated (shares of treated units per cell), so their influence joins
    # the cells' own, as in Callaway and Sant'Anna's aggregation.
    ind = np.column_stack(members).astype(np.float64)
    share = ind.mean(axis=0)
    total = share.sum()
    centred = ind - share
    wif = centred / total - centred.sum(axis=1)[:, None] * (share / total**2)[None, :]
    psi_total = np.column_stack(psis) @ weights + (wif @ atts) / n_units
    variance = float(psi_total @ psi_total)
    if small_sample:
        variance += _small_sample_extra(w, cells, weights, np.column_stack(psis))
    treated_units = int(
        np.isin(w.cohort, [c.cohort for c in cells]).sum()  # units of cohorts with a cell
    )
    return Estimate(
        att=float(weights @ atts),
        se=float(math.sqrt(variance)),
        method="callaway_santanna",
        n_units=n_units,
        n_treated_units=treated_units,
        cells=tuple(cells),
    )


def _small_sample_extra(
    w: _Wide, cells: list[CellEffect], weights: FloatArray, psi: FloatArray
) -> float:
    """The variance to add so each cohort's treated part reaches its small-sample floor."""
    index = {int(p): i for i, p in enumerate(w.periods.tolist())}
    pure = np.flatnonzero((w.cohort == 0) | (w.cohort > w.periods[-1]))
    extra = 0.0
    for g in sorted({c.cohort for c in cells}):
        members = np.flatnonzero(w.cohort == g)
        js = [j for j, c in enumerate(cells) if c.cohort == g]
        cols = np.array(js, dtype=np.int64)
        own_psi = psi[np.ix_(members, cols)] @ weights[cols]
        own = float(own_psi @ own_psi)
        n_g = len(members)
        corrected = own * n_g / (n_g - 1) if n_g > 1 else 0.0
        floor = 0.0
        if len(pure) > 2:
            # What a never-treated unit's treated-side influence would be for these cells.
            hyp = np.zeros(len(pure))
            for j in js:
                c = cells[j]
                d = w.y[pure, index[c.period]] - w.y[pure, index[c.base_period]]
                ok = np.isfinite(d)
                if ok.sum() < 2:
                    continue
                hyp[ok] += weights[j] * (d[ok] - d[ok].mean()) / c.n_treated
            floor = n_g * float(hyp.var(ddof=1))
        # Shrink the cohort's own (n / (n - 1) corrected) variance halfway towards the
        # never-treated units' estimate: own alone is too small with a handful of adopters
        # (|error| > 1.96 SE in 12.6 % of 587 synthetic estimates), the pooled one alone too
        # large (under 1 %); halfway gives 3.4 % (tests/crowd/test_did.py, the last test).
        extra += (0.5 * (corrected + floor) if floor > 0 else corrected) - own
    return max(extra, 0.0)


def twfe(panel: pl.DataFrame, *, tol: float = 1e-10, max_iter: int = 1000) -> Estimate:
    """The two-way fixed-effects coefficient of the treatment dummy: the biased canary.

    ``y = unit effect + period effect + beta * D + e`` with ``D = 1`` from ``first_treated`` on,
    fitted by partialling out both fixed effects (alternating projections, exact for balanced
    panels after one pass), with a unit-clustered standard error. Do not use it to decide
    anything: under staggered adoption with effects that vary by cohort or grow with exposure it
    is biased (it compares late adopters with early adopters that are already treated).
    """
    w = _wide(panel)
    seen = np.isfinite(w.y)
    d = ((w.cohort[:, None] > 0) & (w.periods[None, :] >= w.cohort[:, None])).astype(np.float64)
    if not (d[seen] > 0).any():
        raise InvalidInputError("panel has no treated observations")
    if not (d[seen] == 0).any():
        raise InvalidInputError("panel has no untreated observations")
    y = np.where(seen, w.y, 0.0)
    d = np.where(seen, d, 0.0)
    n_row = seen.sum(axis=1).clip(min=1)
    n_col = seen.sum(axis=0).clip(min=1)

    def demean(x: FloatArray) -> FloatArray:
        for _ in range(max_iter):
            before = x
            x = np.where(seen, x - (x.sum(axis=1) / n_row)[:, None], 0.0)
            x = np.where(seen, x - (x.sum(axis=0) / n_col)[None, :], 0.0)
            if float(np.abs(x - before).max()) < tol:
                break
        return x

    yt, dt = demean(y), demean(d)
    sxx = float((dt * dt).sum())
    if sxx <= 0:
        raise InvalidInputError("treatment is collinear with the fixed effects")
    beta = float((dt * yt).sum()) / sxx
    resid = np.where(seen, yt - beta * dt, 0.0)
    score = (dt * resid).sum(axis=1)
    n_units = int(seen.any(axis=1).sum())
    n_obs = int(seen.sum())
    k = n_units + len(w.periods)
    # CR1 small-sample factor, as Stata and fixest use for clustered errors.
    adj = (n_units / max(n_units - 1, 1)) * ((n_obs - 1) / max(n_obs - k, 1))
    se = math.sqrt(adj * float(score @ score)) / sxx
    return Estimate(
        att=beta,
        se=se,
        method="twfe",
        n_units=n_units,
        n_treated_units=int((w.cohort > 0).sum()),
    )
