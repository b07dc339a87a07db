"""The simulator: a field-service network stepped hour by hour, vectorised over all areas."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from tailguard.errors import InvalidInputError
from tailguard.sim import config as c
from tailguard.sim import parts, visits, workforce
from tailguard.sim.emit import STATUS_CODE, TYPE_CODE, build_table
from tailguard.sim.interventions import ActuationResult, Intervention
from tailguard.sim.network import ACTIVE, DORMANT, Network, build_network
from tailguard.sim.state import DAY, HOUR, KEY_DEPTH, PRIOR_ROOT, State

if TYPE_CHECKING:
    from tailguard.sim.evaluation import Evaluation
    from tailguard.sim.scenarios import Scenario

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_HOUR_SHAPE = np.asarray(c.HOUR_SHAPE) / sum(c.HOUR_SHAPE)
_DOW_SHAPE = np.asarray(c.DOW_SHAPE) / np.mean(c.DOW_SHAPE)
_APP_CUM = np.cumsum(c.APPLIANCE_SHARE) / sum(c.APPLIANCE_SHARE)
_WIN_CUM = np.cumsum(c.WINDOW_WEIGHTS) / sum(c.WINDOW_WEIGHTS)
_WIN_START = np.asarray(c.WINDOW_START_HOURS, dtype=np.float64) * HOUR
_WARMUP_HOURS = 48


class Simulator:
    """A simulated field-service network; deterministic from ``config.seed``.

    Args:
        config: the network to simulate.

    ``step()`` advances one hour and returns that hour's events (WIDE_SCHEMA); ``apply()``
    actuates an intervention; ``inject()`` adds a scripted scenario; ``evaluation()`` is the
    ground truth for scoring, never to be shown to an agent.
    """

    def __init__(self, config: c.NetworkConfig) -> None:
        self.config = config
        self.net: Network = build_network(config.areas, config.seed, config.mean_techs)
        self._st = State(self.net, config.seed)
        midnight = config.start.replace(hour=0)
        self._origin = midnight
        self._origin_us = int(midnight.timestamp()) * 1_000_000
        self._dow0 = midnight.weekday()
        self._st.hour = config.start.hour
        self._shift_day = -(10**9)
        self._daily_done = -(10**9)
        self._log: list[dict[str, object]] = []
        n_a = self.net.n_areas
        on_frac = (1 - c.PART_TIME_SHARE) * 5 / 6 + c.PART_TIME_SHARE * 3 / 6
        daily = (
            self.net.area_headcount
            * on_frac
            * (1 - c.SICK_DAY_P)
            * c.JOBS_PER_DAY_TARGET
            * self.net.area_load
            * 6.0
            / 7.0
            * 0.86  # follow-ups and recalls fill the rest of the capacity
        )
        self._daily_bookings: F64 = np.asarray(daily, dtype=np.float64)
        assert self._daily_bookings.shape[0] == n_a
        self._warm_up()

    # ----------------------------------------------------------------- public surface
    @property
    def now(self) -> datetime:
        """The simulated time at the start of the next step."""
        return self._origin + timedelta(hours=self._st.hour)

    @property
    def areas(self) -> pl.DataFrame:
        """area_id, area_type (urban/suburban/rural), n_techs, zips."""
        return self.net.areas_frame()

    def step(self) -> pa.Table:
        """Advance one simulated hour; return that hour's events sorted by time."""
        st = self._st
        h = st.hour
        h0, h1 = h * HOUR, (h + 1) * HOUR
        day, hod = h // 24, h % 24
        self._book(h, emit=True)
        self._future_due(h0, h1)
        if hod == 4 and self._daily_done != day:
            self._daily_done = day
            workforce.daily(self.net, st, day, h0)
        service = self._dow(day) != 6
        if service and hod >= 5 and self._shift_day != day:
            self._begin_day(day, h0)
        if service and self._shift_day == day and 6 <= hod <= 21:
            self._assign_open(day, h)
            self._execute(day, h0, h1)
        if hod == 22 and self._shift_day == day:
            self._end_day(h0)
        parts.hour(self.net, st, h0, h1)
        st.hour += 1
        return self._emit(h, h0, h1)

    def run(self, hours: int) -> Iterator[pa.Table]:
        """Step ``hours`` times, yielding each hour's events."""
        if hours < 0:
            raise InvalidInputError(f"hours must be >= 0, got {hours}")
        for _ in range(hours):
            yield self.step()

    def apply(self, intervention: Intervention) -> ActuationResult:
        """Actuate one intervention now; see :mod:`tailguard.sim.actuators`."""
        from tailguard.sim.actuators import apply

        return apply(self, intervention)

    def inject(self, scenario: Scenario) -> dict[str, str]:
        """Add a scripted scenario (exogenous: inject it in both arms of a comparison)."""
        from tailguard.sim.scenarios import inject

        return inject(self, scenario)

    def evaluation(self) -> Evaluation:
        """The ground-truth API for scoring agents (never shown to them)."""
        from tailguard.sim.evaluation import Evaluation

        return Evaluation(self)

    # ----------------------------------------------------------------- internals
    def _dow(self, day: int) -> int:
        return (self._dow0 + day) % 7

    def _sec(self) -> float:
        return self._st.hour * HOUR

    def _next_service_day(self, day: I64) -> I64:
        dow = (self._dow0 + day) % 7
        return np.where(dow == 5, day + 2, day + 1)  # no service on Sundays

    def _warm_up(self) -> None:
        """Bookings of the last two days and recalls of the last month, as if always running."""
        st, net = self._st, self.net
        for h in range(st.hour - _WARMUP_HOURS, st.hour):
            self._book(h, emit=False)
        rng = st.rand.generator("prior-recalls")
        active = np.flatnonzero(net.tech_state0 == ACTIVE)
        lam = 5.0 * 0.75 * st.tech_recall[active]
        counts = rng.poisson(np.repeat(lam[:, None], 29, axis=1))
        tech = np.repeat(np.repeat(active, 29), counts.ravel())
        ago = np.repeat(np.tile(np.arange(1, 30), active.shape[0]), counts.ravel())
        delay = rng.uniform(1.0, 30.0, tech.shape[0])
        due = (delay - ago) * DAY + st.hour * HOUR + rng.uniform(0, DAY, tech.shape[0])
        keep = due > st.hour * HOUR
        tech, due = tech[keep], due[keep]
        n = tech.shape[0]
        area = net.tech_area[tech]
        u = rng.random((n, 3))
        code = np.searchsorted(_APP_CUM, u[:, 0], side="right").clip(0, 5)
        prior = (PRIOR_ROOT + np.arange(n, dtype=np.int64)) * KEY_DEPTH
        st.future.append(
            n,
            {
                "key": prior + 1,
                "area": area,
                "zip": net.area_zip_start[area]
                + (u[:, 1] * net.area_zip_count[area]).astype(np.int64),
                "cust": net.area_cust_start[area]
                + (u[:, 2] * net.area_cust_count[area]).astype(np.int64),
                "code": code,
                "sku": -1,
                "kind": 2,
                "recall_of": prior,
                "orig_tech": tech,
                "parent": prior,
                "due": due,
            },
        )

    def _book(self, h: int, *, emit: bool) -> None:
        """New customer bookings of hour ``h`` (exogenous, plus scenario surges)."""
        st, net = self._st, self.net
        day, hod = h // 24, h % 24
        gen = st.rand.generator("bookings", h + 2**31)
        day_u = st.rand.uniform("area-surge", np.arange(net.n_areas), sub=day + 2**20)
        surge = np.where(day_u < 0.03, 1.4 + 20.0 * day_u, 1.0)  # storms, heat waves
        lam = self._daily_bookings * _HOUR_SHAPE[hod] * _DOW_SHAPE[self._dow(day)] * surge
        counts = gen.poisson(lam)
        area = np.repeat(np.arange(net.n_areas, dtype=np.int64), counts)
        n = area.shape[0]
        root = st.root_counter + 1 + np.arange(n, dtype=np.int64)
        key = root * KEY_DEPTH
        u_zip = st.rand.uniform("zip", key)
        zidx = net.area_zip_start[area] + (u_zip * net.area_zip_count[area]).astype(np.int64)
        code = np.searchsorted(_APP_CUM, st.rand.uniform("appliance", key), side="right")
        # Scenario surges: extra bookings of one appliance in one zip.
        h0 = h * HOUR
        sz = np.flatnonzero((st.scen_from <= h0) & (h0 < st.scen_until))
        if sz.shape[0]:
            extra = st.rand.generator("scenario-surge", h + 2**31).poisson(st.scen_extra[sz])
            ez = np.repeat(sz, extra)
            m = ez.shape[0]
            eroot = st.root_counter + 1 + n + np.arange(m, dtype=np.int64)
            key = np.r_[key, eroot * KEY_DEPTH]
            area = np.r_[area, net.zip_area[ez]]
            zidx = np.r_[zidx, ez]
            code = np.r_[code, st.scen_code[ez]]
            n += m
        st.root_counter += n
        if n == 0:
            return
        code = np.clip(code, 0, len(c.APPLIANCES) - 1).astype(np.int64)
        cust = net.area_cust_start[area] + (
            st.rand.uniform("customer", key) * net.area_cust_count[area]
        ).astype(np.int64)
        needs = st.rand.uniform("part-need", key) < c.PART_NEED
        pop_cum = np.cumsum(net.sku_pop.reshape(len(c.APPLIANCES), -1), axis=1)
        k = c.SKUS_PER_APPLIANCE
        which = (st.rand.uniform("sku", key)[:, None] > pop_cum[code]).sum(axis=1).clip(0, k - 1)
        sku = np.where(needs, code * k + which, -1)
        ts = h0 + st.rand.uniform("booked-at", key) * HOUR
        self._enqueue(
            key=key, area=area, zidx=zidx, cust=cust, code=code, sku=sku, ts=ts, emit=emit,
            kind=np.zeros(n, dtype=np.int8), recall_of=np.full(n, -1), orig_tech=np.full(n, -1),
            parent=np.full(n, -1),
        )  # fmt: skip

    def _enqueue(
        self, *, key: I64, area: I64, zidx: I64, cust: I64, code: I64, sku: I64, ts: F64,
        emit: bool, kind: npt.NDArray[np.int8], recall_of: I64, orig_tech: I64, parent: I64,
    ) -> None:  # fmt: skip
        st = self._st
        n = key.shape[0]
        day = np.floor(ts / DAY).astype(np.int64)
        serve = self._next_service_day(day)
        later = st.rand.uniform("service-day", key) < 0.3
        serve = np.where(later, self._next_service_day(serve), serve)
        slot = np.searchsorted(_WIN_CUM, st.rand.uniform("window", key), side="right").clip(0, 4)
        wstart = serve * DAY + _WIN_START[slot]
        st.jobs.append(
            n,
            {
                "key": key, "area": area, "zip": zidx, "cust": cust, "code": code, "sku": sku,
                "kind": kind, "recall_of": recall_of, "orig_tech": orig_tech, "parent": parent,
                "wstart": wstart, "wend": wstart + c.WINDOW_HOURS * HOUR, "day": serve,
            },
        )  # fmt: skip
        if emit:
            st.outbox.append(
                n,
                {
                    "type": np.full(n, TYPE_CODE["job.booked"], dtype=np.int8), "ts": ts,
                    "area": area, "job": key, "cust": cust, "zip": self.net.zip_code[zidx],
                    "code": code, "wstart": wstart, "wend": wstart + c.WINDOW_HOURS * HOUR,
                    "parent": parent,
                },
            )  # fmt: skip

    def _future_due(self, h0: float, h1: float) -> None:
        st = self._st
        due = st.future["due"] < h1
        if not due.any():
            return
        f = st.future.take(due)
        st.future.keep(~due)
        self._enqueue(
            key=f["key"], area=f["area"], zidx=f["zip"], cust=f["cust"],
            code=f["code"].astype(np.int64), sku=f["sku"], ts=np.maximum(f["due"], h0),
            emit=True, kind=f["kind"], recall_of=f["recall_of"], orig_tech=f["orig_tech"],
            parent=f["parent"],
        )  # fmt: skip

    def _weights(self, now: float) -> F64:
        st, net = self._st, self.net
        boost = np.where(now < st.boost_until, st.boost_mult, 1.0)
        age = np.maximum(0.0, now - st.decline_t0) / (st.decline_days * DAY)
        decline = np.where(np.isfinite(st.decline_t0), np.clip(1.0 - age, 0.0, 1.0), 1.0)
        return np.where(st.on_shift, net.tech_weight * boost * decline, 0.0)

    def _assign(self, idx: I64, now: float, salt: int) -> None:
        """Give jobs ``idx`` to on-shift techs of their area, at random in proportion to weight."""
        if idx.shape[0] == 0:
            return
        st, net = self._st, self.net
        w = self._weights(now)
        cw = np.cumsum(w)
        start = net.area_tech_start
        before = np.where(start > 0, cw[np.maximum(start - 1, 0)], 0.0)
        total = cw[start + net.area_tech_count - 1] - before
        # A Weyl sequence over the jobs of each area sorted by window spreads every window's
        # jobs evenly over the techs (in proportion to weight), as a dispatcher balancing
        # routes would, instead of piling three 8-10 am jobs on one tech by chance.
        order = np.lexsort((st.jobs["key"][idx], st.jobs["wstart"][idx], st.jobs["area"][idx]))
        idx = idx[order]
        area = st.jobs["area"][idx]
        first = np.r_[True, area[1:] != area[:-1]]
        pos = np.arange(idx.shape[0])
        rank = pos - np.maximum.accumulate(np.where(first, pos, 0))
        phase = st.rand.uniform("assign", area, sub=salt)
        u = np.mod(phase + rank * 0.6180339887498949, 1.0)
        ok = total[area] > 0
        target = before[area] + u * total[area]
        tech = np.searchsorted(cw, target, side="right")
        tech = np.minimum(tech, start[area] + net.area_tech_count[area] - 1)
        st.jobs["tech"][idx] = np.where(ok, tech, -1)
        st.plan_dirty = True

    def _begin_day(self, day: int, now: float) -> None:
        st, net = self._st, self.net
        self._shift_day = day
        # Compact finished jobs away; the plan is rebuilt from scratch every morning.
        st.jobs.keep(st.jobs["done"] == 0)
        idx_t = np.arange(net.n_techs, dtype=np.int64)
        active = (st.tech_state == ACTIVE) | ((st.tech_state == DORMANT) & (st.react_until > now))
        sick = st.rand.uniform("sick", idx_t, sub=day) < c.SICK_DAY_P
        scheduled = net.tech_sched[:, self._dow(day)] | (st.extra_day == day)
        st.on_shift = active & scheduled & ~sick
        st.free_at = np.where(
            st.on_shift,
            day * DAY + c.SHIFT_START_H * HOUR + st.rand.uniform("start", idx_t, sub=day) * 900,
            np.inf,
        )
        st.departed[:] = False
        st.offline_sent = ~st.on_shift
        todo = np.flatnonzero((st.jobs["done"] == 0) & (st.jobs["day"] <= day))
        st.jobs["tech"][todo] = -1
        self._assign(todo, now, salt=day)
        on = np.flatnonzero(st.on_shift)
        k = on.shape[0]
        st.outbox.append(
            k,
            {
                "type": np.full(k, TYPE_CODE["tech.status"], dtype=np.int8),
                "ts": np.maximum(st.free_at[on] - 1200.0, now),
                "area": net.tech_area[on],
                "tech": on,
                "status": np.full(k, STATUS_CODE["available"], dtype=np.int8),
            },
        )

    def _assign_open(self, day: int, h: int) -> None:
        st = self._st
        open_ = np.flatnonzero(
            (st.jobs["done"] == 0) & (st.jobs["day"] <= day) & (st.jobs["tech"] < 0)
        )
        if open_.shape[0]:
            self._assign(open_, h * HOUR, salt=h + 2**24)

    def _build_plan(self, day: int) -> None:
        st = self._st
        J = st.jobs
        idx = np.flatnonzero((J["done"] == 0) & (J["tech"] >= 0) & (J["day"] <= day))
        order = np.lexsort((J["key"][idx], J["wstart"][idx], J["tech"][idx]))
        st.plan = idx[order]
        techs = J["tech"][st.plan]
        ids = np.arange(self.net.n_techs)
        st.ptr = np.searchsorted(techs, ids, side="left")
        st.end = np.searchsorted(techs, ids, side="right")
        st.plan_dirty = False

    def _execute(self, day: int, h0: float, h1: float) -> None:
        st, net = self._st, self.net
        if st.plan_dirty:
            self._build_plan(day)
        last = day * DAY + c.LAST_DEPART_H * HOUR
        for _ in range(8):
            cand = np.flatnonzero(st.on_shift & (st.ptr < st.end) & (st.free_at < h1))
            if cand.shape[0] == 0:
                break
            j = st.plan[st.ptr[cand]]
            est = visits.expected_travel(net, st, j, st.free_at[cand])
            depart = np.maximum(st.free_at[cand], st.jobs["wstart"][j] - est * 60.0)
            go = (depart < h1) & (depart < last)
            stop = depart >= last
            st.free_at[cand[stop]] = np.inf  # done for the day; the rest rolls over
            if not go.any():
                break
            t = cand[go]
            st.free_at[t] = visits.run(net, st, t, j[go], depart[go], est[go])
            st.ptr[t] += 1
        finished = np.flatnonzero(
            st.on_shift & ~st.offline_sent & ((st.ptr >= st.end) | np.isinf(st.free_at))
        )
        self._offline(finished, h0)

    def _offline(self, techs: I64, h0: float) -> None:
        st = self._st
        st.offline_sent[techs] = True
        k = techs.shape[0]
        last_done = np.where(np.isfinite(st.free_at[techs]), st.free_at[techs], h0)
        st.outbox.append(
            k,
            {
                "type": np.full(k, TYPE_CODE["tech.status"], dtype=np.int8),
                "ts": np.maximum(last_done, h0) + 600.0,
                "area": self.net.tech_area[techs],
                "tech": techs,
                "status": np.full(k, STATUS_CODE["offline"], dtype=np.int8),
            },
        )

    def _end_day(self, h0: float) -> None:
        st = self._st
        self._offline(np.flatnonzero(st.on_shift & ~st.offline_sent), h0)
        st.on_shift[:] = False
        st.plan_dirty = True

    def _emit(self, h: int, h0: float, h1: float) -> pa.Table:
        st = self._st
        ob = st.outbox
        ts = ob["ts"]
        ts[ts < h0] = h0  # nothing is emitted into an hour already returned
        due = ts < h1
        rows = ob.take(due)
        ob.keep(~due)
        cust = rows["cust"]
        has = cust >= 0
        credit = np.zeros(cust.shape[0])
        if has.any():
            m, t0 = st.credit[cust[has], 0], st.credit[cust[has], 1]
            credit[has] = m * visits.fade(t0, rows["ts"][has], 10.0)
        rows["nps_raw"] = rows["nps_raw"] + credit
        rows["sentiment"] = np.clip(rows["sentiment"] + 0.15 * credit, -1.0, 1.0)
        # tech.status events tell the tech's hire date (an extension field, ``hired_on``).
        status = rows["type"] == TYPE_CODE["tech.status"]
        hired = np.where(status, st.tech_hired[np.maximum(rows["tech"], 0)], np.nan)
        return build_table(
            rows, hour=h, start_us=self._origin_us, sku_codes=self.net.sku_codes, hired=hired
        )
