"""Week snapshots: per-unit GP adds up to the area's GP, exact or estimated."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tailguard.errors import InvalidInputError
from tailguard.events import read_all
from tailguard.metrics import ScorecardEngine
from tailguard.weekly.snapshot import UnitMoney, WeekData, build_week, money_from_events

from .conftest import Network


def _engine_and_money(net: Network) -> tuple[ScorecardEngine, UnitMoney, pl.DataFrame]:
    frame = pl.from_arrow(read_all(net.events))
    assert isinstance(frame, pl.DataFrame)
    engine = ScorecardEngine(7)
    money = UnitMoney()
    for part in frame.partition_by("area_id"):
        engine.ingest(part)
        money.ingest(part)
    return engine, money, frame


def test_unit_gp_sums_to_area_gp_with_and_without_per_unit_money(network_template: Network) -> None:
    """Techs' GP and zips' GP each add up to the area's GP, exact (UnitMoney) or estimated."""
    engine, money, _ = _engine_and_money(network_template)
    end = network_template.ends[1]
    for frames, basis in (
        (build_week(engine, end, money=money.window(end)), "exact"),
        (build_week(engine, end), "estimated"),
    ):
        assert frames["_basis"]["gp_basis"][0] == basis
        area = frames["areas"].select("area_id", "gp_usd")
        for unit in ("techs", "zips"):
            sums = frames[unit].group_by("area_id").agg(pl.col("gp_usd").sum().alias("s"))
            joined = area.join(sums, on="area_id")
            assert joined.height == 3
            for gp, s in joined.select("gp_usd", "s").iter_rows():
                assert s == pytest.approx(gp, rel=1e-9, abs=1e-6), (basis, unit)


def test_unit_money_equals_the_raw_event_computation(network_template: Network) -> None:
    """UnitMoney's daily sums give the same week as filtering the raw events."""
    _, money, frame = _engine_and_money(network_template)
    end = network_template.ends[1]
    a = (
        money.window(end)
        .group_by("area_id", "tech_id")
        .agg(pl.col("revenue", "tech_pay").sum())
        .sort("area_id", "tech_id")
    )
    b = (
        money_from_events(frame, end)
        .group_by("area_id", "tech_id")
        .agg(pl.col("revenue", "tech_pay").sum())
        .sort("area_id", "tech_id")
    )
    assert a["tech_id"].to_list() == b["tech_id"].to_list()
    assert a["revenue"].to_list() == pytest.approx(b["revenue"].to_list())
    with pytest.raises(InvalidInputError, match="midnight"):
        money.window(end.replace(hour=5))


def test_snapshot_files_read_back(network_template: Network) -> None:
    """The demo-side snapshot holds every frame and its GP basis."""
    week = WeekData(network_template.root / "weeks" / network_template.ends[0].date().isoformat())
    assert week.gp_basis == "exact"
    assert {"earnings_week", "gp_usd", "gp_pct"} <= set(week.frame("techs").columns)
    assert {"gp_vs_expected_usd", "eta_adherence_pct", "booked"} <= set(week.frame("zips").columns)
    assert week.frame("jobs").height > 100
    with pytest.raises(InvalidInputError):
        WeekData(Path("/nonexistent"))
