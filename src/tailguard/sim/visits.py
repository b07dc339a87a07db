"""One batch of technician visits, computed for many technicians at once.

A technician departs for the next job of the day; everything that visit will produce (ETA
updates, the completion, parts drawn, the survey, a chat, a follow-up or a recall booked for
later) is decided here from the job's own keyed random draws (common random numbers) and the
interventions in force, and queued in the outbox with its own timestamp.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tailguard.sim import config as c
from tailguard.sim import parts
from tailguard.sim.emit import STATUS_CODE, TYPE_CODE
from tailguard.sim.network import Network
from tailguard.sim.rng import logit_noise, lognormal
from tailguard.sim.state import DAY, HOUR, KEY_DEPTH, State

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_TICKET = np.asarray(c.TICKET_USD)
_ON_SITE = np.asarray(c.ON_SITE_MIN)


def fade(t0: F64, now: F64, half_life_days: float) -> F64:
    """1 at ``t0`` halving every ``half_life_days``; 0 before ``t0``."""
    age = now - t0
    started = np.isfinite(t0) & (age >= 0)
    return np.where(started, 0.5 ** (np.where(started, age, 0.0) / (half_life_days * DAY)), 0.0)


def route_effect(st: State, z: I64, now: F64) -> F64:
    """The hidden share of travel time a routing boost saves (negative: it costs)."""
    m, t0, half = st.route[z, 0], st.route[z, 1], st.route[z, 2]
    age = now - t0
    on = (m != 0) & (age >= 0)
    return np.where(on, m * 0.5 ** (np.where(on, age, 0.0) / (half * HOUR)), 0.0)


def expected_travel(net: Network, st: State, j: I64, now: F64) -> F64:
    """Routing's travel estimate (minutes) for jobs ``j``, padded where a zip is boosted."""
    z = st.jobs["zip"][j]
    area = st.jobs["area"][j]
    pad = np.where(now < st.pad_until[z], st.pad_w[z], 0.0)
    return np.asarray(net.area_travel[area] * 1.08 * (1.0 + pad), dtype=np.float64)


