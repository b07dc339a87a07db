"""The simulator's gaming channel: who games a fix bonus, what it does to recorded and true
fixes, and the two levers an agent has (withhold one tech's bonus, pay a streak's kit)."""

from __future__ import annotations

import polars as pl
import pytest

from tailguard.sim import NetworkConfig, Simulator
from tailguard.sim.evaluation import Evaluation
from tailguard.sim.ids import area_id
from tailguard.sim.interventions import GamificationReward, KitBonus, WithholdFixBonus


@pytest.fixture(scope="module")
def bonused() -> Simulator:
    """Six areas, a $10 fix bonus everywhere from day 2, ten days in all."""
    sim = Simulator(NetworkConfig(areas=6, seed=11))
    for _ in range(24):
        sim.step()
    for a in range(6):
        result = sim.apply(
            GamificationReward(area_id=area_id(a), parameter="ftf_bonus_usd", value=10.0)
        )
        assert result.accepted
    for _ in range(24 * 9):
        sim.step()
    return sim


def test_only_the_gamers_game_and_their_fixes_are_recorded_not_made(bonused: Simulator) -> None:
    truth = Evaluation(bonused).gaming()
    honest = truth.filter(~pl.col("gamer"))
    assert honest["gamed_fixes"].sum() == 0
    assert truth.filter(pl.col("gamer"))["gamed_fixes"].sum() > 50
    assert 0.05 < truth["gamer"].mean() < 0.35  # type: ignore[operator]
    quality = Evaluation(bonused).quality()
    assert (quality["recorded_fixes"] >= quality["true_fixes"]).all()
    assert (quality["recorded_fixes"] - quality["true_fixes"]).sum() == quality["gamed_fixes"].sum()


def test_a_withheld_tech_stops_gaming_and_the_bonus_stops(bonused: Simulator) -> None:
    sim = bonused
    truth = Evaluation(sim).gaming().filter(pl.col("gamer")).sort("gamed_fixes", descending=True)
    tech = truth["tech_id"][0]
    before = int(truth["gamed_fixes"][0])
    assert sim.apply(WithholdFixBonus(tech_id=tech)).accepted
    again = sim.apply(WithholdFixBonus(tech_id=tech))
    assert not again.accepted
    assert "already withheld" in again.reason
    for _ in range(24 * 5):
        sim.step()
    after = Evaluation(sim).gaming().filter(pl.col("tech_id") == tech).row(0, named=True)
    assert after["withheld"]
    assert after["gamed_fixes"] == before


def test_a_bonus_kit_costs_its_value_and_bad_ones_are_refused() -> None:
    sim = Simulator(NetworkConfig(areas=2, seed=3))
    sim.step()
    tech = Evaluation(sim).gaming()["tech_id"][0]
    paid = sim.apply(KitBonus(tech_id=tech, value_usd=50.0))
    assert paid.accepted
    assert paid.cost_usd == 50.0
    assert Evaluation(sim).spend()["kit_bonus"] == 50.0
    assert not sim.apply(KitBonus(tech_id=tech, value_usd=900.0)).accepted
    assert not sim.apply(KitBonus(tech_id="T999999", value_usd=10.0)).accepted


def test_no_bonus_no_gaming() -> None:
    sim = Simulator(NetworkConfig(areas=3, seed=5))
    for _ in range(24 * 3):
        sim.step()
    assert Evaluation(sim).gaming()["gamed_fixes"].sum() == 0


def test_a_mission_lifts_the_techs_fixes_and_is_refused_when_malformed() -> None:
    from tailguard.sim.interventions import TechMission

    sim = Simulator(NetworkConfig(areas=2, seed=8))
    sim.step()
    tech = Evaluation(sim).gaming()["tech_id"][0]
    sent = sim.apply(TechMission(tech_id=tech, metric="fix"))
    assert sent.accepted
    truth = Evaluation(sim).interventions().row(-1, named=True)
    assert '"skill": ' in truth["true_effect"]
    assert not sim.apply(TechMission(tech_id=tech, metric="speed")).accepted
    assert not sim.apply(TechMission(tech_id=tech, metric="nps", jobs=0)).accepted
