"""The intervention catalogue as typed requests, and what applying one reports back.

Each request names its target the way an agent sees it (a zip code, a ``T000123`` tech id, a
``C000000042`` customer id, a ``L00007`` locker and a SKU). Hidden effects live in
:mod:`.effects`; agents only ever see :class:`ActuationResult`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Final

from tailguard.errors import InvalidInputError

GAMIFICATION_PARAMETERS: Final = ("ftf_bonus_usd", "kit_streak_value_usd", "coop_bonus_usd")


@dataclass(frozen=True, kw_only=True, slots=True)
class SurgePayWindow:
    """Pay a bonus per job completed in ``zip`` for the next ``hours``; off-shift techs may join."""

    kind: ClassVar[str] = "surge_pay_window"
    zip: str
    bonus_usd: float = 10.0
    hours: int = 6


@dataclass(frozen=True, kw_only=True, slots=True)
class NearbyJobOffer:
    """Offer a (low-earning) tech ``jobs`` open jobs nearby today, with a bonus per job."""

    kind: ClassVar[str] = "nearby_job_offer"
    tech_id: str
    jobs: int = 2
    bonus_usd: float = 17.0


@dataclass(frozen=True, kw_only=True, slots=True)
class SurgeShiftOffer:
    """Offer a tech an extra (surge) shift on the next service day for a premium."""

    kind: ClassVar[str] = "surge_shift_offer"
    tech_id: str
    premium_usd: float = 60.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RoutingWeightBoost:
    """Raise the traffic weight of ``zip`` in routing (techs leave earlier) for ``hours``."""

    kind: ClassVar[str] = "routing_weight_boost"
    zip: str
    weight: float = 0.15
    hours: int = 48


@dataclass(frozen=True, kw_only=True, slots=True)
class ApologyCredit:
    """Credit each customer ``amount_usd`` with an apology."""

    kind: ClassVar[str] = "apology_credit"
    customer_ids: tuple[str, ...]
    amount_usd: float = 25.0


@dataclass(frozen=True, kw_only=True, slots=True)
class LockerBuffer:
    """Expedite ``units`` of ``sku`` to a locker and keep a hub buffer for ``days``."""

    kind: ClassVar[str] = "locker_buffer"
    locker_id: str
    sku: str
    units: int = 6
    days: float = 14.0


@dataclass(frozen=True, kw_only=True, slots=True)
class MasterTechShadow:
    """Schedule a master tech to shadow ``tech_id`` on the next service day."""

    kind: ClassVar[str] = "master_tech_shadow"
    tech_id: str
    cost_usd: float = 400.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RecruitingSms:
    """Text up to ``max_messages`` dormant techs of the zip's area (the zip's own first)."""

    kind: ClassVar[str] = "recruiting_sms"
    zip: str
    max_messages: int = 25
    sign_on_usd: float = 75.0


@dataclass(frozen=True, kw_only=True, slots=True)
class GamificationReward:
    """Set a gamification reward parameter of an area (an A/B-able value, 0 switches it off)."""

    kind: ClassVar[str] = "gamification_reward"
    area_id: str
    parameter: str
    value: float


@dataclass(frozen=True, kw_only=True, slots=True)
class WithholdFixBonus:
    """Stop paying one tech the area's bonus on recorded first-time fixes (gaming flagged)."""

    kind: ClassVar[str] = "withhold_fix_bonus"
    tech_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class KitBonus:
    """Give a tech a mystery bonus parts kit worth ``value_usd`` (a parts-kit streak's prize)."""

    kind: ClassVar[str] = "kit_bonus"
    tech_id: str
    value_usd: float = 50.0


@dataclass(frozen=True, kw_only=True, slots=True)
class TeamBonus:
    """Pay every member of an area's team ``usd_per_member`` for a co-op goal they met."""

    kind: ClassVar[str] = "team_bonus"
    area_id: str
    usd_per_member: float
    members: int


@dataclass(frozen=True, kw_only=True, slots=True)
class TechMission:
    """Give a tech a sprint mission aimed at ``metric`` (``fix`` or ``nps``) in the field app."""

    kind: ClassVar[str] = "tech_mission"
    tech_id: str
    metric: str
    jobs: int = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplayRecommendation:
    """Recommend a tech a peer replay of a ``job_code`` job in the field app (they may watch)."""

    kind: ClassVar[str] = "replay_recommendation"
    tech_id: str
    job_code: str


Intervention = (
    SurgePayWindow
    | NearbyJobOffer
    | SurgeShiftOffer
    | RoutingWeightBoost
    | ApologyCredit
    | LockerBuffer
    | MasterTechShadow
    | RecruitingSms
    | GamificationReward
    | WithholdFixBonus
    | KitBonus
    | TechMission
    | TeamBonus
    | ReplayRecommendation
)

INTERVENTION_TYPES: Final[dict[str, type[Intervention]]] = {
    cls.kind: cls
    for cls in (
        SurgePayWindow,
        NearbyJobOffer,
        SurgeShiftOffer,
        RoutingWeightBoost,
        ApologyCredit,
        LockerBuffer,
        MasterTechShadow,
        RecruitingSms,
        GamificationReward,
        WithholdFixBonus,
        KitBonus,
        TechMission,
        TeamBonus,
        ReplayRecommendation,
    )
}


def parse_intervention(kind: str, args: Mapping[str, Any]) -> Intervention:
    """Build an intervention from its kind and a JSON-like argument mapping.

    Raises:
        InvalidInputError: unknown kind, unknown or missing argument, or a value of the wrong type.
    """
    cls = INTERVENTION_TYPES.get(kind)
    if cls is None:
        raise InvalidInputError(
            f"unknown intervention kind {kind!r}; known: {', '.join(sorted(INTERVENTION_TYPES))}"
        )
    known = {f.name: f for f in fields(cls)}
    unknown = set(args) - set(known)
    if unknown:
        raise InvalidInputError(f"{kind}: unknown argument(s) {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, f in known.items():
        if name not in args:
            continue
        value = args[name]
        expected = str(f.type)
        if expected.startswith("tuple"):
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise InvalidInputError(f"{kind}: {name} must be a list of strings")
            value = tuple(value)
        elif expected == "str" and not isinstance(value, str):
            raise InvalidInputError(f"{kind}: {name} must be a string")
        elif expected == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInputError(f"{kind}: {name} must be an integer")
        elif expected == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInputError(f"{kind}: {name} must be a number")
            value = float(value)
        values[name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise InvalidInputError(f"{kind}: {exc}") from None


@dataclass(frozen=True, kw_only=True, slots=True)
class ActuationResult:
    """What applying an intervention did, as the agent (and the ledger) may see it.

    Attributes:
        intervention_id: ``I`` + sequence number within this simulator.
        kind: the intervention kind.
        accepted: True if it took effect; False if refused or declined.
        reason: why, in a few words (always set).
        cost_usd: money committed now (credits, premiums, expedites, SMS and sign-on fees);
            per-job bonuses are paid later and show in the tech_pay of the jobs.
        applied_at: simulated time of application (RFC 3339).
        details: small counts (jobs moved, techs messaged, ...).
    """

    intervention_id: str
    kind: str
    accepted: bool
    reason: str
    cost_usd: float
    applied_at: str
    details: dict[str, float | int | str] = field(default_factory=dict)
