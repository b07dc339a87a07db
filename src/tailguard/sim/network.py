"""The static network: areas, zips, technicians, customers, lockers and SKUs, from the seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from tailguard.sim import config as c
from tailguard.sim.ids import area_id

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

#: Technician slot states.
UNHIRED, ACTIVE, DORMANT, CHURNED = 0, 1, 2, 3


@dataclass(frozen=True, kw_only=True, slots=True)
class Network:
    """Arrays describing the network; technician and locker ranges are contiguous per area."""

    n_areas: int
    area_type: I32
    area_load: F64  # booked demand / staffed capacity
    area_skill: F64  # log-odds offset of diagnosis
    area_nps: F64
    area_lead_mult: F64
    area_travel: F64
    area_headcount: I32  # techs active at the start
    area_zip_start: I64
    area_zip_count: I64
    area_tech_start: I64
    area_tech_count: I64
    area_locker_start: I64
    area_locker_count: I64
    area_cust_start: I64
    area_cust_count: I64
    zip_area: I64
    zip_code: I64
    tech_area: I64
    tech_zip: I64
    tech_state0: I32
    tech_tenure0: F64  # years at the start
    tech_skill: F64
    tech_recall: F64
    tech_pay_share: F64
    tech_nps: F64
    tech_weight: F64
    tech_sched: B  # (n_techs, 7) works on that weekday
    tech_drive: F64  # minutes from home to the area
    tech_van: F64
    tech_locker: I64
    locker_area: I64
    sku_codes: tuple[str, ...]
    sku_appliance: I64
    sku_cost: F64
    sku_pop: F64  # within its appliance, sums to 1
    sku_lead: F64  # base lead time (days)

    @property
    def n_techs(self) -> int:
        """Technician slots (active, dormant and not yet hired)."""
        return int(self.tech_area.shape[0])

    @property
    def n_customers(self) -> int:
        """Customers in all areas."""
        return int(self.area_cust_count.sum())

    def areas_frame(self) -> pl.DataFrame:
        """area_id, area_type, n_techs and zips of every area."""
        zips = [
            [f"{int(z):05d}" for z in self.zip_code[s : s + n]]
            for s, n in zip(self.area_zip_start, self.area_zip_count, strict=True)
        ]
        return pl.DataFrame(
            {
                "area_id": [area_id(i) for i in range(self.n_areas)],
                "area_type": [c.AREA_TYPES[int(t)] for t in self.area_type],
                "n_techs": self.area_headcount.astype(np.int64),
                "zips": zips,
            },
            schema={
                "area_id": pl.String,
                "area_type": pl.String,
                "n_techs": pl.Int64,
                "zips": pl.List(pl.String),
            },
        )


def _starts(counts: I64) -> I64:
    out = np.zeros(counts.shape[0], dtype=np.int64)
    np.cumsum(counts[:-1], out=out[1:])
    return out


def _skus(rng: np.random.Generator) -> tuple[tuple[str, ...], I64, F64, F64, F64]:
    letters = {"DW": "D", "FR": "R", "WA": "W", "DR": "Y", "OV": "O", "MW": "M"}
    codes: list[str] = []
    used: set[str] = {c.NAMED_SKU}
    for app in c.APPLIANCES:
        for k in range(c.SKUS_PER_APPLIANCE):
            if app == "FR" and k == 0:
                codes.append(c.NAMED_SKU)  # the product document's SKU, the most used fridge part
                continue
            while True:
                code = f"{letters[app]}-{int(rng.integers(1000, 10000))}"
                if code not in used:
                    used.add(code)
                    codes.append(code)
                    break
    n = len(codes)
    appliance = np.repeat(np.arange(len(c.APPLIANCES), dtype=np.int64), c.SKUS_PER_APPLIANCE)
    # The common parts of one appliance's repairs cost about the same (a pump, a board, a
    # valve...): the appliance sets the price level, the SKU varies it by a few percent. The
    # spread of parts cost within a job code is then the techs' doing (an extra part fitted
    # when unsure), which is what the parts-cost-delta KPI watches.
    level = rng.uniform(40.0, 110.0, len(c.APPLIANCES))
    cost = np.round(
        np.repeat(level, c.SKUS_PER_APPLIANCE)
        * rng.uniform(1.0 - c.SKU_COST_SPREAD, 1.0 + c.SKU_COST_SPREAD, n),
        2,
    )
    pop = np.tile(np.array([0.40, 0.27, 0.20, 0.13]), len(c.APPLIANCES))
    lead = rng.uniform(c.LEAD_DAYS[0], c.LEAD_DAYS[1], n)
    return tuple(codes), appliance, cost, pop, lead


def build_network(n_areas: int, seed: int, mean_techs: float) -> Network:
    """Draw the static network for ``n_areas`` areas from ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED, 1]))
    area_type = rng.choice(3, size=n_areas, p=np.array(c.AREA_TYPE_SHARE)).astype(np.int32)
    sigma = 0.5
    mu = np.log(mean_techs) - sigma * sigma / 2.0
    head = np.clip(np.round(rng.lognormal(mu, sigma, n_areas)), 30, 300).astype(np.int64)
    # Demand vs staffing: most areas near balance, some over-staffed (under-booked techs,
    # low earnings) and some stretched (lateness).
    load = np.clip(rng.normal(0.91, 0.09, n_areas), 0.70, 1.25)
    skill = rng.normal(0.0, c.AREA_SKILL_SD, n_areas)
    area_nps = rng.normal(0.0, 0.45, n_areas)
    lead_mult = np.exp(rng.normal(0.0, 0.25, n_areas))
    travel = np.array(c.TRAVEL_MIN)[area_type] * np.exp(rng.normal(0.0, 0.12, n_areas))

    zip_count = np.clip(np.round(head / 7.0), 5, 40).astype(np.int64)
    zip_start = _starts(zip_count)
    n_zips = int(zip_count.sum())
    zip_area = np.repeat(np.arange(n_areas, dtype=np.int64), zip_count)
    zip_code = np.sort(rng.choice(np.arange(10000, 99999), size=n_zips, replace=False))
    zip_code = zip_code[rng.permutation(n_zips)]
    # Keep each area's zips contiguous and ascending, as real zip blocks are.
    zip_code = np.concatenate(
        [np.sort(zip_code[s : s + n]) for s, n in zip(zip_start, zip_count, strict=True)]
    )

    dormant = np.round(head * c.DORMANT_SHARE).astype(np.int64) + 1
    hire = np.round(head * c.HIRE_SLOT_SHARE).astype(np.int64) + 2
    slots = head + dormant + hire
    tech_start = _starts(slots)
    n_t = int(slots.sum())
    tech_area = np.repeat(np.arange(n_areas, dtype=np.int64), slots)
    local = np.arange(n_t, dtype=np.int64) - tech_start[tech_area]
    state = np.where(
        local < head[tech_area],
        ACTIVE,
        np.where(local < (head + dormant)[tech_area], DORMANT, UNHIRED),
    ).astype(np.int32)
    tech_zip = zip_start[tech_area] + rng.integers(0, zip_count[tech_area])
    tenure = rng.exponential(4.0, n_t)
    rookie = tenure < 1.0
    tech_skill = rng.normal(0.0, c.TECH_SKILL_SD, n_t) - 0.45 * rookie
    # Recalls: most techs at 1-7 %, a skewed few at 9-18 % (they cause most recalls).
    # How many such techs an area has varies (hiring and training differ): a lognormal factor.
    bad_mult = np.exp(rng.normal(-0.5 * c.RECALL_BAD_SD**2, c.RECALL_BAD_SD, n_areas))
    bad = rng.random(n_t) < c.RECALL_BAD_SHARE * bad_mult[tech_area]
    recall = np.where(
        bad, rng.uniform(0.09, 0.18, n_t), np.clip(rng.gamma(4.0, 0.0065, n_t), 0.01, 0.07)
    )
    pay_share = rng.uniform(c.PAY_SHARE[0], c.PAY_SHARE[1], n_t)
    tech_nps = rng.normal(0.0, 0.55, n_t) - 0.35 * rookie
    weight = np.exp(rng.normal(0.0, 0.28, n_t)) * np.where(rookie, 0.8, 1.0)

    # Weekly schedules over Monday..Saturday: full-timers work 5 of 6 days, part-timers 3.
    part = rng.random(n_t) < c.PART_TIME_SHARE
    days = np.where(part, 3, 5)
    order = np.argsort(rng.random((n_t, 6)), axis=1)
    sched6 = order < days[:, None]
    sched = np.zeros((n_t, 7), dtype=bool)
    sched[:, :6] = sched6
    drive = rng.gamma(2.0, 12.0, n_t) * np.where(area_type[tech_area] == 2, 1.6, 1.0)
    van = np.clip(rng.normal(c.VAN_HIT, 0.12, n_t), 0.05, 0.9)

    locker_count = np.maximum(1, np.round(head / c.LOCKER_TECHS)).astype(np.int64)
    locker_start = _starts(locker_count)
    locker_area = np.repeat(np.arange(n_areas, dtype=np.int64), locker_count)
    tech_locker = locker_start[tech_area] + (local % locker_count[tech_area])

    cust_count = head * 60
    sku_codes, sku_app, sku_cost, sku_pop, sku_lead = _skus(rng)
    return Network(
        n_areas=n_areas,
        area_type=area_type,
        area_load=load,
        area_skill=skill,
        area_nps=area_nps,
        area_lead_mult=lead_mult,
        area_travel=travel,
        area_headcount=head.astype(np.int32),
        area_zip_start=zip_start,
        area_zip_count=zip_count,
        area_tech_start=tech_start,
        area_tech_count=slots,
        area_locker_start=locker_start,
        area_locker_count=locker_count,
        area_cust_start=_starts(cust_count),
        area_cust_count=cust_count,
        zip_area=zip_area,
        zip_code=zip_code,
        tech_area=tech_area,
        tech_zip=tech_zip,
        tech_state0=state,
        tech_tenure0=tenure,
        tech_skill=tech_skill,
        tech_recall=recall,
        tech_pay_share=pay_share,
        tech_nps=tech_nps,
        tech_weight=weight,
        tech_sched=sched,
        tech_drive=drive,
        tech_van=van,
        tech_locker=tech_locker,
        locker_area=locker_area,
        sku_codes=sku_codes,
        sku_appliance=sku_app,
        sku_cost=sku_cost,
        sku_pop=sku_pop,
        sku_lead=sku_lead,
    )
