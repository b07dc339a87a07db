"""What every signal is: a :class:`Signal` (its name, :class:`SignalSpec` and the frame it
computes from the shared :class:`~.memory.SignalMemory`), and the thresholds of them all
(:class:`SignalConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import polars as pl

if TYPE_CHECKING:
    from tailguard.agents.signals.memory import SignalMemory


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalSpec:
    """What a signal names and how an area's value is summarised.

    Attributes:
        unit: the unit type it names (an entry it triggers must target this unit).
        id_column: the unit's id column in the signal's frame.
        value: the column whose worst value over the area is the trigger's value.
        worst: ``max`` or ``min`` (which end of ``value`` is worst).
    """

    unit: Literal["tech", "zip", "sku"]
    id_column: str
    value: str
    worst: Literal["max", "min"]


class Signal(Protocol):
    """One signal of the hourly tick: a module of this package holding one as ``SIGNAL``.

    ``compute`` reads the rolling frames of the memory (updated once per hour for all areas)
    and returns the units that fire now, one row each, with ``area_id``, the spec's
    ``id_column`` and ``value`` columns; an empty frame (with those columns) when none fires.
    """

    @property
    def name(self) -> str:
        """The trigger name catalogue entries use (``demand_surge``)."""
        ...

    @property
    def spec(self) -> SignalSpec:
        """The unit it names and how an area's value is summarised."""
        ...

    def compute(self, memory: SignalMemory) -> pl.DataFrame:
        """The units firing now (all areas at once)."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalConfig:
    """Thresholds of the agent's own signals.

    Attributes:
        surge_ratio: a zip surges when its bookings this hour reach this multiple of its mean
            hourly bookings over the previous 24 hours...
        surge_min_bookings: ...and are at least this many.
        detractor_nps: the highest NPS that counts as a detractor.
        detractor_hours: a detractor cluster is counted over this many recent hours:
        detractor_cluster: a tech with at least this many detractor surveys...
        detractor_chance: ...that their usual detractor share would give with at most this
            probability, divided by the number of techs of the area tested at once
            (Bonferroni: the chance of a false cluster anywhere in the area in one check is at
            most this). The usual share is estimated from the tech's surveys over the
            ``detractor_baseline_days`` days before the last three (the current episode is not
            its own baseline) with ``detractor_prior_surveys`` pseudo-surveys at the area's
            share of those days, and its uncertainty is kept: the count is judged by the
            Beta-binomial posterior predictive (:mod:`tailguard.agents.chance`), so a tech
            with little history needs more evidence than one whose customers were content for
            weeks. A wave across the area is no cluster around one tech: when the rest of the
            area's detractor odds in those hours (shrunk towards the usual by 20 pseudo-surveys)
            are above the area's usual odds, every tech's usual odds are raised by that ratio.
        detractor_baseline_days: see ``detractor_chance``.
        detractor_prior_surveys: see ``detractor_chance``.
        detractor_rookie_days: in an area whose stream tells hire dates (``hired_on`` on
            ``tech.status``), only techs hired at most this many days ago are tested (the
            family of the Bonferroni bound): the master-tech shadow a cluster calls for coaches
            rookies, and a veteran's customers are not helped by it (nor is the veteran). In an
            area without hire dates every tech is tested. None: every tech everywhere.
        lead_recent_hours: a SKU's lead time spikes in an area when the P95 of the lead times
            its stock events quoted in the last this many hours...
        lead_spike_ratio: ...is at least this multiple of the SKU's own P95 over the
            ``lead_baseline_hours`` before...
        lead_spike_floor_days: ...and at least this many days longer...
        lead_baseline_hours: see ``lead_spike_ratio``.
        lead_min_baseline: ...with at least this many events in the baseline (a SKU the agent
            has not seen for long has no usual lead time yet).
        earnings_recent_days: a tech's earnings decline when the mean pay of their last this
            many worked days (closed days only)...
        earnings_decline_ratio: ...is at most this share of their mean pay per worked day over
            the ``earnings_baseline_days`` worked days before...
        earnings_decline_floor_usd: ...and at least this many dollars a day lower...
        earnings_baseline_days: see ``earnings_decline_ratio``.
        earnings_min_baseline_days: ...with at least this many baseline worked days...
        earnings_bottom_quantile: ...and the tech's pay over the last 7 closed days is at or
            below this quantile of the area's techs who worked in them (the product
            document's P10 earner).
    """

    surge_ratio: float = 3.0
    surge_min_bookings: int = 6
    detractor_nps: int = 6
    detractor_hours: int = 48
    detractor_cluster: int = 3
    detractor_chance: float = 0.05
    detractor_baseline_days: int = 7
    detractor_prior_surveys: float = 5.0
    detractor_rookie_days: int | None = 365
    lead_recent_hours: int = 6
    lead_spike_ratio: float = 2.0
    lead_spike_floor_days: float = 2.0
    lead_baseline_hours: int = 168
    lead_min_baseline: int = 3
    earnings_recent_days: int = 2
    earnings_decline_ratio: float = 0.5
    earnings_decline_floor_usd: float = 40.0
    earnings_baseline_days: int = 5
    earnings_min_baseline_days: int = 3
    earnings_bottom_quantile: float = 0.10
