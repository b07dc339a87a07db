"""Scripted scenarios from the product document's "day in the life" (exogenous events).

A scenario is part of the world, not an agent action: inject it identically into both arms of
an agents-on / agents-off comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from tailguard.errors import InvalidInputError, NotFoundError
from tailguard.sim import config as c
from tailguard.sim.ids import parse_index, tech_id
from tailguard.sim.network import ACTIVE
from tailguard.sim.state import DAY, HOUR

if TYPE_CHECKING:
    from tailguard.sim.engine import Simulator


@dataclass(frozen=True, kw_only=True, slots=True)
class BookingSurge:
    """(a) Extra bookings of one appliance in one zip, ``share`` of the area's daily volume."""

    zip: str
    appliance: str = "DW"
    share: float = 0.8
    hours: int = 24
    start: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class EarningsDecline:
    """(b) One tech gets fewer and fewer new jobs, none after ``days`` (earnings trend down)."""

    tech_id: str
    days: float = 4.0


@dataclass(frozen=True, kw_only=True, slots=True)
class PartsLeadTimeSpike:
    """(c) The supplier lead time of ``sku`` in an area multiplies for ``days``."""

    area_id: str
    sku: str = c.NAMED_SKU
    factor: float = 4.0
    days: float = 10.0
    start: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RookieDetractors:
    """(d) A rookie tech's customers turn detractors (NPS drop) for ``days``.

    Without ``tech_id`` the area's least-tenured active tech is picked.
    """

    area_id: str
    tech_id: str | None = None
    nps_drop: float = 5.0
    days: float = 7.0


Scenario = BookingSurge | EarningsDecline | PartsLeadTimeSpike | RookieDetractors


def _start(sim: Simulator, when: datetime | None) -> float:
    if when is None:
        return sim._sec()
    return (when - sim._origin).total_seconds()


def _area(sim: Simulator, text: str) -> int:
    a = parse_index(text, "PA-", 4)
    if a is None or not 0 <= a < sim.net.n_areas:
        raise NotFoundError(f"unknown area {text!r}")
    return a


def inject(sim: Simulator, sc: Scenario) -> dict[str, str]:
    """Apply scenario ``sc``; returns what it resolved to (for example the tech picked)."""
    st, net = sim._st, sim.net
    if isinstance(sc, BookingSurge):
        hit = (
            np.flatnonzero(net.zip_code == int(sc.zip))
            if sc.zip.isdigit()
            else np.zeros(0, dtype=np.int64)
        )
        if len(hit) == 0:
            raise NotFoundError(f"unknown zip {sc.zip!r}")
        if sc.appliance not in c.APPLIANCES:
            raise InvalidInputError(f"unknown appliance {sc.appliance!r}")
        z = int(hit[0])
        a = int(net.zip_area[z])
        t0 = _start(sim, sc.start)
        st.scen_extra[z] = sim._daily_bookings[a] * sc.share / max(sc.hours, 1)
        st.scen_code[z] = c.APPLIANCES.index(sc.appliance)
        st.scen_from[z] = t0
        st.scen_until[z] = t0 + sc.hours * HOUR
        return {"area_id": f"PA-{a + 1:04d}", "zip": sc.zip}
    if isinstance(sc, EarningsDecline):
        t = parse_index(sc.tech_id, "T", 6)
        if t is None or not 0 <= t < net.n_techs:
            raise NotFoundError(f"unknown tech {sc.tech_id!r}")
        st.decline_t0[t] = sim._sec()
        st.decline_days[t] = sc.days
        return {"tech_id": sc.tech_id, "area_id": f"PA-{int(net.tech_area[t]) + 1:04d}"}
    if isinstance(sc, PartsLeadTimeSpike):
        a = _area(sim, sc.area_id)
        if sc.sku not in net.sku_codes:
            raise NotFoundError(f"unknown sku {sc.sku!r}")
        s = net.sku_codes.index(sc.sku)
        t0 = _start(sim, sc.start)
        st.spike[a, s] = sc.factor
        st.spike_until[a, s] = t0 + sc.days * DAY
        # The supplier's shortage also empties the area's bins of the part, and orders
        # already on the way are delayed.
        st.stock[np.flatnonzero(net.locker_area == a), s] = 0
        lockers = np.flatnonzero(net.locker_area == a)
        pending = np.isfinite(st.order_due[lockers, s])
        st.order_due[lockers[pending], s] += (
            (sc.factor - 1.0) * st.lead_base[lockers[pending], s] * DAY
        )
        return {"area_id": sc.area_id, "sku": sc.sku}
    a = _area(sim, sc.area_id)
    if sc.tech_id is None:
        lo, hi = net.area_tech_start[a], net.area_tech_start[a] + net.area_tech_count[a]
        idx = np.arange(lo, hi)
        idx = idx[st.tech_state[idx] == ACTIVE]
        t = int(idx[np.argmax(st.tech_hired[idx])])
    else:
        parsed = parse_index(sc.tech_id, "T", 6)
        if parsed is None or not 0 <= parsed < net.n_techs:
            raise NotFoundError(f"unknown tech {sc.tech_id!r}")
        t = parsed
    st.detractor[t] = -abs(sc.nps_drop)
    st.detractor_until[t] = sim._sec() + sc.days * DAY
    return {"tech_id": tech_id(t), "area_id": sc.area_id}


def day_in_the_life(sim: Simulator, area_id: str) -> list[Scenario]:
    """The four scenarios of the product document for one area, starting now.

    (a) a dishwasher surge in the area's first zip, (b) the area's lowest-weight active tech
    trending down, (c) a lead-time spike for SKU R-9923, (d) a detractor cluster around the
    area's newest tech.
    """
    st, net = sim._st, sim.net
    a = _area(sim, area_id)
    z = int(net.area_zip_start[a])
    lo, hi = net.area_tech_start[a], net.area_tech_start[a] + net.area_tech_count[a]
    idx = np.arange(lo, hi)
    idx = idx[st.tech_state[idx] == ACTIVE]
    low = int(idx[np.argmin(net.tech_weight[idx])])
    return [
        BookingSurge(zip=f"{int(net.zip_code[z]):05d}"),
        EarningsDecline(tech_id=tech_id(low)),
        PartsLeadTimeSpike(area_id=area_id),
        RookieDetractors(area_id=area_id),
    ]
