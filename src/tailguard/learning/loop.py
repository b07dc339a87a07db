"""The nightly learning loop: fit a new policy version from the self-learn store, watch it.

:class:`PolicyLearner` is what an area-agent assembly holds when its policy learns. Every hour
it is told the share of areas inside every guard-band (:meth:`observe`); every night
(:meth:`nightly`) it closes the day, lets the guardrail judge the versions in force since the
last trusted one (rolling back automatically, recorded in the ledger, when they made the
guard-bands worse beyond the threshold), then fits a new version on every measured decision of
all areas in one batch and records it before it is used. ``tailguard learn update`` runs the
same update by hand.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from tailguard.learning.arms import RewardConfig, decision_frame, rewards
from tailguard.learning.dose import ArmInfo
from tailguard.learning.guardrail import GuardrailWatch, start_watch
from tailguard.learning.policy import LearningConfig, ThompsonModel, fit_thompson
from tailguard.learning.store import SelfLearnStore
from tailguard.learning.versions import PolicyStore, changes_between


@dataclass(frozen=True, kw_only=True, slots=True)
class GuardConfig:
    """The guardrail's settings.

    Attributes:
        threshold_points: tolerated drop of the daily share of areas inside every guard-band
            (percentage points) before a version is rolled back.
        alpha: false-alarm probability of one watch, however often it looks.
        watch_days: days without alarm after which the versions watched become the baseline.
        pause_days: nights without updates after an automatic rollback.
    """

    threshold_points: float = 1.0
    alpha: float = 0.05
    watch_days: int = 7
    pause_days: int = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class UpdateReport:
    """What one update did (``tailguard learn update``'s output)."""

    policy_version: str
    previous: str | None
    decisions_used: int
    activated: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "policy_version": self.policy_version,
            "previous": self.previous,
            "decisions_used": self.decisions_used,
            "activated": self.activated,
            "reason": self.reason,
        }


@dataclass(kw_only=True, slots=True)
class _Day:
    total: float = 0.0
    hours: int = 0


@dataclass(kw_only=True)
class PolicyLearner:
    """The learning policy of a network's area agents, its versions and its guardrail.

    Args:
        store: the self-learn store (decisions and outcomes).
        versions: the policy versions (on the same database; records in the same ledger).
        groups: catalogue entry id -> its group (for decisions logged without one).
        arms: every acting arm's dose and cost (:meth:`Catalogue.arm_info
            <tailguard.agents.catalogue.Catalogue.arm_info>`): with them the dose-response
            model chooses; without, the arm-by-arm cells.
        config: the policy's settings.
        guard: the guardrail's settings.
    """

    store: SelfLearnStore
    versions: PolicyStore
    groups: Mapping[str, str]
    arms: Mapping[str, ArmInfo] = field(default_factory=dict)
    config: LearningConfig = field(default_factory=LearningConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    model: ThompsonModel | None = None
    daily: list[float] = field(default_factory=list)
    watch: GuardrailWatch | None = None
    watch_from: str | None = None
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    _day: _Day = field(default_factory=_Day)
    _paused_until: datetime | None = None

    def start(self, now: datetime) -> ThompsonModel:
        """The model in force: the stored active version, or a first (prior-only) version."""
        model = self.versions.active_model()
        if model is None:
            model = fit_thompson(
                pl.DataFrame(), now=now, version="lp-0001-prior", config=self.config, arms=self.arms
            )
            self.versions.add(
                model, previous=None, now=now, decisions_used=0, data_digest="-", changes=[]
            )
        self.model = model
        return model

    @property
    def policy(self) -> ThompsonModel:
        """The model choosing now."""
        if self.model is None:
            raise RuntimeError("PolicyLearner.start() was not called")
        return self.model

    def observe(self, inside_all_share: float | None) -> None:
        """Add one hour's share (0-100) of areas inside every guard-band."""
        if inside_all_share is not None and math.isfinite(inside_all_share):
            self._day.total += inside_all_share
            self._day.hours += 1

    def nightly(self, now: datetime) -> UpdateReport | None:
        """Close the day, judge the versions watched, then update (None while paused/frozen)."""
        if self._day.hours:
            value = self._day.total / self._day.hours
            self.daily.append(value)
            if self.watch is not None:
                self.watch.add(value)
        self._day = _Day()
        if self.watch is not None and self.watch.harmful():
            self._roll_back(now)
        elif self.watch is not None and len(self.watch.diffs) >= self.guard.watch_days:
            self.watch = None  # trusted: the next version is watched against these days
            self.watch_from = None
        if self._paused_until is not None and now < self._paused_until:
            return None
        if self.versions.state().frozen:
            return None
        return self.update(now)

    def update(self, now: datetime) -> UpdateReport:
        """Fit a new version on every measured decision up to ``now`` and record it."""
        previous = self.versions.state().active
        frame = decision_frame(self.store.frame(), self.groups)
        doses = self.config.structure == "dose" and bool(self.arms)
        rewarded = rewards(
            frame,
            RewardConfig(
                # the dose-response model takes each arm's cost off its value itself
                cost_weight=0.0 if doses else self.config.cost_weight,
                clip=self.config.reward_clip,
                day_effects=self.config.day_effects,
            ),
        )
        rewarded = rewarded.filter(pl.col("measured_at") <= now)
        digest = _digest(rewarded)
        n = self.versions.count() + 1
        version = f"lp-{n:04d}-{digest[:8]}"
        model = fit_thompson(rewarded, now=now, version=version, config=self.config, arms=self.arms)
        old = self.model if self.model is not None else None
        activated = self.versions.add(
            model,
            previous=previous,
            now=now,
            decisions_used=rewarded.height,
            data_digest=digest,
            changes=changes_between(old, model),
        )
        if activated:
            if self.watch is None and self.daily:
                self.watch = start_watch(
                    version,
                    self.daily,
                    threshold=self.guard.threshold_points,
                    alpha=self.guard.alpha,
                )
                self.watch_from = previous
            self.model = model
            reason = "activated"
        else:
            reason = "stored as a candidate (the active version is pinned)"
        return UpdateReport(
            policy_version=version,
            previous=previous,
            decisions_used=rewarded.height,
            activated=activated,
            reason=reason,
        )

    def _roll_back(self, now: datetime) -> None:
        assert self.watch is not None
        target = self.watch_from
        detail = self.watch.to_json()
        reason = (
            "guardrail: the daily share of areas inside every guard-band fell by more than "
            f"{self.guard.threshold_points:g} points (always-valid interval {detail['ci']})"
        )
        active = self.versions.state().active
        if target is not None and active is not None and target != active:
            restored = self.versions.rollback(now, by="guardrail", reason=reason, to=target)
            self.model = self.versions.model(restored)
            self.rollbacks.append({"at": now.isoformat(), "from": active, "to": restored,
                                   "watch": detail})  # fmt: skip
        self.watch = None
        self.watch_from = None
        self._paused_until = now + timedelta(days=self.guard.pause_days)


def _digest(rewarded: pl.DataFrame) -> str:
    h = hashlib.sha256()
    if not rewarded.is_empty():
        for did, r in rewarded.select("decision_id", "reward").sort("decision_id").iter_rows():
            h.update(f"{did}:{r:.9g};".encode())
    return h.hexdigest()
