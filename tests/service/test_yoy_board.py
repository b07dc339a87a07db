"""The network board measures the jobs/week +12 % YoY band: from a baseline file, or from the
pulse store's own history a year back; with neither, "no data", never "inside"."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tailguard.metrics.kpis import KPI_IDS
from tailguard.rules import GUARD_BANDS
from tailguard.service import ServiceSettings
from tailguard.service.settings import ServiceState
from tailguard.service.web.network import network_cells

TG = (sys.executable, "-m", "tailguard")
NOW = datetime(2026, 3, 8, 23, tzinfo=UTC)
YOY = next(b for b in GUARD_BANDS if b.kind == "yoy_growth")


def _scorecard(jobs: dict[str, float]) -> pl.DataFrame:
    """Every KPI null (no threshold band breached) but jobs per week."""
    rows = {k: [None] * len(jobs) for k in KPI_IDS}
    rows["jobs_per_week"] = list(jobs.values())
    return pl.DataFrame(
        {"area_id": list(jobs), **rows},
        schema={"area_id": pl.String, **dict.fromkeys(KPI_IDS, pl.Float64)},
    )


def _state(tmp_path: Path, baseline: Path | None = None) -> ServiceState:
    settings = ServiceSettings(
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        pulse_url=str(tmp_path / "pulse.db"),
        yoy_baseline=baseline,
    )
    return ServiceState.open(settings)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ServiceState]:
    opened = _state(tmp_path)
    yield opened
    opened.close()


def _by_area(state: ServiceState) -> dict[str, list[str]]:
    cells, _per_band, _ = network_cells(state)
    return {c["area_id"]: c["broken"] for c in cells}


def test_without_last_years_figures_the_band_is_no_data(state: ServiceState) -> None:
    """A pulse store of this week only: the band is unknown, not "0 areas outside"."""
    state.pulse.write(NOW, _scorecard({"PA-1": 100.0, "PA-2": 150.0}))
    _cells, per_band, _ = network_cells(state)
    assert per_band[YOY.doc] is None
    assert _by_area(state) == {"PA-1": [], "PA-2": []}


def test_the_pulse_history_a_year_back_measures_the_band(state: ServiceState) -> None:
    """Last year PA-1 did 100 jobs a week and PA-2 140; now 115 (+15 %: inside) and 145
    (+3.6 %: outside). PA-3 has no row a year back: unknown, not counted."""
    state.pulse.write(NOW - timedelta(days=364), _scorecard({"PA-1": 100.0, "PA-2": 140.0}))
    state.pulse.write(NOW, _scorecard({"PA-1": 115.0, "PA-2": 145.0, "PA-3": 10.0}))
    _cells, per_band, _ = network_cells(state)
    assert per_band[YOY.doc] == 1
    assert _by_area(state) == {"PA-1": [], "PA-2": [YOY.doc], "PA-3": []}


def test_a_baseline_file_measures_the_band(tmp_path: Path) -> None:
    """The file says PA-1 did 120 a week a year ago: 115 now is outside."""
    baseline = tmp_path / "ly.csv"
    week = (NOW - timedelta(days=364)).date().isoformat()
    baseline.write_text(f"area_id,week_ending,jobs_per_week\nPA-1,{week},120\n")
    state = _state(tmp_path, baseline)
    try:
        state.pulse.write(NOW, _scorecard({"PA-1": 115.0, "PA-2": 145.0}))
        _cells, per_band, _ = network_cells(state)
        assert per_band[YOY.doc] == 1
        assert _by_area(state) == {"PA-1": [YOY.doc], "PA-2": []}
    finally:
        state.close()


def test_serve_refuses_a_bad_baseline_file_with_its_line(tmp_path: Path) -> None:
    """Exit 2 and one line naming the file and the line, before anything listens."""
    bad = tmp_path / "ly.csv"
    bad.write_text("area_id,week_ending,jobs_per_week\nPA-1,2025-13-01,100\n")
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    made = subprocess.run(
        [*TG, "keys", "create", "--name", "a", "--role", "admin", "--db", db],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    proc = subprocess.run(
        [*TG, "serve", "--db", db, "--port", "1", "--yoy-baseline", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"tailguard: error: {bad}:2:")
