"""What the area agents read from the event stream besides the scorecard: their own signals.

The scorecard answers "which KPI is in the tail"; choosing a target needs a little more. Each
signal is a module of this package holding one :class:`Signal` as ``SIGNAL`` (its trigger name,
the unit it names and the frame of units firing now), computed for all areas at once from the
rolling frames of :class:`SignalMemory` (:mod:`.memory`), which the tick updates once per hour:

* :mod:`.demand_surge`: a zip's bookings this hour against its usual hourly rate;
* :mod:`.detractor_cluster`: more detractors around one rookie than the tech's own usual share
  explains (the surveys' customers are also who an apology credit goes to);
* :mod:`.sku_lead_time_spike`: a SKU's P95 lead time of the last hours against its own P95 of
  the week before (the latest stock per locker is also where a buffer is sent);
* :mod:`.earnings_decline`: a bottom earner whose pay per worked day fell well below their own
  usual pace (from each tech's days, :mod:`tailguard.agents.techdays`; only closed days count).

A new signal is a new module here with its ``SIGNAL``, named in :data:`SIGNALS` below; its
thresholds join :class:`SignalConfig`. :class:`Signals` is the memory with every signal on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import polars as pl

from tailguard.agents.signals import (
    demand_surge,
    detractor_cluster,
    earnings_decline,
    sku_lead_time_spike,
)
from tailguard.agents.signals.base import Signal, SignalConfig, SignalSpec
from tailguard.agents.signals.memory import SignalMemory

__all__ = [
    "SIGNALS",
    "SIGNAL_SPECS",
    "Signal",
    "SignalConfig",
    "SignalMemory",
    "SignalSpec",
    "Signals",
]

#: The signals the hourly tick computes itself, in the order it reads them.
SIGNALS: Final[tuple[Signal, ...]] = (
    demand_surge.SIGNAL,
    detractor_cluster.SIGNAL,
    sku_lead_time_spike.SIGNAL,
    earnings_decline.SIGNAL,
)
#: Each signal's spec, by trigger name.
SIGNAL_SPECS: Final[Mapping[str, SignalSpec]] = {s.name: s.spec for s in SIGNALS}


class Signals(SignalMemory):
    """The rolling memory with every signal of :data:`SIGNALS` computed on it."""

    def current(self) -> dict[str, pl.DataFrame]:
        """Every signal now, by trigger name (each signal's frame, see its module)."""
        return {s.name: s.compute(self) for s in SIGNALS}

    def demand_surges(self) -> pl.DataFrame:
        """:mod:`.demand_surge` now."""
        return demand_surge.SIGNAL.compute(self)

    def detractor_clusters(self) -> pl.DataFrame:
        """:mod:`.detractor_cluster` now."""
        return detractor_cluster.SIGNAL.compute(self)

    def sku_lead_time_spikes(self) -> pl.DataFrame:
        """:mod:`.sku_lead_time_spike` now."""
        return sku_lead_time_spike.SIGNAL.compute(self)

    def earnings_declines(self) -> pl.DataFrame:
        """:mod:`.earnings_decline` now."""
        return earnings_decline.SIGNAL.compute(self)
