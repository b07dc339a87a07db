"""The gamification bench on a tiny network, and properties of the gaming flags."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tailguard.cli import app
from tailguard.demo.gamebench import GameBenchConfig, run_seed
from tailguard.gamification import gaming_flags


def test_a_seed_reports_each_week_against_the_truth() -> None:
    rows = run_seed(GameBenchConfig(areas=4, baseline_days=3, weeks=2), seed=4)
    assert [r["week"] for r in rows] == [1, 2]
    for row in rows:
        assert row["precision"] is None or 0.0 <= row["precision"] <= 1.0
        assert row["recall"] is None or 0.0 <= row["recall"] <= 1.0
        assert row["flagged"] >= 0
    assert rows[1]["flagged"] >= rows[0]["flagged"]  # a withheld tech stays withheld


def test_the_bench_command_prints_json_with_the_contract_keys() -> None:
    result = CliRunner().invoke(
        app,
        ["gamification", "bench", "--seeds", "2", "--areas", "3", "--baseline-days", "2",
         "--weeks", "1", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out["gaming_detection"]) == {"precision", "recall"}
    assert out["seeds"] == [0, 1]
    assert out["by_week"][0]["recall"]["n"] <= 2


def test_bad_bench_settings_exit_2() -> None:
    result = CliRunner().invoke(app, ["gamification", "bench", "--areas", "1"])
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["gamification", "bench", "--layer", "confetti"])
    assert result.exit_code == 2


def test_a_kit_streak_layer_reports_its_target_and_no_gaming_flags() -> None:
    """The kit prize raises no gaming flags and pays no fix bonus; the parts-missing change it
    targets is measured every week."""
    config = GameBenchConfig(areas=8, baseline_days=3, weeks=2, layer="kit_streak", value_usd=200)
    rows = run_seed(config, seed=5)
    assert [r["week"] for r in rows] == [1, 2]
    for row in rows:
        assert row["flagged"] == 0
        assert row["recall"] is None
        assert isinstance(row["parts_missing_change"], float)
        assert row["bonus_usd_per_area_week"] == 0.0  # the fix bonus is not paid


def test_the_layer_is_in_the_bench_json() -> None:
    result = CliRunner().invoke(
        app,
        ["gamification", "bench", "--seeds", "1", "--areas", "4", "--baseline-days", "2",
         "--weeks", "1", "--layer", "coop", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["config"]["layer"] == "coop"
    assert out["config"]["value_usd"] == 100.0
    assert "parts_missing_change" in out["by_week"][0]


_counts = st.lists(
    st.tuples(
        st.integers(0, 60), st.integers(0, 60), st.integers(0, 60), st.integers(0, 60),
        st.floats(0, 60), st.integers(0, 20), st.floats(0, 60), st.integers(0, 20),
    ),
    min_size=1,
    max_size=40,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(_counts, st.integers(1, 30))
def test_flags_are_well_formed_whatever_the_counts(rows: list[tuple], min_visits: int) -> None:  # type: ignore[type-arg]
    frame = pl.DataFrame(
        [
            {"area_id": "PA-0001", "tech_id": f"T{i}", "visits": v, "unfixed": min(u, v),
             "visits_before": v0, "unfixed_before": min(u0, v0), "exposure": e,
             "recalled": r, "exposure_before": e0, "recalled_before": r0}
            for i, (v, u, v0, u0, e, r, e0, r0) in enumerate(rows)
        ]
    )  # fmt: skip
    flags = gaming_flags(frame, min_visits=min_visits)
    assert flags.height == frame.height
    p = flags["p"].drop_nulls().to_numpy()
    assert np.all((p >= 0) & (p <= 1))
    untested = flags.filter(pl.col("visits") < min_visits)
    assert untested["p"].null_count() == untested.height
    assert not untested["flagged"].any()


def test_a_layer_that_has_not_acted_has_a_true_effect_of_exactly_zero() -> None:
    """The twin is the same world: replays are first recommended at the end of the first
    week (no scored week before), so in week 1 the two worlds are identical."""
    config = GameBenchConfig(areas=3, baseline_days=0, weeks=1, layer="replays")
    (row,) = run_seed(config, seed=2)
    assert row["earnings_p10_true_effect"] == 0.0
    assert row["recall_p90_true_effect"] == 0.0
    assert row["ftf_true_effect"] == 0.0
    assert row["replays_recommended"] > 0  # recommended tonight, effective from tomorrow
    assert row["earnings_p10_measured"] is None  # no baseline to measure a change from


def test_missions_are_randomised_and_measured_against_the_twin() -> None:
    config = GameBenchConfig(areas=4, baseline_days=7, weeks=1, layer="missions")
    (row,) = run_seed(config, seed=3)
    assert row["missions"] > 0
    assert isinstance(row["mission_ftf_measured"], float)
    assert isinstance(row["mission_ftf_true"], float)
    assert row["spend_usd_per_area_week"] == 0.0  # XP only
    for col in ("earnings_p10", "recall_p90"):
        assert isinstance(row[f"{col}_measured"], float)
        assert isinstance(row[f"{col}_true_effect"], float)


def test_replays_are_recommended_and_some_watched() -> None:
    config = GameBenchConfig(areas=4, baseline_days=7, weeks=1, layer="replays")
    (row,) = run_seed(config, seed=3)
    assert 0 < row["replays_viewed"] < row["replays_recommended"]
    assert row["spend_usd_per_area_week"] == 0.0


def test_kit_prizes_are_metered_within_the_weekly_budget() -> None:
    config = GameBenchConfig(areas=4, baseline_days=2, weeks=1, layer="kit_streak", twin=False)
    (row,) = run_seed(config, seed=3)
    assert row["kits_paid"] > 0
    # $300 per area and calendar week: these 7 days (from a Wednesday) touch two of them.
    assert 0 < row["spend_usd_per_area_week"] <= 600.0
    assert row["spend_usd_per_area_week"] == row["kits_paid"] * 50.0 / _areas_on(3, 4)
    assert row["ftf_true_effect"] is None  # no twin asked for


def test_spend_per_point_prices_only_improvements() -> None:
    from tailguard.demo.gamebench import spend_per_point

    last = {
        "spend_usd_per_area_week": {"mean": 100.0},
        "ftf_true_effect": {"mean": 0.5},
        "earnings_p10_true_effect": {"mean": -3.0},
        "recall_p90_true_effect": {"mean": -0.25},
    }
    out = spend_per_point(last)
    assert out["ftf_pts"]["usd_per_point_area_week"] == 200.0
    assert out["earnings_p10_usd_week"]["usd_per_point_area_week"] is None  # it fell
    assert out["recall_p90_pts"]["true_improvement"] == 0.25
    assert out["recall_p90_pts"]["usd_per_point_area_week"] == 400.0


def _areas_on(seed: int, areas: int) -> int:
    rng = np.random.default_rng([seed, 31])
    return sum(rng.random() < 0.5 for _ in range(areas))


def test_the_missions_layer_json_prices_every_tail() -> None:
    result = CliRunner().invoke(
        app,
        ["gamification", "bench", "--seeds", "1", "--areas", "3", "--baseline-days", "7",
         "--weeks", "1", "--layer", "missions", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out["spend_per_true_point"]) == {
        "spend_usd_per_area_week", "ftf_pts", "earnings_p10_usd_week", "recall_p90_pts"
    }  # fmt: skip
    assert out["config"]["twin"] is True
    assert "mission_ftf_true" in out["by_week"][0]


def test_team_bonuses_are_metered_when_the_team_meets_its_goal() -> None:
    """With a goal every team meets, each co-op area's team is paid once a week, the bonus
    times the members who worked; with none met, nothing is paid."""
    easy = GameBenchConfig(areas=4, baseline_days=2, weeks=1, layer="coop", twin=False,
                           coop_target_pct=50.0)  # fmt: skip
    (row,) = run_seed(easy, seed=3)
    assert row["teams_paid"] == _areas_on(3, 4)
    assert row["spend_usd_per_area_week"] > 100.0  # $100 a member, several members
    (none,) = run_seed(
        GameBenchConfig(
            areas=4, baseline_days=2, weeks=1, layer="coop", twin=False, coop_target_pct=100.0
        ),
        seed=3,
    )
    assert none["teams_paid"] == 0
    assert none["spend_usd_per_area_week"] == 0.0


def test_a_bad_coop_goal_exits_2() -> None:
    result = CliRunner().invoke(app, ["gamification", "bench", "--coop-target-pct", "120"])
    assert result.exit_code == 2
    assert "--coop-target-pct" in result.output
