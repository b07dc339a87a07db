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
