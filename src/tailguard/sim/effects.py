"""Hidden ground-truth effect sizes of interventions: heterogeneous, sometimes zero or harmful.

Drawn with keyed uniforms (the same intervention at the same hour in two arms gets the same
effect). Means are by area type (urban, suburban, rural) and technician tenure.
"""

from __future__ import annotations

import numpy as np

from tailguard.sim.rng import Streams, logit_noise

#: Mean share of travel time a routing boost of weight 0.15 saves, urban / suburban / rural.
ROUTE_SAVING = (0.10, 0.05, -0.25)
#: Mean NPS points a master-tech shadow costs a veteran's customers.
SHADOW_VETERAN_NPS = -0.8


def _draw(rand: Streams, purpose: str, key: int, mean: float, sd: float) -> float:
    u = rand.uniform(purpose, np.asarray([key]))
    return float(mean + logit_noise(u, sd * 0.5513)[0])


def route_saving(rand: Streams, key: int, area_type: int) -> float:
    """Share of travel time a routing boost saves: helps in cities, hurts rural areas.

    The boost pads the zip's travel estimate, so techs leave earlier (which helps arrivals
    everywhere), and re-routes them: shorter drives in cities, long detours between sparse rural
    jobs, which cost more than the earlier start gains (see :mod:`tailguard.sim.truth`).
    """
    return _draw(rand, "eff-route", key, ROUTE_SAVING[area_type], 0.04)


def surge_join(rand: Streams, key: int, area_type: int) -> float:
    """Probability an off-shift tech of the area joins a surge pay window."""
    return max(0.0, _draw(rand, "eff-surge", key, (0.14, 0.10, 0.05)[area_type], 0.03))


def offer_accept(rand: Streams, key: int, area_type: int, *, rookie: bool) -> float:
    """Probability a tech accepts nearby jobs or a surge shift."""
    base = 0.8 if rookie else 0.6
    return float(np.clip(base * (1.0, 0.95, 0.85)[area_type], 0.05, 0.95))


def apology_lift(rand: Streams, key: int, area_type: int) -> float:
    """NPS points an apology credit adds to a customer's next answers (rarely negative)."""
    return _draw(rand, "eff-apology", key, (0.7, 1.1, 1.5)[area_type], 0.6)


def shadow_effect(rand: Streams, key: int, *, rookie: bool) -> tuple[float, float, float]:
    """(diagnosis log-odds, NPS points, recall-rate multiplier delta) of a master-tech shadow.

    Large for rookies; harmful for veterans, who resent being watched: their customers notice
    (NPS down) and their recall rate rises while the shadow lasts.
    """
    if rookie:
        return (
            _draw(rand, "eff-shadow-skill", key, 0.7, 0.2),
            _draw(rand, "eff-shadow-nps", key, 1.6, 0.4),
            _draw(rand, "eff-shadow-recall", key, -0.35, 0.1),
        )
    return (
        _draw(rand, "eff-shadow-skill", key, 0.0, 0.1),
        _draw(rand, "eff-shadow-nps", key, SHADOW_VETERAN_NPS, 0.3),
        _draw(rand, "eff-shadow-recall", key, 0.10, 0.05),
    )


def mission_effect(
    rand: Streams, key: int, metric: str, *, rookie: bool, area_type: int
) -> tuple[float, float]:
    """(diagnosis log-odds, NPS points) of a sprint mission aimed at ``metric``.

    A mission focuses effort on what it names: rookies respond most, rural techs least (fewer
    peers, longer drives), veterans little; the novelty halves every 7 days.
    """
    scale = (1.0, 0.85, 0.6)[area_type] * (1.4 if rookie else 0.6)
    if metric == "fix":
        return (scale * _draw(rand, "eff-mission-fix", key, 0.25, 0.08), 0.0)
    return (0.0, scale * _draw(rand, "eff-mission-nps", key, 0.5, 0.15))


def replay_watch(*, rookie: bool, area_type: int) -> float:
    """Probability a tech watches a recommended peer replay: rookies mostly do, veterans less,
    rural techs (fewer peers to ask) a little more."""
    return float(np.clip((0.75 if rookie else 0.35) * (0.9, 1.0, 1.15)[area_type], 0.0, 0.95))


def replay_effect(rand: Streams, key: int, *, rookie: bool, area_type: int) -> float:
    """Diagnosis log-odds a watched replay adds on jobs of its code (none elsewhere).

    Rookies learn most from seeing a P90 peer do the job, veterans little (they know it, or
    think so); rural techs, who rarely see a peer at work, a little more. The lesson fades
    with a three-week half-life.
    """
    scale = (0.9, 1.0, 1.2)[area_type]
    if rookie:
        return scale * _draw(rand, "eff-replay", key, 0.45, 0.12)
    return scale * _draw(rand, "eff-replay", key, 0.08, 0.05)


def sms_activation(area_type: int) -> float:
    """Probability a dormant tech answers a recruiting SMS (rural techs are keener)."""
    return (0.10, 0.16, 0.26)[area_type]


def gamification(
    rand: Streams, key: int, area_type: int, parameter: str, value: float
) -> tuple[float, float, float, float]:
    """(effort log-odds, gaming rate, pre-stage accuracy gain, co-op log-odds) of a reward.

    A bonus on recorded first-time fixes buys a little real effort and, the bigger it is, a
    lot of gaming (failures recorded as fixes that come back as recalls), most in cities.
    """
    if value <= 0:
        return (0.0, 0.0, 0.0, 0.0)
    if parameter == "ftf_bonus_usd":
        scale = min(value / 10.0, 2.0)
        effort = _draw(rand, "eff-gami-effort", key, 0.10 * scale, 0.05)
        gaming = min(0.7, (0.20, 0.14, 0.08)[area_type] * scale)
        return (effort, gaming, 0.0, 0.0)
    if parameter == "kit_streak_value_usd":
        gain = min(value / 50.0, 1.5) * _draw(rand, "eff-gami-kit", key, 0.10, 0.04)
        return (0.0, 0.0, max(0.0, gain), 0.0)
    # coop_bonus_usd: team badges help where teams meet (not in rural areas).
    coop = min(value / 100.0, 1.5) * _draw(
        rand, "eff-gami-coop", key, (0.20, 0.12, 0.0)[area_type], 0.08
    )
    return (0.0, 0.0, 0.0, coop)
