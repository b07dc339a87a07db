"""The recruiter autopilot's request: the campaign's objective and the policy profile its
recruiter approves (channels, cadence, touches, daily send cap, budget, and the interview
policy), validated at the edge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tailguard.errors import InvalidInputError


class CampaignProfile(BaseModel):
    """The policy profile a recruiter approves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: list[Literal["sms", "email", "in_app"]] = Field(min_length=1, max_length=3)
    cadence_hours: int = Field(ge=1, le=336)
    touches: int = Field(ge=1, le=6)
    daily_send_cap: int = Field(ge=1, le=10_000)
    budget_usd: float = Field(gt=0, le=1_000_000)
    cost_per_send_usd: float = Field(default=1.0, ge=0, le=1000)
    interview_kind: Literal["phone", "video", "onsite"] = "phone"
    interview_lead_hours: int = Field(default=48, ge=1, le=336)
    max_reschedules: int = Field(default=1, ge=0, le=3)
    cost_per_interview_usd: float = Field(default=0.0, ge=0, le=10_000)


class CampaignSpec(BaseModel):
    """A campaign as a recruiter asks for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objective: str = Field(min_length=1, max_length=400)
    recruiter_id: str = Field(pattern="^[A-Za-z0-9_-]{1,64}$")
    target_hires: int = Field(ge=1, le=1000)
    max_candidates: int = Field(default=20, ge=1, le=500)
    region: str | None = Field(default=None, max_length=64)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    profile: CampaignProfile


def parse_spec(data: Mapping[str, Any]) -> CampaignSpec:
    """Validate a campaign request.

    Raises:
        InvalidInputError: with the first problem's field and reason.
    """
    try:
        return CampaignSpec.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise InvalidInputError(
            f"campaign: {where}: {first['msg']}", details={"errors": exc.errors()}
        ) from None
