"""Technicians as co-optimisers: TechPower, parts-kit streaks and gaming detection.

The first layers of the gamification issue: the scores and counters are computed from the
event stream (incrementally, like the scorecard); missions, the replay library, co-op badges,
governed payouts, the simulator's response and the technician page build on them.
"""

from tailguard.gamification.gaming import FixLedger, gaming_flags
from tailguard.gamification.streaks import KitAward, KitStreaks
from tailguard.gamification.techpower import TechPowerBook, TechPowerConfig, leaderboard

__all__ = [
    "FixLedger",
    "KitAward",
    "KitStreaks",
    "TechPowerBook",
    "TechPowerConfig",
    "gaming_flags",
    "leaderboard",
]
