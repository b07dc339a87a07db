"""The simulator's mutable state: everything that changes hour by hour, as NumPy arrays."""

from __future__ import annotations

import numpy as np

from tailguard.sim import config as c
from tailguard.sim.columns import Columns
from tailguard.sim.emit import ROW_SPEC
from tailguard.sim.network import ACTIVE, Network
from tailguard.sim.rng import Streams

DAY = 86_400.0
HOUR = 3_600.0
KEY_DEPTH = 16  # a job key is root * 16 + depth (follow-ups and recalls of one root problem)
PRIOR_ROOT = 50_000_000_000 // KEY_DEPTH  # roots of jobs done before the simulation started

#: A job waiting to be done: column -> (dtype, fill).
JOB_SPEC: dict[str, tuple[type, float | int]] = {
    "key": (np.int64, -1),
    "area": (np.int64, -1),
    "zip": (np.int64, -1),  # index into the zip table
    "cust": (np.int64, -1),
    "code": (np.int8, -1),
    "sku": (np.int64, -1),
    "kind": (np.int8, 0),  # 0 first visit, 1 follow-up, 2 recall
    "recall_of": (np.int64, -1),
    "orig_tech": (np.int64, -1),
    "parent": (np.int64, -1),
    "wstart": (np.float64, np.nan),
    "wend": (np.float64, np.nan),
    "day": (np.int64, 0),
    "tech": (np.int64, -1),
    "bonus": (np.float64, 0.0),
    "done": (np.int8, 0),
}

#: A visit that will be booked later (a follow-up after parts arrive, a recall).
FUTURE_SPEC: dict[str, tuple[type, float | int]] = {
    "key": (np.int64, -1),
    "area": (np.int64, -1),
    "zip": (np.int64, -1),
    "cust": (np.int64, -1),
    "code": (np.int8, -1),
    "sku": (np.int64, -1),
    "kind": (np.int8, 0),
    "recall_of": (np.int64, -1),
    "orig_tech": (np.int64, -1),
    "parent": (np.int64, -1),
    "due": (np.float64, np.nan),
}