def run(net: Network, st: State, t: I64, j: I64, depart: F64, est: F64) -> F64:
    """Do the visits of techs ``t`` to jobs ``j``; return when each tech is free again."""
    J = st.jobs
    key = J["key"][j]
    area = J["area"][j]
    z = J["zip"][j]
    code = J["code"][j].astype(np.int64)
    sku = J["sku"][j]
    kind = J["kind"][j]
    cust = J["cust"][j]
    wend = J["wend"][j]
    n = key.shape[0]

    def u(purpose: str) -> F64:
        return st.rand.uniform(purpose, key)

    hod = (depart % DAY) / HOUR
    rush = 1.0 + 0.25 * (((hod >= 7.5) & (hod < 9.5)) | ((hod >= 16.0) & (hod < 18.5)))
    travel = (
        net.area_travel[area]
        * rush
        * lognormal(u("travel"), c.TRAVEL_SIGMA)
        * (1.0 - route_effect(st, z, depart))
    )
    arrival = depart + travel * 60.0
    tenure = (depart - st.tech_hired[t]) / (365.0 * DAY)
    rookie = tenure < 1.0
    dur = (
        _ON_SITE[code]
        * lognormal(u("duration"), 0.35)
        * np.where(rookie, 1.2, 1.0)
        * np.where(kind == 1, 0.7, 1.0)
    )

    # Gamification in force in the area (novelty fades with a two-week half-life).
    g_fade = fade(st.gami[area, 3], depart, 14.0)
    g_eff = st.gami_eff[area] * g_fade[:, None]
    # Gaming does not wear off like novelty: a tech who found the trick keeps using it.
    g_eff[:, 1] = np.where(g_fade > 0, st.gami_eff[area, 1], 0.0)
    # A tech whose fix bonus was withheld (gaming flagged) neither strives for it nor games it.
    g_eff[st.bonus_withheld[t], :2] = 0.0

    # Parts: pre-staged by dispatch, on the van, or from the locker; else a second visit.
    need = sku >= 0
    prestaged_ok = need & (u("prestage") < c.PRESTAGE_ACCURACY + g_eff[:, 2])
    van_ok = need & ~prestaged_ok & (u("van") < net.tech_van[t])
    # A hub buffer (locker_buffer) stages the part on the tech's route.
    near = np.where(
        depart < st.expedite_until[net.tech_locker[t], np.maximum(sku, 0)], 0.95, c.LOCKER_TRIP
    )
    want = need & ~prestaged_ok & ~van_ok & (u("locker_trip") < near)
    locker_ok = np.zeros(n, dtype=bool)
    if want.any():
        locker_ok[want] = parts.draw(net, st, net.tech_locker[t[want]], sku[want], arrival[want])
    dur = dur + np.where(want, 20.0, 0.0)
    missing = need & ~(prestaged_ok | van_ok | locker_ok)

    # Diagnosis and fix; the master-tech shadow and gamification effort shift the odds.
    sh_fade = fade(st.shadow_t0[t], depart, 21.0)
    shadow = st.shadow[t] * sh_fade[:, None]
    mission = st.mission[t] * fade(st.mission_t0[t], depart, 7.0)[:, None]
    # A peer replay the tech watched helps on jobs of its code (0 where none was watched).
    replay = st.replay[t, code] * fade(st.replay_t0[t, code], depart, 21.0)
    logit = (
        c.DIAG_LOGIT
        + net.area_skill[area]
        + st.tech_skill[t]
        + shadow[:, 0]
        + mission[:, 0]
        + replay
        + g_eff[:, 0]
        + g_eff[:, 3]
        + np.where(kind == 1, 1.5, 0.0)
    )
    fixed = (u("diagnosis") < 1.0 / (1.0 + np.exp(-logit))) & ~missing
    # The gaming channel: a reward on recorded first-time fixes gets a gamer to record failures
    # as fixed (a missing part too, instead of booking the follow-up); they come back as recalls.
    gamed = ~fixed & (u("gaming") < np.minimum(0.9, g_eff[:, 1] * st.tech_gaming[t]))
    forced = (key % KEY_DEPTH) >= 12
    fixed |= forced
    gamed &= ~fixed
    recorded = fixed | gamed
    ftf = recorded & (kind != 1)
    completion = arrival + dur * 60.0

    revenue = (
        _TICKET[code]
        * lognormal(u("ticket"), 0.30)
        * np.where(kind == 1, 0.45, 1.0)
        * np.where(kind == 2, 0.0, 1.0)
    )
    # An extra part: likelier for a less skilled tech (the same skill terms as the diagnosis).
    skill = net.area_skill[area] + st.tech_skill[t] + shadow[:, 0]
    p_extra = 1.0 / (1.0 + np.exp(-(c.EXTRA_PART_LOGIT - c.EXTRA_PART_SKILL * skill)))
    extra_part = u("extra_part") < p_extra
    used = np.where(need & ~missing, 1 + extra_part, 0).astype(np.int32)
    part_price = net.sku_cost[np.maximum(sku, 0)] * (0.97 + 0.06 * u("parts_cost"))
    parts_cost = np.where(used > 0, part_price * (1.0 + c.EXTRA_PART_COST * extra_part), 0.0)
    prestaged = np.where(prestaged_ok, used, (u("prestage_wrong") < 0.25).astype(np.int32))
    surge = (completion >= st.surge_from[z]) & (completion < st.surge_until[z])
    surge_pay = np.where(surge, st.surge_bonus[z], 0.0)
    ftf_bonus = np.where(
        ftf & (depart >= st.gami[area, 3]) & ~st.bonus_withheld[t], st.gami[area, 0], 0.0
    )
    offer_bonus = J["bonus"][j]
    pay = net.tech_pay_share[t] * revenue + c.PAY_FLAT_USD + surge_pay + offer_bonus + ftf_bonus
    late_min = np.maximum(0.0, arrival - wend) / 60.0

    detractor = np.where(depart < st.detractor_until[t], st.detractor[t], 0.0)
    nps_raw = (
        10.0
        + net.area_nps[area]
        + st.tech_nps[t]
        + shadow[:, 1]
        + mission[:, 1]
        + detractor
        - np.clip(late_min - c.NPS_LATE_GRACE_MIN, 0.0, 150.0) / c.NPS_LATE_MIN_PER_POINT
        - c.NPS_UNFIXED * ~fixed
        - 1.0 * (kind == 2)
        - 0.5 * (kind == 1)
        + logit_noise(u("nps"), c.NPS_NOISE)
    )
    respond = u("survey") < c.SURVEY_RESPONSE + 0.12 * (nps_raw < 6.5)
    chat = u("chat") < 0.05 + 0.25 * (late_min > 20.0) + 0.2 * ~fixed
    chat_ts = np.where(
        late_min > 20.0,
        wend + u("chat_ts") * (arrival - wend),
        completion + u("chat_ts") * 2 * HOUR,
    )
    sentiment = np.tanh((nps_raw - 7.0) / 2.5) + logit_noise(u("sentiment"), 0.08)

    # Recalls (charged to this tech) and follow-up visits, booked in the future.
    # Weaker areas (training, supervision) see more of their techs' fixes come back.
    area_recall = np.exp(-c.RECALL_AREA_SKILL * net.area_skill[area])
    p_recall = np.where(
        gamed, c.GAMED_RECALL, st.tech_recall[t] * area_recall * (1.0 + shadow[:, 2])
    )
    recall = recorded & ~forced & (u("recall") < p_recall)
    follow = ~recorded
    lead = np.zeros(n)
    if (follow & missing).any():
        m = follow & missing
        lead[m] = parts.lead_days(net, st, net.tech_locker[t[m]], sku[m], completion[m])
    follow_due = completion + np.where(
        missing, lead * DAY * (0.8 + 0.4 * u("follow_due")), 0.3 * DAY
    )
    recall_due = completion + (1.0 + 29.0 * u("recall_due")) * DAY
    fut = np.flatnonzero(follow | recall)
    if fut.shape[0]:
        fr = follow[fut]
        st.future.append(
            fut.shape[0],
            {
                "key": key[fut] + 1,
                "area": area[fut],
                "zip": z[fut],
                "cust": cust[fut],
                "code": code[fut],
                "sku": sku[fut],
                "kind": np.where(fr, 1, 2),
                "recall_of": np.where(fr, -1, key[fut]),
                "orig_tech": np.where(fr, -1, t[fut]),
                "parent": key[fut],
                "due": np.where(fr, follow_due[fut], recall_due[fut]),
            },
        )

    # State: the job is done, the tech is paid, ground truth is counted.
    J["done"][j] = 1
    day = (np.floor(completion / DAY)).astype(np.int64) % 7
    st.day_pay[t, day] += pay
    st.day_jobs[t, day] += 1
    n_a = net.n_areas
    st.truth_visits += np.bincount(area, minlength=n_a)
    st.truth_first += np.bincount(area, weights=kind != 1, minlength=n_a).astype(np.int64)
    st.truth_fixed += np.bincount(area, weights=fixed & (kind != 1), minlength=n_a).astype(np.int64)
    st.truth_recorded += np.bincount(area, weights=ftf, minlength=n_a).astype(np.int64)
    # Gamed first-time fixes (a follow-up recorded as done is not a first-time fix).
    st.truth_gamed += np.bincount(area, weights=gamed & (kind != 1), minlength=n_a).astype(np.int64)
    st.truth_recalls_made += np.bincount(area, weights=recall, minlength=n_a).astype(np.int64)
    st.truth_parts_missing += np.bincount(area, weights=missing, minlength=n_a).astype(np.int64)
    n_t = net.n_techs
    st.truth_gamed_tech += np.bincount(t, weights=gamed & (kind != 1), minlength=n_t).astype(
        np.int64
    )
    st.truth_fixes_tech += np.bincount(t, weights=ftf, minlength=n_t).astype(np.int64)
    first = kind != 1
    st.truth_true_fixes_tech += np.bincount(t, weights=fixed & first, minlength=n_t).astype(
        np.int64
    )
    st.truth_first_tech += np.bincount(t, weights=first, minlength=n_t).astype(np.int64)
    for name, amount in (
        ("surge_pay_window", surge_pay.sum()),
        ("nearby_job_offer", offer_bonus.sum()),
        ("gamification_reward", ftf_bonus.sum()),
    ):
        if amount:
            st.spend[name] = st.spend.get(name, 0.0) + float(amount)

    zip_code = net.zip_code[z]
    _queue_events(st, locals())
    return np.asarray(completion, dtype=np.float64)


