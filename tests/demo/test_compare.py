"""The paired agents-on / agents-off comparison of the demo."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.demo.compare import compare_arms, paired_difference


def _frame(on: dict[str, list[bool | None]], off: dict[str, list[bool | None]]) -> pl.DataFrame:
    rows = []
    for arm, per_area in (("on", on), ("off", off)):
        for area, flags in per_area.items():
            rows += [
                {"arm": arm, "hour": h, "area_id": area, "inside_all": f}
                for h, f in enumerate(flags)
            ]
    return pl.DataFrame(rows, schema={"arm": pl.String, "hour": pl.Int64, "area_id": pl.String,
                                      "inside_all": pl.Boolean})  # fmt: skip


def test_the_difference_is_per_area_and_counts_better_and_worse_areas() -> None:
    on = {"A": [True, True, False, False], "B": [True, False, False, False], "C": [True] * 4}
    off = {"A": [False] * 4, "B": [True, True, False, False], "C": [True] * 4}
    got = paired_difference(_frame(on, off), "inside_all", resamples=500)
    # A: +50, B: -25, C: 0 -> mean +8.333
    assert got["points"] == 8.333
    assert (got["areas"], got["areas_better"], got["areas_worse"]) == (3, 1, 1)
    lo, hi = got["ci95"]
    assert -25.0 <= lo <= got["points"] <= hi <= 50.0


def test_hours_without_data_are_left_out_of_their_area() -> None:
    on = {"A": [True, None, None, None]}
    off = {"A": [False, False, None, None]}
    got = paired_difference(_frame(on, off), "inside_all")
    assert got["points"] == 100.0
    assert got["ci95"] == [100.0, 100.0]


def test_a_missing_arm_gives_no_figure() -> None:
    frame = _frame({"A": [True, False]}, {}).filter(pl.col("arm") == "on")
    assert paired_difference(frame, "inside_all")["points"] is None
    out = compare_arms(_frame({"A": [True]}, {"A": [False]}), [])
    assert out["guardband_pass_pct"]["points"] == 100.0
    assert out["band_pass_pct"] == {}


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=6).flatmap(
        lambda hours: st.lists(
            st.tuples(
                st.lists(st.booleans(), min_size=hours, max_size=hours),
                st.lists(st.booleans(), min_size=hours, max_size=hours),
            ),
            min_size=1,
            max_size=8,
        )
    )
)
def test_equal_hours_make_it_the_difference_of_pooled_shares(
    areas: list[tuple[list[bool], list[bool]]],
) -> None:
    on = {f"A{i}": list(a) for i, (a, _) in enumerate(areas)}
    off = {f"A{i}": list(b) for i, (_, b) in enumerate(areas)}
    got = paired_difference(_frame(on, off), "inside_all", resamples=200)
    pooled_on = sum(sum(a) for a, _ in areas) / sum(len(a) for a, _ in areas)
    pooled_off = sum(sum(b) for _, b in areas) / sum(len(b) for _, b in areas)
    assert abs(got["points"] - round(100.0 * (pooled_on - pooled_off), 3)) < 1e-6
    lo, hi = got["ci95"]
    assert lo <= hi
