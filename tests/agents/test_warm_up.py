"""Agents deployed on a running network start knowing what the warm-up told them."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tailguard.agents.world import build_world, warm_up
from tailguard.metrics import ScorecardEngine
from tailguard.sim import NetworkConfig, Simulator


def test_the_warm_up_tells_the_agents_every_active_techs_hire_date(tmp_path: Path) -> None:
    """After a warm-up, the tenure of the techs the scorecard knows is known for nearly all."""
    sim = Simulator(NetworkConfig(areas=3, seed=5))
    engine = ScorecardEngine()
    signals = warm_up(sim, engine, 3 * 24)
    hires = signals.tech_days.hires
    world = build_world(sim, engine, tmp_path, seed=5, signals=signals, pulse=False)
    try:
        assert world.agents.signals is signals
        techs = engine.units(sim.now, "tech").select("area_id", "tech_id").unique()
        known = techs.join(hires, on=["area_id", "tech_id"], how="left")
        share = known["hired_on"].is_not_null().mean()
        assert share is not None
        assert float(share) > 0.9
        assert (hires["hired_on"] <= sim.now.date()).all()
        world.hour()
    finally:
        world.close()
    # Without the warm-up's memory the agents know no hire date at all at their first hour.
    cold = Simulator(NetworkConfig(areas=3, seed=5))
    engine2 = ScorecardEngine()
    for _ in range(3 * 24):
        engine2.ingest(cold.step())
    (tmp_path / "cold").mkdir()
    world2 = build_world(cold, engine2, tmp_path / "cold", seed=5, pulse=False, durable=False)
    try:
        assert world2.agents.signals.tech_days.hires.is_empty()
        assert isinstance(world2.agents.signals.tech_days.hires, pl.DataFrame)
    finally:
        world2.close()
