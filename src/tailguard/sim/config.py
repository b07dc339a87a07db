"""The simulator's configuration and the calibration constants it is tuned with.

The constants are the knobs ``docs/simulator.md`` measures; they are module-level, named and
commented so that re-calibrating is a matter of editing numbers here and re-running
``bench/calibrate_sim.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from tailguard.errors import InvalidInputError

AREA_TYPES: Final = ("urban", "suburban", "rural")
AREA_TYPE_SHARE: Final = (0.30, 0.45, 0.25)

#: Appliances, their job code, share of demand, mean ticket (USD), minutes on site, and
#: whether a part is usually needed.
APPLIANCES: Final = ("DW", "FR", "WA", "DR", "OV", "MW")
JOB_CODES: Final = ("DW-REPAIR", "FR-REPAIR", "WA-REPAIR", "DR-REPAIR", "OV-REPAIR", "MW-REPAIR")
APPLIANCE_SHARE: Final = (0.22, 0.24, 0.20, 0.12, 0.14, 0.08)
TICKET_USD: Final = (215.0, 265.0, 225.0, 185.0, 235.0, 165.0)
ON_SITE_MIN: Final = (46.0, 58.0, 50.0, 42.0, 50.0, 34.0)
PART_NEED: Final = 0.66

#: Booking windows: two-hour slots starting at these hours, and how customers pick them.
WINDOW_START_HOURS: Final = (8, 10, 12, 14, 16)
WINDOW_WEIGHTS: Final = (0.26, 0.23, 0.20, 0.17, 0.14)
WINDOW_HOURS: Final = 2

#: Booking calls by hour of day (sums to 1) and by day of week (Monday first).
HOUR_SHAPE: Final = (
    0.002, 0.001, 0.001, 0.001, 0.002, 0.005, 0.020, 0.050, 0.085, 0.095, 0.092, 0.085,
    0.078, 0.074, 0.070, 0.066, 0.060, 0.052, 0.045, 0.040, 0.030, 0.020, 0.012, 0.005,
)  # fmt: skip
DOW_SHAPE: Final = (1.18, 1.10, 1.04, 1.00, 0.96, 0.78, 0.58)

#: Technicians: jobs per on-shift day the network is staffed for, shift start, last departure.
JOBS_PER_DAY_TARGET: Final = 5.8
SHIFT_START_H: Final = 7.5
LAST_DEPART_H: Final = 20.5
SICK_DAY_P: Final = 0.03
PART_TIME_SHARE: Final = 0.18
DORMANT_SHARE: Final = 0.08
HIRE_SLOT_SHARE: Final = 0.08
ANNUAL_CHURN: Final = 0.20

#: Pay: a share of revenue plus a flat amount per visit.
PAY_SHARE: Final = (0.17, 0.245)
PAY_FLAT_USD: Final = 13.0

#: Travel minutes by area type (urban, suburban, rural) before noise.
TRAVEL_MIN: Final = (24.0, 28.0, 40.0)
TRAVEL_SIGMA: Final = 0.42  # spread of one drive around the area's mean (lognormal)

#: Quality: base log-odds of a correct diagnosis; spread of areas and techs.
DIAG_LOGIT: Final = 2.45
AREA_SKILL_SD: Final = 0.6
TECH_SKILL_SD: Final = 0.45
PRESTAGE_ACCURACY: Final = 0.62
#: Share of techs who would game a bonus on recorded first-time fixes (the rest never do), by
#: area type (urban, suburban, rural); a gamer's gaming rate is the area's rate divided by the
#: share (at most 0.9), so the area's mean rate is the documented one.
GAMER_SHARE: Final = (0.22, 0.155, 0.09)
#: A gamed fix was never a fix: the customer calls again within 30 days this often.
GAMED_RECALL: Final = 0.85
VAN_HIT: Final = 0.45
LOCKER_TRIP: Final = 0.55  # a locker on the day's route holds the part's bin
RECALL_BAD_SHARE: Final = 0.06  # techs with 9-18 % recalls; the rest 1-7 %
RECALL_BAD_SD: Final = 0.8  # spread of that share between areas (lognormal sigma)
RECALL_AREA_SKILL: Final = 0.9  # recall rates x exp(-0.9 x area skill): weak areas recall more
SURVEY_RESPONSE: Final = 0.30
#: NPS answers: 10 less what went wrong. Customers shrug off the first minutes of lateness,
#: then lose a point per NPS_LATE_MIN_PER_POINT minutes; an unfixed first visit (part ordered,
#: second visit booked) costs NPS_UNFIXED points; individual noise is logistic (NPS_NOISE).
NPS_LATE_GRACE_MIN: Final = 10.0
NPS_LATE_MIN_PER_POINT: Final = 18.0
NPS_UNFIXED: Final = 1.4
NPS_NOISE: Final = 0.45

#: Parts: SKUs per appliance, the SKU the product document names, lead times.
SKUS_PER_APPLIANCE: Final = 4
NAMED_SKU: Final = "R-9923"
LEAD_DAYS: Final = (1.0, 3.2)
LOCKER_TECHS: Final = 25
#: Parts cost: SKUs of one appliance within +-5 % of its price level; a tech unsure of the
#: diagnosis fits an extra, cheaper part ("parts cannon") with log-odds EXTRA_PART_LOGIT that
#: fall by EXTRA_PART_SKILL per unit of skill (area + tech + shadow, as in the diagnosis).
SKU_COST_SPREAD: Final = 0.05
EXTRA_PART_LOGIT: Final = -2.3
EXTRA_PART_SKILL: Final = 1.2
EXTRA_PART_COST: Final = 0.55
ORDER_QTY: Final = 6


@dataclass(frozen=True, kw_only=True, slots=True)
class NetworkConfig:
    """What network to simulate.

    Attributes:
        areas: planning areas (1..9999), default 400.
        seed: every random draw derives from it; equal configs give equal events.
        start: the first simulated hour (UTC; truncated to the hour).
        mean_techs: mean technicians per area (areas range 30..300).
    """

    areas: int = 400
    seed: int = 0
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 5, tzinfo=UTC))
    mean_techs: float = 100.0

    def __post_init__(self) -> None:
        if not 1 <= self.areas <= 9999:
            raise InvalidInputError(f"areas must be between 1 and 9999, got {self.areas}")
        if not 0 <= self.seed < 2**63:
            raise InvalidInputError(f"seed must be between 0 and 2**63-1, got {self.seed}")
        if not 30.0 <= self.mean_techs <= 300.0:
            raise InvalidInputError(f"mean_techs must be in 30..300, got {self.mean_techs}")
        start = self.start if self.start.tzinfo else self.start.replace(tzinfo=UTC)
        start = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        object.__setattr__(self, "start", start)
