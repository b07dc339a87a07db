"""Small pure pieces of the dashboard: redirect targets, edited arguments, display filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tailguard.errors import InvalidInputError
from tailguard.service.web.approvals import _parse_edit
from tailguard.service.web.render import age, pct, usd, when
from tailguard.service.web.session import safe_next
from tailguard.service.web.svg import _nice_max, line_chart, stacked_bars


@given(st.text())
def test_safe_next_only_ever_returns_a_local_path(target: str) -> None:
    """Whatever comes in ``next``, the redirect stays on this site."""
    out = safe_next(target, "/approvals")
    assert out.startswith("/")
    assert not out.startswith("//")
    assert "\\" not in out
    assert out in (target, "/approvals")


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example", "/\\evil.example", "", None, "runs"]
)
def test_safe_next_refuses_other_sites(target: str | None) -> None:
    """Protocol-relative, absolute and backslash targets fall back to the default."""
    assert safe_next(target, "/runs") == "/runs"


@given(st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=5))
def test_parse_edit_round_trips_json_objects(value: dict[str, object]) -> None:
    """Any JSON object typed into the edit box comes back as that object."""
    assert _parse_edit(json.dumps(value)) == value


@pytest.mark.parametrize("text", ["", "[1, 2]", "42", "{not json", '"text"'])
def test_parse_edit_refuses_what_is_not_a_json_object(text: str) -> None:
    """Lists, scalars and broken JSON are input errors (nothing is decided)."""
    with pytest.raises(InvalidInputError):
        _parse_edit(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (5, "5 s"),
        (61, "1 min"),
        (3600, "1 h"),
        (3720, "1 h 2 min"),
        (90000, "1 d 1 h"),
    ],
)
def test_age_reads_like_people_say_it(seconds: float | None, text: str) -> None:
    """Durations are rounded down to the largest two units."""
    assert age(seconds) == text


def test_money_time_and_share_filters() -> None:
    """Null shows as a dash; NaN (0 of 0 finished) too; tiny amounts keep four decimals."""
    assert usd(None) == "-"
    assert usd(1234.5) == "$1,234.50"
    assert usd(0.0036) == "$0.0036"
    assert pct(float("nan")) == "-"
    assert pct(0.925) == "92.5 %"
    assert when("2026-11-29T06:40:00Z") == "2026-11-29 06:40 UTC"
    assert when(datetime(2026, 11, 29, 6, 40, tzinfo=UTC)) == "2026-11-29 06:40 UTC"


@given(st.floats(min_value=1e-6, max_value=1e9, allow_nan=False))
def test_axis_top_covers_the_data_with_round_steps(value: float) -> None:
    """The y axis reaches at least the largest value, at most 2.5 times it."""
    top = _nice_max(value)
    assert value <= top <= 2.5 * value + 1e-12


def test_charts_escape_series_names() -> None:
    """A role or area name cannot inject markup into the inline SVG."""
    evil = "<script>alert(1)</script>"
    for svg in (
        line_chart("t", ["a", "b"], {evil: [1.0, 2.0]}),
        stacked_bars("t", ["a", "b"], {evil: [1.0, 2.0]}),
    ):
        assert "<script>" not in svg
        assert "&lt;script&gt;" in svg


def test_a_legend_swatch_has_the_colour_of_its_series() -> None:
    """Status series keep their meaning colour in the bars, the lines and the legend alike."""
    import re

    from tailguard.service.web.svg import MEANING

    series = {"failed": [1.0, 2.0], "completed": [3.0, 1.0]}
    for svg in (stacked_bars("t", ["a", "b"], series), line_chart("t", ["a", "b"], series)):
        for name in series:
            # The legend draws each swatch just before its label.
            before = svg[: svg.index(f">{name}</text>")]
            swatch = re.findall(r"(?:fill|stroke): (#[0-9a-f]{6})", before)[-1]
            assert swatch == MEANING[name]
            assert svg.count(MEANING[name]) >= 3  # legend + at least two marks
