"""Parts lockers: draws by technicians, reorders, arrivals and effective lead times."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tailguard.sim import config as c
from tailguard.sim.emit import TYPE_CODE
from tailguard.sim.network import Network
from tailguard.sim.state import DAY, State

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_PARTS = TYPE_CODE["parts.stock"]


def lead_days(net: Network, st: State, locker: I64, sku: I64, now: F64) -> F64:
    """Days until a part ordered now reaches ``locker``: supplier lead, disruptions, buffers."""
    n_s = len(net.sku_codes)
    area = net.locker_area[locker]
    base = st.lead_base[locker, sku]
    week = (np.floor(now / (7 * DAY))).astype(np.int64)
    # Supplier disruptions are exogenous: a pure function of (area, sku, week).
    u = st.rand.uniform("disrupt", (area * n_s + sku) * 10_000 + week)
    disrupted = np.where(u < 0.03, 2.0 + 4.0 * u / 0.03, 1.0)
    spiked = np.where(now < st.spike_until[area, sku], st.spike[area, sku], 1.0)
    eff = base * disrupted * spiked
    return np.where(now < st.expedite_until[locker, sku], np.minimum(eff, 1.0), eff)


def _rows(net: Network, locker: I64, sku: I64, ts: F64, st: State) -> dict[str, np.ndarray]:
    return {
        "type": np.full(locker.shape[0], _PARTS, dtype=np.int8),
        "ts": ts,
        "area": net.locker_area[locker],
        "locker": locker,
        "sku": sku,
        "on_hand": st.stock[locker, sku],
        "lead": lead_days(net, st, locker, sku, ts),
    }


def draw(net: Network, st: State, locker: I64, sku: I64, ts: F64) -> npt.NDArray[np.bool_]:
    """Technicians take one part each from lockers; returns who got one.

    Every (locker, sku) touched gets one ``parts.stock`` event with the stock left, and is
    reordered if it fell to its reorder point.
    """
    n = locker.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    n_s = len(net.sku_codes)
    ls = locker * n_s + sku
    order = np.argsort(ls, kind="stable")
    s_ls = ls[order]
    first = np.r_[True, s_ls[1:] != s_ls[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.arange(n) - group_start
    flat = st.stock.reshape(-1)
    got_sorted = rank < flat[s_ls]
    got = np.empty(n, dtype=bool)
    got[order] = got_sorted
    taken = np.bincount(ls[got], minlength=flat.shape[0])
    flat -= taken.astype(flat.dtype)
    touched = s_ls[first]
    last_ts = np.maximum.reduceat(ts[order], np.flatnonzero(first))
    t_locker, t_sku = touched // n_s, touched % n_s
    st.outbox.append(touched.shape[0], _rows(net, t_locker, t_sku, last_ts, st))
    _reorder(net, st, t_locker, t_sku, last_ts)
    return got


def _reorder(net: Network, st: State, locker: I64, sku: I64, now: F64) -> None:
    low = (st.stock[locker, sku] <= st.reorder[locker, sku]) & np.isinf(st.order_due[locker, sku])
    if low.any():
        lk, sk, t = locker[low], sku[low], now[low]
        st.order_due[lk, sk] = t + lead_days(net, st, lk, sk, t) * DAY


def hour(net: Network, st: State, h0: float, h1: float) -> None:
    """Receive the orders due in ``[h0, h1)`` and reorder what is still low."""
    lk, sk = np.nonzero(st.order_due < h1)
    if lk.shape[0] == 0:
        return
    due = np.maximum(st.order_due[lk, sk], h0)
    st.stock[lk, sk] += c.ORDER_QTY
    st.order_due[lk, sk] = np.inf
    st.outbox.append(lk.shape[0], _rows(net, lk.astype(np.int64), sk.astype(np.int64), due, st))
    _reorder(net, st, lk.astype(np.int64), sk.astype(np.int64), due)
