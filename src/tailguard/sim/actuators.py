"""Apply interventions to the running simulation (the in-process downstream agents)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tailguard.clock import format_ts
from tailguard.sim import config as c
from tailguard.sim import effects
from tailguard.sim.ids import parse_index
from tailguard.sim.interventions import (
    GAMIFICATION_PARAMETERS,
    ActuationResult,
    ApologyCredit,
    GamificationReward,
    Intervention,
    KitBonus,
    LockerBuffer,
    MasterTechShadow,
    NearbyJobOffer,
    RecruitingSms,
    ReplayRecommendation,
    RoutingWeightBoost,
    SurgePayWindow,
    SurgeShiftOffer,
    TeamBonus,
    TechMission,
    WithholdFixBonus,
)
from tailguard.sim.network import ACTIVE, DORMANT
from tailguard.sim.state import DAY, HOUR

if TYPE_CHECKING:
    from tailguard.sim.engine import Simulator


class _Refused(Exception):
    pass


def _zip(sim: Simulator, code: str) -> int:
    if not (len(code) == 5 and code.isdigit()):
        raise _Refused(f"unknown zip {code!r}")
    hit = np.flatnonzero(sim.net.zip_code == int(code))
    if hit.shape[0] == 0:
        raise _Refused(f"unknown zip {code!r}")
    return int(hit[0])


def _tech(sim: Simulator, text: str, *, active: bool = True) -> int:
    t = parse_index(text, "T", 6)
    if t is None or not 0 <= t < sim.net.n_techs:
        raise _Refused(f"unknown tech {text!r}")
    if active and sim._st.tech_state[t] != ACTIVE:
        raise _Refused(f"tech {text} is not active")
    return t


def _area(sim: Simulator, text: str) -> int:
    a = parse_index(text, "PA-", 4)
    if a is None or not 0 <= a < sim.net.n_areas:
        raise _Refused(f"unknown area {text!r}")
    return a


def apply(sim: Simulator, iv: Intervention) -> ActuationResult:
    """Apply ``iv`` now; refusals (unknown target, declined offer) are results, not errors."""
    seq = len(sim._log) + 1
    now = sim._sec()
    hidden: dict[str, Any] = {}
    details: dict[str, float | int | str] = {}
    try:
        cost, reason, area = _HANDLERS[type(iv)](sim, iv, now, seq, hidden, details)
        accepted = True
    except _Refused as exc:
        cost, reason, area, accepted = 0.0, str(exc), -1, False
    if accepted and cost:
        sim._st.spend[iv.kind] = sim._st.spend.get(iv.kind, 0.0) + cost
    result = ActuationResult(
        intervention_id=f"I{seq:06d}",
        kind=iv.kind,
        accepted=accepted,
        reason=reason,
        cost_usd=round(cost, 2),
        applied_at=format_ts(sim.now),
        details=details,
    )
    sim._log.append(
        {
            "intervention_id": result.intervention_id,
            "kind": iv.kind,
            "area_index": area,
            "applied_at": sim.now,
            "accepted": accepted,
            "reason": reason,
            "cost_usd": result.cost_usd,
            "request": iv,
            "hidden": hidden,
        }
    )
    return result


def _key(sim: Simulator, target: int, seq: int) -> int:
    # Keyed by target and hour (not by sequence), so both arms draw the same effect.
    return target * 1_000_003 + sim._st.hour


def _surge(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    z = _zip(sim, iv.zip)
    if iv.bonus_usd <= 0 or iv.hours <= 0:
        raise _Refused("bonus_usd and hours must be positive")
    st, net = sim._st, sim.net
    a = int(net.zip_area[z])
    st.surge_bonus[z] = iv.bonus_usd
    st.surge_from[z] = now
    st.surge_until[z] = now + iv.hours * HOUR
    join = effects.surge_join(st.rand, _key(sim, z, seq), int(net.area_type[a]))
    hidden["join_probability"] = join
    day = int(now // DAY)
    if sim._shift_day == day and (now % DAY) < 14 * HOUR:
        lo, hi = net.area_tech_start[a], net.area_tech_start[a] + net.area_tech_count[a]
        idx = np.arange(lo, hi)
        off = idx[(st.tech_state[idx] == ACTIVE) & ~st.on_shift[idx]]
        joins = off[st.rand.uniform("surge-join", off, sub=st.hour) < join]
        st.on_shift[joins] = True
        st.offline_sent[joins] = False
        st.free_at[joins] = now + 1800.0
        st.departed[joins] = False
        _rebalance(sim, a, now)
        details["techs_joined"] = int(joins.shape[0])
    details["zip"] = iv.zip
    return 0.0, f"surge pay ${iv.bonus_usd:g}/job for {iv.hours} h", a


def _rebalance(sim: Simulator, area: int, now: float) -> None:
    st = sim._st
    J = st.jobs
    idx = np.flatnonzero(
        (J["done"] == 0) & (J["area"] == area) & (J["tech"] >= 0) & (J["wstart"] > now + HOUR)
    )
    idx = idx[J["day"][idx] <= int(now // DAY)]
    sim._assign(idx, now, salt=st.hour + 2**25)


def _nearby(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    t = _tech(sim, iv.tech_id)
    st, net = sim._st, sim.net
    a = int(net.tech_area[t])
    rookie = (now - st.tech_hired[t]) < 365 * DAY
    p = effects.offer_accept(st.rand, _key(sim, t, seq), int(net.area_type[a]), rookie=rookie)
    hidden["accept_probability"] = p
    if st.rand.uniform("offer-accept", np.asarray([t]), sub=st.hour)[0] >= p:
        raise _Refused("tech declined the offer")
    J = st.jobs
    day = int(now // DAY)
    moved = 0
    if sim._shift_day == day and st.on_shift[t] and not st.offline_sent[t]:
        cand = np.flatnonzero(
            (J["done"] == 0) & (J["area"] == a) & (J["tech"] >= 0) & (J["tech"] != t)
            & (J["day"] <= day) & (J["wstart"] > now + HOUR)
        )  # fmt: skip
        if cand.shape[0]:
            load = np.bincount(J["tech"][cand], minlength=net.n_techs)[J["tech"][cand]]
            pick = cand[np.lexsort((J["key"][cand], -load))[: iv.jobs]]
            J["tech"][pick] = t
            J["bonus"][pick] = iv.bonus_usd
            moved = int(pick.shape[0])
            st.plan_dirty = True
    if moved < iv.jobs:
        # Not working now: more and bonus-paid jobs at the next dispatches.
        st.boost_mult[t] = 1.6
        st.boost_until[t] = now + 2 * DAY
    details["jobs_moved"] = moved
    return 0.0, f"accepted; {moved} job(s) moved now", a


def _shift(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    t = _tech(sim, iv.tech_id)
    st, net = sim._st, sim.net
    a = int(net.tech_area[t])
    rookie = (now - st.tech_hired[t]) < 365 * DAY
    p = 0.85 * effects.offer_accept(
        st.rand, _key(sim, t, seq), int(net.area_type[a]), rookie=rookie
    )
    hidden["accept_probability"] = p
    if st.rand.uniform("shift-accept", np.asarray([t]), sub=st.hour)[0] >= p:
        raise _Refused("tech declined the shift")
    day = int(now // DAY) + 1
    if sim._dow(day) == 6:
        day += 1
    st.extra_day[t] = day
    st.boost_mult[t] = 1.4
    st.boost_until[t] = (day + 1) * DAY
    details["shift_day"] = format_day(sim, day)
    return float(iv.premium_usd), "accepted the surge shift", a


def format_day(sim: Simulator, day: int) -> str:
    """The date of simulation day ``day``."""
    from datetime import timedelta

    return (sim._origin + timedelta(days=day)).date().isoformat()


def _routing(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    z = _zip(sim, iv.zip)
    if not 0 < iv.weight <= 1.0 or iv.hours <= 0:
        raise _Refused("weight must be in (0, 1] and hours positive")
    st, net = sim._st, sim.net
    a = int(net.zip_area[z])
    saving = effects.route_saving(st.rand, _key(sim, z, seq), int(net.area_type[a]))
    saving *= iv.weight / 0.15
    st.pad_w[z] = iv.weight
    st.pad_until[z] = now + iv.hours * HOUR
    st.route[z] = (saving, now, 36.0)
    hidden["travel_saving"] = saving
    hidden["half_life_hours"] = 36.0
    return 0.0, f"traffic weight +{iv.weight:.0%} for {iv.hours} h", a


def _apology(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    if not iv.customer_ids or iv.amount_usd <= 0:
        raise _Refused("no customers or no amount")
    st, net = sim._st, sim.net
    idx = [parse_index(cid, "C", 9) for cid in iv.customer_ids]
    if any(i is None or not 0 <= i < net.n_customers for i in idx):
        raise _Refused("unknown customer id")
    cust = np.asarray(idx, dtype=np.int64)
    area = np.searchsorted(net.area_cust_start, cust, side="right") - 1
    lifts = np.asarray(
        [effects.apology_lift(st.rand, _key(sim, int(ci), seq), int(net.area_type[ai]))
         for ci, ai in zip(cust, area, strict=True)]
    )  # fmt: skip
    lifts *= min(iv.amount_usd / 25.0, 2.0) ** 0.5
    st.credit[cust, 0] = lifts
    st.credit[cust, 1] = now
    hidden["nps_lift_mean"] = float(lifts.mean())
    details["customers"] = int(cust.shape[0])
    return iv.amount_usd * cust.shape[0], "credited", int(area[0])


def _locker(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    st, net = sim._st, sim.net
    lk = parse_index(iv.locker_id, "L", 5)
    if lk is None or not 0 <= lk < net.locker_area.shape[0]:
        raise _Refused(f"unknown locker {iv.locker_id!r}")
    if iv.sku not in net.sku_codes:
        raise _Refused(f"unknown sku {iv.sku!r}")
    if iv.units <= 0 or iv.days <= 0:
        raise _Refused("units and days must be positive")
    s = net.sku_codes.index(iv.sku)
    st.stock[lk, s] += iv.units
    st.expedite_until[lk, s] = now + iv.days * DAY
    cost = iv.units * float(net.sku_cost[s]) + 45.0
    return (
        cost,
        f"{iv.units} x {iv.sku} expedited; hub buffer {iv.days:g} d",
        int(net.locker_area[lk]),
    )


def _shadow(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    t = _tech(sim, iv.tech_id)
    st = sim._st
    rookie = (now - st.tech_hired[t]) < 365 * DAY
    eff = effects.shadow_effect(st.rand, _key(sim, t, seq), rookie=rookie)
    st.shadow[t] = eff
    st.shadow_t0[t] = (now // DAY + 1) * DAY  # next morning
    hidden.update(skill=eff[0], nps=eff[1], recall_mult_delta=eff[2], half_life_days=21.0)
    return float(iv.cost_usd), "master tech scheduled for tomorrow", int(sim.net.tech_area[t])


def _sms(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    z = _zip(sim, iv.zip)
    st, net = sim._st, sim.net
    a = int(net.zip_area[z])
    lo, hi = net.area_tech_start[a], net.area_tech_start[a] + net.area_tech_count[a]
    idx = np.arange(lo, hi)
    dormant = idx[(st.tech_state[idx] == DORMANT) & ~(st.react_until[idx] > now)]
    if dormant.shape[0] == 0:
        raise _Refused("no dormant techs in the area")
    order = np.lexsort((dormant, net.tech_zip[dormant] != z))  # the zip's own techs first
    sent = dormant[order][: max(0, iv.max_messages)]
    p = effects.sms_activation(int(net.area_type[a]))
    yes = sent[st.rand.uniform("sms-yes", sent, sub=st.hour) < p]
    st.react_until[yes] = (now // DAY + 15) * DAY
    st.tech_hired[yes] = np.minimum(st.tech_hired[yes], now - 365 * DAY)
    hidden["activation_probability"] = p
    details.update(messages=int(sent.shape[0]), activated=int(yes.shape[0]))
    return 0.05 * sent.shape[0] + iv.sign_on_usd * yes.shape[0], "messages sent", a


def _gami(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    a = _area(sim, iv.area_id)
    if iv.parameter not in GAMIFICATION_PARAMETERS:
        raise _Refused(f"unknown parameter {iv.parameter!r}")
    if iv.value < 0:
        raise _Refused("value must be >= 0")
    st, net = sim._st, sim.net
    eff = effects.gamification(
        st.rand, _key(sim, a, seq), int(net.area_type[a]), iv.parameter, iv.value
    )
    p = GAMIFICATION_PARAMETERS.index(iv.parameter)
    st.gami[a, p] = iv.value
    st.gami[a, 3] = now
    # Each parameter owns its channels; setting one leaves the others' current effects.
    channels = {0: (0, 1), 1: (2,), 2: (3,)}[p]
    for ch in channels:
        st.gami_eff[a, ch] = eff[ch]
    hidden.update(effort=eff[0], gaming_rate=eff[1], prestage_gain=eff[2], coop=eff[3])
    return 0.0, f"{iv.parameter} = {iv.value:g}", a


def _withhold(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    t = _tech(sim, iv.tech_id, active=False)
    st = sim._st
    if st.bonus_withheld[t]:
        raise _Refused(f"the fix bonus of {iv.tech_id} is already withheld")
    st.bonus_withheld[t] = True
    hidden.update(gamer=bool(st.tech_gaming[t] > 0), gamed_fixes=int(st.truth_gamed_tech[t]))
    return 0.0, "fix bonus withheld", int(sim.net.tech_area[t])


def _kit(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    t = _tech(sim, iv.tech_id)
    if not 0 < iv.value_usd <= 500:
        raise _Refused("a bonus kit is worth more than $0 and at most $500")
    # The kit is the prize; the streak incentive itself is the area's kit_streak_value_usd.
    return float(iv.value_usd), "bonus kit sent", int(sim.net.tech_area[t])


def _mission(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    t = _tech(sim, iv.tech_id)
    if iv.metric not in ("fix", "nps"):
        raise _Refused(f"unknown mission metric {iv.metric!r} (fix or nps)")
    if not 1 <= iv.jobs <= 50:
        raise _Refused("a mission spans 1 to 50 jobs")
    st, net = sim._st, sim.net
    rookie = bool((now - st.tech_hired[t]) < 365 * DAY)
    a = int(net.tech_area[t])
    eff = effects.mission_effect(
        st.rand, _key(sim, t, seq), iv.metric, rookie=rookie, area_type=int(net.area_type[a])
    )
    st.mission[t] = eff
    st.mission_t0[t] = now
    hidden.update(skill=eff[0], nps=eff[1], half_life_days=7.0, rookie=rookie)
    return 0.0, f"{iv.metric} mission sent", a


def _team(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    a = _area(sim, iv.area_id)
    if not 0 < iv.usd_per_member <= 500 or not 1 <= iv.members <= 1000:
        raise _Refused("a team bonus is $0-500 a member for 1 to 1,000 members")
    # The bonus is the prize; the co-op incentive itself is the area's coop_bonus_usd.
    details.update(members=int(iv.members))
    return float(iv.usd_per_member) * int(iv.members), "team bonus paid", a


def _replay(sim: Simulator, iv: Any, now: float, seq: int, hidden: Any, details: Any) -> Any:
    t = _tech(sim, iv.tech_id)
    if iv.job_code not in c.JOB_CODES:
        raise _Refused(f"unknown job code {iv.job_code!r}")
    st, net = sim._st, sim.net
    rookie = bool((now - st.tech_hired[t]) < 365 * DAY)
    a = int(net.tech_area[t])
    code = c.JOB_CODES.index(iv.job_code)
    key = _key(sim, t, seq) * 8 + code
    p = effects.replay_watch(rookie=rookie, area_type=int(net.area_type[a]))
    watched = bool(st.rand.uniform("replay-watch", np.asarray([key]))[0] < p)
    details.update(viewed=int(watched))
    hidden.update(watch_probability=p, rookie=rookie, skill=0.0, half_life_days=21.0)
    if not watched:
        return 0.0, "replay recommended, not watched", a
    eff = effects.replay_effect(st.rand, key, rookie=rookie, area_type=int(net.area_type[a]))
    st.replay[t, code] = eff
    st.replay_t0[t, code] = now
    hidden.update(skill=eff)
    return 0.0, "replay watched", a


_HANDLERS: dict[type, Any] = {
    SurgePayWindow: _surge,
    NearbyJobOffer: _nearby,
    SurgeShiftOffer: _shift,
    RoutingWeightBoost: _routing,
    ApologyCredit: _apology,
    LockerBuffer: _locker,
    MasterTechShadow: _shadow,
    RecruitingSms: _sms,
    GamificationReward: _gami,
    WithholdFixBonus: _withhold,
    KitBonus: _kit,
    TechMission: _mission,
    TeamBonus: _team,
    ReplayRecommendation: _replay,
}
