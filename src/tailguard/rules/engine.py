"""Stateful evaluation of tail rules over successive scorecards.

Semantics follow Prometheus alerting rules: a breach starts an alert *pending*; it *fires* once
the breach has held for the rule's ``for`` (``for: 0`` fires at once); when the breach clears,
a firing alert keeps firing while less than ``keep_firing_for`` has passed since the first
clear tick, then resolves. A null KPI is not a breach. State is per (rule, area).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import polars as pl

from tailguard.rules.model import OPS, Rule, RuleSet, render

State = Literal["pending", "firing"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Alert:
    """A rule breached by an area at one evaluation."""

    area_id: str
    rule: str
    kpi: str
    value: float | None
    threshold: float
    op: str
    severity: str
    state: State
    active_since: datetime
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """The alert as the JSON object ``tailguard tails`` prints."""
        return {
            "area_id": self.area_id,
            "rule": self.rule,
            "kpi": self.kpi,
            "value": self.value,
            "threshold": self.threshold,
            "severity": self.severity,
            "op": self.op,
            "state": self.state,
            "agent": self.labels.get("agent"),
            "summary": self.annotations.get("summary"),
        }


@dataclass(slots=True)
class _Track:
    active_since: datetime | None
    last_value: float | None
    firing: bool = False
    cleared_since: datetime | None = None


class RuleEngine:
    """Evaluate a rule set tick after tick, remembering pending/firing state per area.

    Args:
        rules: the rules to evaluate.
    """

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._state: dict[tuple[str, str], _Track] = {}

    def evaluate(self, scorecard: pl.DataFrame, at: datetime) -> list[Alert]:
        """Alerts (pending and firing) at ``at`` for a scorecard (``area_id`` + KPI columns).

        Only breaching areas and areas with open alerts are visited in Python; the breach test
        itself is one vectorised filter per rule.
        """
        alerts: list[Alert] = []
        for rule in self.rules:
            if rule.kpi not in scorecard.columns:
                continue
            col = pl.col(rule.kpi)
            breaching = scorecard.filter(OPS[rule.op](col, rule.threshold)).select(
                "area_id", rule.kpi
            )
            hits = dict(breaching.iter_rows())
            open_areas = [a for (r, a) in self._state if r == rule.name and a not in hits]
            if open_areas:
                current = dict(
                    scorecard.filter(pl.col("area_id").is_in(open_areas))
                    .select("area_id", rule.kpi)
                    .iter_rows()
                )
            else:
                current = {}
            for area, value in hits.items():
                alerts.extend(self._breach(rule, str(area), value, at))
            for area in open_areas:
                alerts.extend(self._clear(rule, area, current.get(area), at))
        alerts.sort(key=lambda a: (a.area_id, a.rule))
        return alerts

    def _breach(self, rule: Rule, area: str, value: float, at: datetime) -> list[Alert]:
        track = self._state.get((rule.name, area))
        if track is None or track.active_since is None:
            firing = track.firing if track is not None else False
            track = _Track(active_since=at, last_value=value, firing=firing)
            self._state[(rule.name, area)] = track
        track.last_value = value
        track.cleared_since = None
        if at - track.active_since >= rule.for_:  # type: ignore[operator]
            track.firing = True
        return [self._alert(rule, area, value, track, "firing" if track.firing else "pending", at)]

    def _clear(self, rule: Rule, area: str, value: float | None, at: datetime) -> list[Alert]:
        key = (rule.name, area)
        track = self._state[key]
        if track.firing and rule.keep_firing_for > timedelta(0):
            if track.cleared_since is None:
                track.cleared_since = at
            if at - track.cleared_since < rule.keep_firing_for:
                track.active_since = track.active_since or at
                return [
                    self._alert(
                        rule,
                        area,
                        value if value is not None else track.last_value,
                        track,
                        "firing",
                        at,
                    )
                ]
        del self._state[key]
        return []

    def _alert(
        self, rule: Rule, area: str, value: float | None, track: _Track, state: State, at: datetime
    ) -> Alert:
        labels = {**rule.labels, "area_id": area, "alertname": rule.name}
        return Alert(
            area_id=area,
            rule=rule.name,
            kpi=rule.kpi,
            value=value,
            threshold=rule.threshold,
            op=rule.op,
            severity=rule.severity,
            state=state,
            active_since=track.active_since or at,
            labels=labels,
            annotations={
                k: render(v, value=value, threshold=rule.threshold, kpi=rule.kpi, labels=labels)
                for k, v in rule.annotations.items()
            },
        )

    def reset(self) -> None:
        """Forget all pending and firing state."""
        self._state.clear()
