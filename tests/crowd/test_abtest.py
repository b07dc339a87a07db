"""Local A/B tests: seeded allocation, SRM check, sequential decisions, guard-band stop; bench."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tailguard.cli import main
from tailguard.crowd.abtest import ABSettings, allocate, run_test
from tailguard.crowd.bench import bench
from tailguard.errors import InvalidInputError

UNITS = [f"T{i:04d}" for i in range(100)]


def outcomes(
    rng: np.random.Generator, effect: float, in_b: np.ndarray, days: int = 42
) -> np.ndarray:
    daily = rng.normal(0, 1, (len(in_b), 1)) + rng.normal(0, 2, (len(in_b), days))
    daily[in_b] += effect
    return daily


def test_allocation_is_seeded_and_near_the_b_share() -> None:
    """The same seed draws the same B cell; about 20 % of units land in it and SRM passes."""
    first = allocate(UNITS, b_share=0.2, seed=7)
    assert first == allocate(UNITS, b_share=0.2, seed=7)
    assert first.b_units != allocate(UNITS, b_share=0.2, seed=8).b_units
    assert 10 <= len(first.b_units) <= 30
    assert set(first.a_units) | set(first.b_units) == set(UNITS)
    assert first.srm_p > 0.001
    with pytest.raises(InvalidInputError):
        allocate(["T1"], b_share=0.2, seed=1)
    with pytest.raises(InvalidInputError):
        allocate(["T1", "T1"], b_share=0.2, seed=1)


def test_a_broken_split_stops_the_test_before_any_look() -> None:
    """Half the units in B when 20 % was asked for: the SRM check stops the test."""
    rng = np.random.default_rng(0)
    in_b = np.arange(len(UNITS)) % 2 == 0
    run = run_test(outcomes(rng, 1.0, in_b), None, UNITS, seed=1, settings=ABSettings(), in_b=in_b)
    assert run.verdict == "stopped_srm"
    assert run.looks == ()


@pytest.mark.parametrize(("effect", "verdict"), [(1.5, "adopt"), (-1.5, "drop")])
def test_a_clear_effect_is_decided_early(effect: float, verdict: str) -> None:
    """A clear uplift is adopted and a clear harm dropped, well before the last day."""
    rng = np.random.default_rng(1)
    in_b = np.array([u in set(allocate(UNITS, b_share=0.2, seed=3).b_units) for u in UNITS])
    run = run_test(outcomes(rng, effect, in_b), None, UNITS, seed=3, settings=ABSettings())
    assert run.verdict == verdict
    assert len(run.looks) < 42


def test_a_worse_guard_band_stops_the_test() -> None:
    """A tactic that helps its KPI but hurts a guard-band KPI is stopped, not adopted."""
    rng = np.random.default_rng(2)
    alloc = allocate(UNITS, b_share=0.2, seed=5)
    in_b = np.array([u in set(alloc.b_units) for u in UNITS])
    guard = outcomes(rng, -3.0, in_b)
    run = run_test(outcomes(rng, 0.3, in_b), guard, UNITS, seed=5, settings=ABSettings())
    assert run.verdict == "stopped_guard"


def test_daily_looks_rarely_adopt_a_useless_tactic() -> None:
    """With no effect and 42 daily looks, at most 5 % of 300 tests adopt (the alpha)."""
    rng = np.random.default_rng(3)
    settings = ABSettings()
    adopted = 0
    for seed in range(300):
        alloc = allocate(UNITS, b_share=0.2, seed=seed)
        in_b = np.array([u in set(alloc.b_units) for u in UNITS])
        run = run_test(outcomes(rng, 0.0, in_b), None, UNITS, seed=seed, settings=settings)
        adopted += run.verdict == "adopt"
    assert adopted / 300 <= 0.05


def test_settings_are_checked() -> None:
    """Shares and levels outside (0, 1) are refused: the 95 % and 20 % are settings."""
    assert ABSettings(confidence=0.9, b_share=0.3).b_share == 0.3
    with pytest.raises(InvalidInputError):
        ABSettings(b_share=1.2)


def test_bench_meets_its_targets_on_two_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    """On two seeds: precision >= 0.8, FDR <= q, no harmful adoption, TWFE far more biased.

    Two seeds are too few for the 5 % bias target (the sampling noise of the bias figure is
    about that size); docs/crowd.md reports it over 20 seeds.
    """
    with pytest.raises(SystemExit) as info:
        main(["crowd", "bench", "--seeds", "2", "--seed-base", "1", "--format", "json"])
    body = json.loads(capsys.readouterr().out)
    assert info.value.code == 0
    assert set(body) >= {
        "top3_precision",
        "fdr",
        "q",
        "bias_pct",
        "twfe_bias_pct",
        "harmful_adoption_pct",
    }
    assert body["top3_precision"] >= 0.8
    assert body["fdr"] <= body["q"]
    assert abs(body["bias_pct"]) < 12
    assert body["twfe_bias_pct"] < -15
    assert abs(body["twfe_bias_pct"]) > 2 * abs(body["bias_pct"])
    assert body["harmful_adoption_pct"] < 5
    with pytest.raises(InvalidInputError):
        bench(0)
