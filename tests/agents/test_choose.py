"""The choice policy: which trigger an entry answers when several fire at once."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from tailguard.agents.catalogue import default_catalogue
from tailguard.agents.choose import Chooser, Situation


def _situation(firing: dict[str, float | None], spiking: list[str]) -> Situation:
    """One area, two SKUs: R-1 has the worst 7-day P95, R-2 is the one whose lead time spiked."""
    skus = pl.DataFrame(
        {
            "area_id": ["PA-0001", "PA-0001"],
            "sku": ["R-1", "R-2"],
            "lead_time_p95_days": [12.0, 6.0],
            "on_hand_min": [3, 1],
        }
    )
    return Situation(
        now=datetime(2026, 11, 24, 9, tzinfo=UTC),
        scorecard=pl.DataFrame({"area_id": ["PA-0001"], "parts_lead_time_p95_days": [12.0]}),
        firing={"PA-0001": firing},
        units={"sku": skus},
        signal_units={
            "sku_lead_time_spike": pl.DataFrame(
                {"area_id": ["PA-0001"] * len(spiking), "sku": spiking},
                schema={"area_id": pl.String, "sku": pl.String},
            )
        },
        customers={},
        lockers={("PA-0001", "R-1"): "L-1", ("PA-0001", "R-2"): "L-2"},
    )


def _buffers(situation: Situation) -> list[tuple[str, str, str]]:
    chosen = Chooser(default_catalogue(), seed=1).choose(situation)
    return [
        (c.trigger, c.target_id, c.args["locker_id"])
        for c in chosen
        if c.entry.kind == "locker_buffer"
    ]


def test_a_signal_picks_its_own_unit_when_an_area_rule_fires_too() -> None:
    """The spiking SKU gets the buffer, not the SKU with the worst week (issue 5's known gap)."""
    both = {"parts_lead_time_spike": 12.0, "sku_lead_time_spike": 3.0}
    assert _buffers(_situation(both, ["R-2"])) == [("sku_lead_time_spike", "R-2", "L-2")]
    # With the area rule alone the worst SKU of the week is buffered, as the entry says.
    alone = {"parts_lead_time_spike": 12.0}
    assert _buffers(_situation(alone, [])) == [("parts_lead_time_spike", "R-1", "L-1")]