def _queue_events(st: State, v: dict[str, Any]) -> None:
    t, j, n = v["t"], v["j"], int(v["n"])
    J = st.jobs
    key, area, cust, code = v["key"], v["area"], v["cust"], v["code"]
    zip_code = v["zip_code"]
    depart, est, arrival, completion = v["depart"], v["est"], v["arrival"], v["completion"]
    # ETA at departure, and a revised ETA when the drive runs 15+ minutes over.
    slip = (v["travel"] - est) > 15.0
    eta_n = n + int(slip.sum())
    st.outbox.append(
        eta_n,
        {
            "type": np.full(eta_n, TYPE_CODE["eta.update"], dtype=np.int8),
            "ts": np.r_[depart, depart[slip] + np.maximum(60.0, (est[slip] - 5.0) * 60.0)],
            "area": np.r_[area, area[slip]],
            "job": np.r_[key, key[slip]],
            "tech": np.r_[t, t[slip]],
            "eta": np.r_[depart + est * 60.0, arrival[slip]],
        },
    )
    first = ~st.departed[t]
    if first.any():
        st.departed[t[first]] = True
        k = int(first.sum())
        st.outbox.append(
            k,
            {
                "type": np.full(k, TYPE_CODE["tech.status"], dtype=np.int8),
                "ts": depart[first],
                "area": area[first],
                "tech": t[first],
                "status": np.full(k, STATUS_CODE["busy"], dtype=np.int8),
            },
        )
    kind = v["kind"]
    st.outbox.append(
        n,
        {
            "type": np.full(n, TYPE_CODE["job.completed"], dtype=np.int8),
            "ts": completion,
            "area": area,
            "job": key,
            "cust": cust,
            "tech": t,
            "zip": zip_code,
            "code": code,
            "wend": v["wend"],
            "arrived": arrival,
            "completed": completion,
            "revenue": v["revenue"],
            "parts_cost": v["parts_cost"],
            "tech_pay": v["pay"],
            "ftf": v["ftf"].astype(np.int8),
            "recall_of": J["recall_of"][j],
            "orig_tech": J["orig_tech"][j],
            "prestaged": v["prestaged"],
            "used": v["used"],
            "parent": np.where(kind != 0, J["parent"][j], -1),
        },
    )
    r = v["respond"]
    k = int(r.sum())
    st.outbox.append(
        k,
        {
            "type": np.full(k, TYPE_CODE["cx.survey"], dtype=np.int8),
            "ts": completion[r] + 1800.0 + v["u"]("survey_ts")[r] * 8 * HOUR,
            "area": area[r],
            "job": key[r],
            "cust": cust[r],
            "tech": t[r],
            "nps_raw": v["nps_raw"][r],
        },
    )
    ch = v["chat"]
    k = int(ch.sum())
    st.outbox.append(
        k,
        {
            "type": np.full(k, TYPE_CODE["cx.chat"], dtype=np.int8),
            "ts": v["chat_ts"][ch],
            "area": area[ch],
            "cust": cust[ch],
            "sentiment": v["sentiment"][ch],
        },
    )