class State:
    """All mutable simulation state (arrays sized by the network)."""

    def __init__(self, net: Network, seed: int) -> None:
        n_t = net.n_techs
        n_l = int(net.locker_area.shape[0])
        n_s = len(net.sku_codes)
        n_z = int(net.zip_area.shape[0])
        self.rand = Streams(seed)
        self.hour = 0
        self.root_counter = 0
        self.jobs = Columns(JOB_SPEC, capacity=1 << 16)
        self.future = Columns(FUTURE_SPEC, capacity=1 << 14)
        self.outbox = Columns(ROW_SPEC, capacity=1 << 16)
        # Technicians.
        self.tech_state = net.tech_state0.copy()
        self.tech_hired = np.where(net.tech_state0 == ACTIVE, -net.tech_tenure0 * 365 * DAY, 0.0)
        self.tech_skill = net.tech_skill.copy()
        self.tech_nps = net.tech_nps.copy()
        self.tech_recall = net.tech_recall.copy()
        self.react_until = np.full(n_t, -np.inf)
        self.extra_day = np.full(n_t, -1, dtype=np.int64)
        self.boost_mult = np.ones(n_t)
        self.boost_until = np.full(n_t, -np.inf)
        self.decline_t0 = np.full(n_t, np.inf)  # scenario: earnings trending down
        self.decline_days = np.ones(n_t)
        self.shadow = np.zeros((n_t, 3))  # skill, nps, recall-multiplier deltas at t0
        self.shadow_t0 = np.full(n_t, np.inf)
        self.detractor = np.zeros(n_t)  # scenario: NPS offset of a struggling rookie
        self.detractor_until = np.full(n_t, -np.inf)
        self.day_pay = np.zeros((n_t, 7))  # ring buffer by day index % 7
        # Seeded with a typical week so churn is not inflated before a week has been simulated.
        self.day_jobs = (
            (net.tech_state0 == ACTIVE)[:, None] * net.tech_sched * round(c.JOBS_PER_DAY_TARGET)
        ).astype(np.int32)
        # Today's plan.
        self.on_shift = np.zeros(n_t, dtype=bool)
        self.free_at = np.full(n_t, np.inf)
        self.departed = np.zeros(n_t, dtype=bool)
        self.offline_sent = np.ones(n_t, dtype=bool)
        self.plan = np.zeros(0, dtype=np.int64)
        self.ptr = np.zeros(n_t, dtype=np.int64)
        self.end = np.zeros(n_t, dtype=np.int64)
        self.plan_dirty = False
        # Zips and areas.
        self.pad_w = np.zeros(n_z)
        self.pad_until = np.full(n_z, -np.inf)
        self.route = np.zeros((n_z, 3))  # magnitude, t0, half-life
        self.route[:, 2] = 1.0
        self.surge_bonus = np.zeros(n_z)
        self.surge_from = np.full(n_z, np.inf)
        self.surge_until = np.full(n_z, -np.inf)
        self.surge_join = np.zeros(net.n_areas)
        self.scen_extra = np.zeros(n_z)  # scenario booking surge: extra bookings per hour
        self.scen_code = np.zeros(n_z, dtype=np.int8)
        self.scen_from = np.full(n_z, np.inf)
        self.scen_until = np.full(n_z, -np.inf)
        self.gami = np.zeros((net.n_areas, 4))  # ftf bonus, kit value, coop bonus, t0
        self.gami_eff = np.zeros((net.n_areas, 4))  # effort, gaming rate, kit, coop (at t0)
        # Who games a fix bonus: a minority of techs, latent (the evaluation API tells).
        share = np.asarray(c.GAMER_SHARE)[net.area_type[net.tech_area]]
        gamer = self.rand.uniform("gamer", np.arange(n_t)) < share
        self.tech_gaming = np.where(gamer, 1.0 / share, 0.0)
        self.bonus_withheld = np.zeros(n_t, dtype=bool)  # the fix bonus stopped for this tech
        self.mission = np.zeros((n_t, 2))  # a sprint mission's skill and NPS deltas at t0
        self.mission_t0 = np.full(n_t, np.inf)
        # A watched peer replay: diagnosis log-odds on jobs of its code, from when it was seen.
        n_codes = len(c.JOB_CODES)
        self.replay = np.zeros((n_t, n_codes))
        self.replay_t0 = np.full((n_t, n_codes), np.inf)
        # Customers.
        self.credit = np.zeros((net.n_customers, 2))  # magnitude, t0
        self.credit[:, 1] = -np.inf
        # Parts.
        base = net.sku_lead[None, :] * net.area_lead_mult[net.locker_area][:, None]
        techs_per_locker = np.maximum(
            1.0, np.bincount(net.tech_locker, minlength=n_l).astype(float) * 0.9
        )
        app_share = np.asarray(c.APPLIANCE_SHARE)[net.sku_appliance]
        demand = (
            techs_per_locker[:, None]
            * c.JOBS_PER_DAY_TARGET
            * 0.75
            * c.PART_NEED
            * (1 - c.PRESTAGE_ACCURACY)
            * (1 - c.VAN_HIT)
            * (app_share * net.sku_pop)[None, :]
        )
        self.lead_base = base
        self.reorder = np.ceil(demand * base * 1.2).astype(np.int32) + 1
        self.stock = self.reorder + (
            self.rand.uniform("stock0", np.arange(n_l * n_s)).reshape(n_l, n_s) * c.ORDER_QTY
        ).astype(np.int32)
        self.order_due = np.full((n_l, n_s), np.inf)
        self.expedite_until = np.full((n_l, n_s), -np.inf)
        self.spike = np.ones((net.n_areas, n_s))  # scenario lead-time multipliers
        self.spike_until = np.full((net.n_areas, n_s), -np.inf)
        # Ground truth for the evaluation API.
        n_a = net.n_areas
        self.truth_visits = np.zeros(n_a, dtype=np.int64)
        self.truth_first = np.zeros(n_a, dtype=np.int64)
        self.truth_fixed = np.zeros(n_a, dtype=np.int64)
        self.truth_recorded = np.zeros(n_a, dtype=np.int64)
        self.truth_gamed = np.zeros(n_a, dtype=np.int64)
        self.truth_recalls_made = np.zeros(n_a, dtype=np.int64)
        self.truth_parts_missing = np.zeros(n_a, dtype=np.int64)
        self.truth_gamed_tech = np.zeros(n_t, dtype=np.int64)
        self.truth_fixes_tech = np.zeros(n_t, dtype=np.int64)  # recorded first-time fixes
        self.truth_true_fixes_tech = np.zeros(n_t, dtype=np.int64)  # made first-time fixes
        self.truth_first_tech = np.zeros(n_t, dtype=np.int64)  # first visits
        self.spend: dict[str, float] = {}
