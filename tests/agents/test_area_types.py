"""``tailguard agents run --area-types``: the learning policy's area context from a CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailguard.cli.agents import _area_types

TYPES = ("urban", "suburban", "rural")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_maps_areas_to_types(tmp_path: Path) -> None:
    """Each row names an area and its type."""
    f = _write(tmp_path / "a.csv", "area_id,area_type\nPA-0001,urban\nPA-0002, rural\n")
    assert _area_types(f) == {"PA-0001": "urban", "PA-0002": "rural"}
    assert _area_types(None) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("area,type\nPA-1,urban\n", "needs the columns area_id,area_type"),
        ("area_id,area_type\nPA-1,urban\nPA-2,city\n", ":3: area_type 'city'"),
        ("", "needs the columns"),
    ],
)
def test_a_bad_file_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    """A wrong header or type exits 2 naming the file (and line)."""
    with pytest.raises(typer.Exit) as exc:
        _area_types(_write(tmp_path / "bad.csv", text))
    assert exc.value.exit_code == 2
    assert message in capsys.readouterr().err


def test_an_unreadable_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing file or non-UTF-8 bytes: exit 2, one line."""
    with pytest.raises(typer.Exit):
        _area_types(tmp_path / "missing.csv")
    (tmp_path / "latin.csv").write_bytes(b"area_id,area_type\nPA-\xe9,urban\n")
    with pytest.raises(typer.Exit):
        _area_types(tmp_path / "latin.csv")
    assert capsys.readouterr().err.count("\n") == 2


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
@given(
    st.dictionaries(
        st.from_regex(r"PA-[0-9]{4}", fullmatch=True), st.sampled_from(TYPES), max_size=20
    )
)
def test_any_valid_table_round_trips(tmp_path: Path, table: dict[str, str]) -> None:
    """Whatever the valid rows, the parser returns exactly them."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["area_id", "area_type"])
    writer.writerows(table.items())
    assert _area_types(_write(tmp_path / "t.csv", buf.getvalue())) == table
