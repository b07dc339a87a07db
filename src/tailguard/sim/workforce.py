"""Technician churn, hiring and the end of temporary reactivations, once a day."""

from __future__ import annotations

import numpy as np

from tailguard.sim import config as c
from tailguard.sim.emit import STATUS_CODE, TYPE_CODE
from tailguard.sim.network import ACTIVE, CHURNED, DORMANT, UNHIRED, Network
from tailguard.sim.state import DAY, State

_BASE_HAZARD = -np.log(1.0 - c.ANNUAL_CHURN) / 365.0
# Mean of the hazard multiplier below over a typical network, so the average stays ~20 %/year.
_NORM = 1.55


def daily(net: Network, st: State, day: int, now: float) -> None:
    """Churn (higher for under-booked techs, long drives, rookies), hires, reactivation ends."""
    idx = np.arange(net.n_techs, dtype=np.int64)
    active = st.tech_state == ACTIVE
    tenure_days = (now - st.tech_hired) / DAY
    weekly_jobs = st.day_jobs.sum(axis=1)
    settled = tenure_days > 14
    under = settled & (weekly_jobs < 16)
    mult = 1.0 + 1.8 * under + 0.8 * (net.tech_drive > 45.0) + 0.5 * (tenure_days < 365)
    hazard = _BASE_HAZARD * mult / _NORM
    churn = active & (st.rand.uniform("churn", idx, sub=day) < hazard)
    out = np.flatnonzero(churn)
    st.tech_state[out] = CHURNED
    k = out.shape[0]
    st.outbox.append(
        k,
        {
            "type": np.full(k, TYPE_CODE["tech.status"], dtype=np.int8),
            "ts": now + st.rand.uniform("churn-at", out, sub=day) * 3000.0,
            "area": net.tech_area[out],
            "tech": out,
            "status": np.full(k, STATUS_CODE["churned"], dtype=np.int8),
        },
    )
    # Hiring replaces churn on average; hires are exogenous (same in every arm).
    hires = st.rand.generator("hires", day + 2**20).poisson(net.area_headcount * _BASE_HAZARD)
    slot = st.tech_state == UNHIRED
    rank = np.cumsum(slot) - 1
    first = np.where(net.area_tech_start > 0, rank[np.maximum(net.area_tech_start - 1, 0)], -1)
    local_rank = rank - first[net.tech_area]
    hire = slot & (local_rank < hires[net.tech_area])
    st.tech_state[hire] = ACTIVE
    st.tech_hired[hire] = now
    st.tech_skill[hire] = net.tech_skill[hire] - 0.45
    st.tech_nps[hire] = net.tech_nps[hire] - 0.35
    st.day_jobs[hire] = 0
    st.day_pay[hire] = 0.0
    ended = (st.tech_state == DORMANT) & (st.react_until <= now) & np.isfinite(st.react_until)
    st.react_until[ended] = -np.inf
    # Clear the ring-buffer slot of the day that starts now.
    st.day_pay[:, day % 7] = 0.0
    st.day_jobs[:, day % 7] = 0
