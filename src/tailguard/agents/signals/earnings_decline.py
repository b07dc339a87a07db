"""``earnings_decline``: a bottom earner whose pay per worked day fell well below their own
usual pace (computed from closed days, so it changes once a day)."""

from __future__ import annotations

from typing import Final

import polars as pl

from tailguard.agents.signals.base import SignalSpec
from tailguard.agents.signals.memory import SignalMemory
from tailguard.agents.techdays import NO_DECLINE


class EarningsDecline:
    """Bottom earners whose pay per worked day fell well below their own pace.

    ``area_id, tech_id, recent_pay_per_day, usual_pay_per_day, pace_ratio, pay_7d,
    area_pay_7d_bottom`` (see :class:`~.base.SignalConfig` ``earnings_*``). Only closed days
    count, so this changes once a day (the per-tech history caches it for the day).
    """

    name = "earnings_decline"
    spec = SignalSpec(unit="tech", id_column="tech_id", value="pace_ratio", worst="min")

    def compute(self, memory: SignalMemory) -> pl.DataFrame:
        """The declining bottom earners of every area (see the class)."""
        if memory.now is None:
            return NO_DECLINE
        return memory.tech_days.earnings_declines(memory.now.date())


SIGNAL: Final = EarningsDecline()
