"""The panel CSV parser (property-tested) and `tailguard crowd estimate` (INTERFACES.md 6)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.cli import main
from tailguard.crowd import parse_panel_csv
from tailguard.errors import InvalidInputError

HEADER = "unit,period,y,first_treated\n"


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


rows_strategy = st.lists(
    st.tuples(
        st.text(alphabet="abcxyz0123456789-_", min_size=1, max_size=6),
        st.integers(-1000, 10_000),
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        st.one_of(st.none(), st.integers(0, 10_000)),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(rows_strategy)
def test_valid_rows_round_trip(rows: list[tuple[str, int, float, int | None]]) -> None:
    """Whatever valid rows are written, they parse back to the same values (empty -> 0)."""
    text = HEADER + "".join(f"{u},{p},{y!r},{'' if g is None else g}\n" for u, p, y, g in rows)
    frame = parse_panel_csv(text)
    assert frame.columns == ["unit", "period", "y", "first_treated"]
    assert frame["unit"].to_list() == [r[0] for r in rows]
    assert frame["period"].to_list() == [r[1] for r in rows]
    assert frame["y"].to_list() == [r[2] for r in rows]
    assert frame["first_treated"].to_list() == [r[3] or 0 for r in rows]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    """Arbitrary text either parses into a well-typed panel or raises InvalidInputError."""
    try:
        frame = parse_panel_csv(HEADER + text)
    except InvalidInputError:
        return
    assert frame.schema == pl.Schema(
        {"unit": pl.String, "period": pl.Int64, "y": pl.Float64, "first_treated": pl.Int64}
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("unit,period,y\na,1,2\n", "missing column"),
        (HEADER + "a,1.5,2,\n", "line 2|:2: period"),
        (HEADER + "a,1,2,\na,x,2,\n", ":3: period 'x' is not an integer"),
        (HEADER + "a,1,nan,\n", "not a finite number"),
        (HEADER + "a,1,two,\n", "not a finite number"),
        (HEADER + "a,1,2,2.0\n", "first_treated '2.0'"),
        (HEADER + "a,1,2,-3\n", "first_treated must be"),
        (HEADER + ",1,2,\n", "unit is empty"),
        (HEADER, "no rows"),
    ],
)
def test_bad_rows_name_the_line_and_reason(text: str, reason: str) -> None:
    """Each kind of bad input is refused with the line and the reason."""
    with pytest.raises(InvalidInputError, match=reason):
        parse_panel_csv(text)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "panel.csv"
    path.write_text(text)
    return path


def test_estimate_prints_the_contract_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`crowd estimate --format json` prints att, se, ci95 and method, and nothing else."""
    path = write(tmp_path, HEADER + "a,1,1,\na,2,2,0\nb,1,1,2\nb,2,5,2\nc,1,2,\nc,2,4,\n")
    code, out, err = run_main(capsys, "crowd", "estimate", "--panel", str(path), "--format", "json")
    assert (code, err) == (0, "")
    body = json.loads(out)
    assert body["att"] == pytest.approx(2.5)
    assert body["method"] == "callaway_santanna"
    assert len(body["ci95"]) == 2
    assert body["se"] >= 0
    code, out, _ = run_main(capsys, "crowd", "estimate", "--panel", str(path))
    assert (code, out.startswith("ATT 2.5000")) == (0, True)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("unit,period,y\na,1,2\n", "missing column"),
        (HEADER + "a,1.5,2,\n", "not an integer"),
        (HEADER + "a,1,1,\na,2,2,\n", "no treated units"),
        (HEADER + "a,1,1,2\na,2,2,2\n", "no control units"),
        (None, "cannot read panel"),
        ("\udcff", "cannot read panel"),
    ],
)
def test_estimate_exits_2_on_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None, reason: str
) -> None:
    """Missing columns, non-integer periods, no treated, no controls, unreadable: exit 2, one line."""
    if text is None:
        path = tmp_path / "missing.csv"
    elif text == "\udcff":
        path = tmp_path / "binary.csv"
        path.write_bytes(b"\xff\xfe\x00bad")
    else:
        path = write(tmp_path, text)
    code, out, err = run_main(capsys, "crowd", "estimate", "--panel", str(path), "--format", "json")
    assert code == 2
    assert out == ""
    assert reason in err
    assert err.count("\n") == 1


def test_crowd_help_lists_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    """`tailguard crowd --help` names the estimate command."""
    code, out, _ = run_main(capsys, "crowd", "--help")
    assert code == 0
    assert "estimate" in out
