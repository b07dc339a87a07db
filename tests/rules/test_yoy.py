"""The jobs/week YoY guard-band: the baseline file, its parser and the band's check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.errors import ConfigFileError
from tailguard.rules import guardband_status
from tailguard.rules.yoy import (
    HEADER,
    baseline_from_history,
    load_baseline,
    parse_baseline,
    with_yoy,
    write_baseline,
)
from tailguard.sim.history import seeded_yoy_baseline

GOOD = "area_id,week_ending,jobs_per_week\n# last year\nPA-0001,2025-01-13,100\n\nPA-0002,2025-01-13,80.5\n"


def test_a_good_file_parses_into_one_row_per_area_and_week() -> None:
    """Comments and blank lines are skipped; values keep their types."""
    frame = parse_baseline(GOOD)
    assert frame.rows() == [
        ("PA-0001", date(2025, 1, 13), 100.0),
        ("PA-0002", date(2025, 1, 13), 80.5),
    ]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", None, "header"),
        ("area,week,jobs\n", 1, "the header must be"),
        (f"{','.join(HEADER)}\nPA-1,2025-01-13\n", 2, "expected 3 fields"),
        (f"{','.join(HEADER)}\n,2025-01-13,4\n", 2, "area_id is empty"),
        (f"{','.join(HEADER)}\nPA-1,13/01/2025,4\n", 2, "ISO date"),
        (f"{','.join(HEADER)}\nPA-1,2025-01-13,many\n", 2, "must be a number"),
        (f"{','.join(HEADER)}\nPA-1,2025-01-13,-1\n", 2, ">= 0"),
        (f"{','.join(HEADER)}\nPA-1,2025-01-13,nan\n", 2, "finite"),
        (f"{','.join(HEADER)}\nPA-1,2025-01-13,1\nPA-1,2025-01-13,2\n", 3, "line 2"),
    ],
)
def test_a_bad_file_is_refused_with_its_line_and_reason(
    text: str, line: int | None, reason: str
) -> None:
    """Each kind of mistake names the file, the line and what is wrong."""
    with pytest.raises(ConfigFileError) as err:
        parse_baseline(text, path="base.csv")
    assert err.value.path == "base.csv"
    assert err.value.line == line
    assert reason in err.value.reason


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    """A missing file is a ConfigFileError naming it, not an OSError."""
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_baseline(tmp_path / "missing.csv")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_with_a_config_file_error(text: str) -> None:
    """The parser never raises anything but ConfigFileError, and what it accepts is valid."""
    try:
        frame = parse_baseline(f"{','.join(HEADER)}\n{text}")
    except ConfigFileError as exc:
        reason = exc.reason
        assert reason, "a refusal always says why"
        return
    assert frame.columns == list(HEADER)
    assert frame["jobs_per_week"].min() is None or frame["jobs_per_week"].min() >= 0  # type: ignore[operator]
    assert frame.select(pl.struct("area_id", "week_ending").is_unique().all()).item()


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="ABCPZ-0123456789", min_size=1, max_size=8),
            st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
            st.floats(min_value=0, max_value=1e6, allow_nan=False),
        ),
        max_size=20,
        unique_by=lambda r: (r[0], r[1]),
    )
)
def test_a_written_baseline_reads_back(rows: list[tuple[str, date, float]]) -> None:
    """write_baseline and parse_baseline round-trip (to the file's three decimals)."""
    import tempfile

    frame = pl.DataFrame(rows, schema=["area_id", "week_ending", "jobs_per_week"], orient="row")
    frame = frame.with_columns(
        pl.col("week_ending").cast(pl.Date), pl.col("jobs_per_week").cast(pl.Float64)
    )
    with tempfile.TemporaryDirectory() as d:
        back = load_baseline(write_baseline(frame, Path(d) / "b.csv"))
    want = frame.sort("area_id", "week_ending")
    assert back["area_id"].to_list() == want["area_id"].to_list()
    assert back["week_ending"].to_list() == want["week_ending"].to_list()
    for a, b in zip(back["jobs_per_week"], want["jobs_per_week"], strict=True):
        assert abs(a - b) <= 5e-4


def _hours(day: date, areas: list[str], jobs: list[float]) -> pl.DataFrame:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return pl.DataFrame(
        {
            "hour": [at] * len(areas),
            "area_id": areas,
            "jobs_per_week": jobs,
            "inside_jobs_growth": [None] * len(areas),
        },
        schema_overrides={"inside_jobs_growth": pl.Boolean},
    )


def test_the_band_holds_at_twelve_percent_growth_and_is_unknown_without_last_year() -> None:
    """Against the row a year back: 12 % growth is inside, 11 % outside; an area without a row,
    or an hour without a week a year back, is null (unknown), never inside."""
    today = datetime.now(UTC).date()
    ly = today - timedelta(days=364)
    base = pl.DataFrame(
        {
            "area_id": ["A", "B"],
            "week_ending": [ly, ly + timedelta(days=2)],
            "jobs_per_week": [100.0, 100.0],
        }
    )
    hourly = _hours(today, ["A", "B", "C"], [112.0, 111.0, 500.0])
    assert with_yoy(hourly, base)["inside_jobs_growth"].to_list() == [True, False, None]
    far = _hours(today + timedelta(days=10), ["A"], [500.0])
    assert with_yoy(far, base)["inside_jobs_growth"].to_list() == [None]
    assert with_yoy(hourly, None)["inside_jobs_growth"].to_list() == [None, None, None]


def test_a_year_of_history_gives_the_baseline() -> None:
    """A KPI history that spans a year yields last year's row for today's week."""
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    stamps = [now - timedelta(days=d) for d in range(0, 371)]
    history = pl.DataFrame(
        {
            "area_id": ["A"] * len(stamps),
            "as_of": stamps,
            "jobs_per_week": [float(100 + d % 7) for d in range(371)],
        }
    )
    base = baseline_from_history(history)
    assert base.height == 371
    out = with_yoy(_hours(now.date(), ["A"], [200.0]), base)
    assert out["inside_jobs_growth"].to_list() == [True]


def test_the_seeded_baseline_is_deterministic_and_centred_on_the_band() -> None:
    """Same seed, same figures; growth around 12 % puts about half the areas inside."""
    jobs = {f"PA-{i:04d}": 1000.0 for i in range(400)}
    first = date(2026, 1, 12)
    a = seeded_yoy_baseline(jobs, first, 7, seed=3)
    assert a.equals(seeded_yoy_baseline(jobs, first, 7, seed=3))
    assert not a.equals(seeded_yoy_baseline(jobs, first, 7, seed=4))
    ly = a.filter(pl.col("week_ending") == first - timedelta(days=364))
    growth = 1000.0 / ly["jobs_per_week"] - 1.0
    inside = float((growth >= 0.12).mean())  # type: ignore[arg-type]
    assert 0.3 < inside < 0.7


def test_guardband_status_leaves_the_yoy_band_unknown_without_last_year() -> None:
    """No last year: gb_jobs_growth is null (unknown), and inside_all is decided by the rest."""
    from tailguard.rules import GUARD_BANDS

    kpis = {b.kpi: [None] for b in GUARD_BANDS} | {"jobs_per_week": [100.0]}
    sc = pl.DataFrame({"area_id": ["A"], **kpis}, schema_overrides=dict.fromkeys(kpis, pl.Float64))
    out = guardband_status(sc)
    assert out["gb_jobs_growth"].to_list() == [None]
    assert out["inside_all"].to_list() == [True]
    known = guardband_status(
        sc, last_year_jobs_per_week=pl.DataFrame({"area_id": ["A"], "jobs_per_week": [100.0]})
    )
    assert known["gb_jobs_growth"].to_list() == [False]
    assert known["inside_all"].to_list() == [False]
