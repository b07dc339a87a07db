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


def test_a_replay_is_watched_or_not_and_teaches_only_its_code() -> None:
    """A recommended replay: the tech watches it or not (reported), a watched one adds
    diagnosis odds on its code only, and unknown codes or techs are refused."""
    from tailguard.sim.config import JOB_CODES
    from tailguard.sim.interventions import ReplayRecommendation

    sim = Simulator(NetworkConfig(areas=2, seed=8))
    sim.step()
    techs = Evaluation(sim).gaming()["tech_id"].to_list()[:60]
    watched = 0
    for tech in techs:
        result = sim.apply(ReplayRecommendation(tech_id=tech, job_code="FR-REPAIR"))
        assert result.accepted
        assert result.details["viewed"] in (0, 1)
        watched += int(result.details["viewed"])
    assert 0 < watched < len(techs)
    code = JOB_CODES.index("FR-REPAIR")
    taught = sim._st.replay[: len(techs)]
    assert (taught[:, code] != 0).sum() == watched
    assert (taught[:, [i for i in range(len(JOB_CODES)) if i != code]] == 0).all()
    assert not sim.apply(ReplayRecommendation(tech_id=techs[0], job_code="XX-REPAIR")).accepted
    assert not sim.apply(ReplayRecommendation(tech_id="T999999", job_code="FR-REPAIR")).accepted


def test_replays_teach_rookies_more_and_they_watch_more() -> None:
    """The hidden response differs by tenure: rookies watch more often and learn more."""
    import json

    from tailguard.sim.interventions import ReplayRecommendation

    sim = Simulator(NetworkConfig(areas=4, seed=12))
    sim.step()
    for tech in Evaluation(sim).gaming()["tech_id"].to_list():
        sim.apply(ReplayRecommendation(tech_id=tech, job_code="DW-REPAIR"))
    log = (
        Evaluation(sim)
        .interventions()
        .filter((pl.col("kind") == "replay_recommendation") & pl.col("accepted"))
    )
    truth = [json.loads(t) for t in log["true_effect"]]
    rookies = [t for t in truth if t["rookie"]]
    veterans = [t for t in truth if not t["rookie"]]
    assert rookies
    assert veterans
    assert min(t["watch_probability"] for t in rookies) > max(
        t["watch_probability"] for t in veterans
    )
    learned_r = [t["skill"] for t in rookies if t["skill"] != 0]
    learned_v = [t["skill"] for t in veterans if t["skill"] != 0]
    assert sum(learned_r) / len(learned_r) > 3 * sum(learned_v) / len(learned_v)


def test_replay_lessons_fade_with_a_three_week_half_life() -> None:
    import numpy as np

    from tailguard.sim.state import DAY
    from tailguard.sim.visits import fade

    t0 = np.asarray([0.0, 0.0, np.inf])
    now = np.asarray([21 * DAY, 42 * DAY, 5 * DAY])
    assert fade(t0, now, 21.0).tolist() == [0.5, 0.25, 0.0]
