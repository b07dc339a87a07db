"""``sku_lead_time_spike``: a SKU whose quoted lead times of the last hours are well above its
own usual ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

import polars as pl

from tailguard.agents.signals.base import SignalSpec
from tailguard.agents.signals.memory import SignalMemory

NO_SPIKE: Final = pl.DataFrame(
    schema={
        "area_id": pl.String,
        "sku": pl.String,
        "lead_recent_p95_days": pl.Float64,
        "lead_usual_p95_days": pl.Float64,
        "lead_spike_ratio": pl.Float64,
    }
)


class SkuLeadTimeSpike:
    """SKUs whose lead time spiked now, per area.

    ``area_id, sku, lead_recent_p95_days, lead_usual_p95_days, lead_spike_ratio``: the P95 of
    the lead times quoted in the last ``lead_recent_hours`` is at least ``lead_spike_ratio``
    times, and ``lead_spike_floor_days`` more than, the SKU's P95 over the
    ``lead_baseline_hours`` before (with at least ``lead_min_baseline`` events).
    """

    name = "sku_lead_time_spike"
    spec = SignalSpec(unit="sku", id_column="sku", value="lead_spike_ratio", worst="max")

    def compute(self, memory: SignalMemory) -> pl.DataFrame:
        """The spiking SKUs of every area (see the class)."""
        cfg = memory.config
        leads = memory.leads
        if memory.now is None or leads.is_empty():
            return NO_SPIKE
        cut = memory.now - timedelta(hours=cfg.lead_recent_hours)
        keys = ["area_id", "sku"]
        recent = (
            leads.filter(pl.col("ts") > cut)
            .group_by(keys)
            .agg(pl.col("lead_time_days").quantile(0.95, "linear").alias("lead_recent_p95_days"))
        )
        if recent.is_empty():
            return NO_SPIKE
        usual = (
            leads.filter(pl.col("ts") <= cut)
            .join(recent.select(keys), on=keys, how="semi")
            .group_by(keys)
            .agg(
                pl.col("lead_time_days").quantile(0.95, "linear").alias("lead_usual_p95_days"),
                pl.len().alias("n"),
            )
            .filter(pl.col("n") >= cfg.lead_min_baseline)
        )
        return (
            recent.join(usual, on=keys)
            .with_columns(
                (
                    pl.col("lead_recent_p95_days")
                    / pl.col("lead_usual_p95_days").clip(lower_bound=0.01)
                ).alias("lead_spike_ratio")
            )
            .filter(
                (pl.col("lead_spike_ratio") >= cfg.lead_spike_ratio)
                & (
                    pl.col("lead_recent_p95_days") - pl.col("lead_usual_p95_days")
                    >= cfg.lead_spike_floor_days
                )
            )
            .select(NO_SPIKE.columns)
            .sort(keys)
        )


SIGNAL: Final = SkuLeadTimeSpike()
