"""The field-service network simulator: events, interventions, scenarios, ground truth."""

from tailguard.sim.config import NetworkConfig
from tailguard.sim.engine import Simulator
from tailguard.sim.evaluation import Evaluation
from tailguard.sim.interventions import (
    INTERVENTION_TYPES,
    ActuationResult,
    ApologyCredit,
    GamificationReward,
    Intervention,
    LockerBuffer,
    MasterTechShadow,
    NearbyJobOffer,
    RecruitingSms,
    RoutingWeightBoost,
    SurgePayWindow,
    SurgeShiftOffer,
    parse_intervention,
)
from tailguard.sim.scenarios import (
    BookingSurge,
    EarningsDecline,
    PartsLeadTimeSpike,
    RookieDetractors,
    Scenario,
    day_in_the_life,
)

__all__ = [
    "INTERVENTION_TYPES",
    "ActuationResult",
    "ApologyCredit",
    "BookingSurge",
    "EarningsDecline",
    "Evaluation",
    "GamificationReward",
    "Intervention",
    "LockerBuffer",
    "MasterTechShadow",
    "NearbyJobOffer",
    "NetworkConfig",
    "PartsLeadTimeSpike",
    "RecruitingSms",
    "RookieDetractors",
    "RoutingWeightBoost",
    "Scenario",
    "Simulator",
    "SurgePayWindow",
    "SurgeShiftOffer",
    "day_in_the_life",
    "parse_intervention",
]
