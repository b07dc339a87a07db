"""What one run of the area agents did: the ``agents run`` summary (:class:`RunSummary`).

Filled by the runner (:mod:`.runner`: ticks, events, decisions, gates, recovery, curation, the
crowd's nights, the weekly cycle) and its feeder (:mod:`.feed`: the mode and source, skipped
hours, why it stopped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tailguard.agents.recovery import Recovery
from tailguard.agents.weekly import WeeklyTally
from tailguard.clock import format_ts

__all__ = ["RunSummary", "StopReason"]

StopReason = Literal["end_of_input", "hours", "stopped"]


@dataclass(slots=True)
class RunSummary:
    """What one run of the agents did (the ``agents run`` summary)."""

    mode: str
    source: str
    ticks: int = 0
    warmup_hours: int = 0
    skipped_hours: int = 0
    first_as_of: datetime | None = None
    last_as_of: datetime | None = None
    events: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dead_letter_path: str = ""
    decisions_by_kind: dict[str, int] = field(default_factory=dict)
    executed: int = 0
    failed: int = 0
    rejected: int = 0
    timeouts: int = 0
    gates: dict[str, int] = field(default_factory=dict)
    approvers: int = 0
    recovered: Recovery = field(default_factory=Recovery)
    stopped_by: StopReason = "end_of_input"
    curations: int = 0
    curation_errors: list[str] = field(default_factory=list)
    crowd_nights: int = 0
    crowd_errors: list[str] = field(default_factory=list)
    weekly: dict[str, Any] = field(default_factory=lambda: WeeklyTally().to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return {
            "mode": self.mode,
            "source": self.source,
            "ticks": self.ticks,
            "warmup_hours": self.warmup_hours,
            "skipped_hours": self.skipped_hours,
            "first_as_of": None if self.first_as_of is None else format_ts(self.first_as_of),
            "last_as_of": None if self.last_as_of is None else format_ts(self.last_as_of),
            "events": {"ingested": self.events, "duplicates": self.duplicates},
            "dead_letter": {"count": self.dead_lettered, "path": self.dead_letter_path},
            "decisions": {
                "total": sum(self.decisions_by_kind.values()),
                "by_kind": dict(sorted(self.decisions_by_kind.items())),
            },
            "executed": self.executed,
            "failed": self.failed,
            "rejected": self.rejected,
            "timeouts": self.timeouts,
            "gates": self.gates,
            "approvers": self.approvers,
            "recovered": self.recovered.to_dict(),
            "stopped_by": self.stopped_by,
            "compendium": {"curations": self.curations, "errors": self.curation_errors[-5:]},
            "crowd": {"nights": self.crowd_nights, "errors": self.crowd_errors[-5:]},
            "weekly": self.weekly,
        }
