"""The lever library loads, and a broken file is refused with the file, JSON path and reason."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.errors import ConfigFileError
from tailguard.sim.interventions import INTERVENTION_TYPES
from tailguard.weekly.library import CATEGORIES, DEFAULT_LIBRARY, load_library, parse_library

DEFAULT: dict[str, Any] = json.loads(DEFAULT_LIBRARY.read_text(encoding="utf-8"))


def test_default_library_has_fifteen_levers_over_three_categories() -> None:
    """At least 15 levers, every category present, every intervention a simulator kind."""
    lib = load_library()
    assert len(lib.levers) >= 15
    for c in CATEGORIES:
        assert len(lib.by_category(c)) >= 3
    kinds = {iv.kind for lv in lib.levers.values() for iv in lv.interventions}
    assert kinds <= set(INTERVENTION_TYPES)
    assert all(lv.effects and all(e.sd >= 0 for e in lv.effects) for lv in lib.levers.values())


def _broken(mutate: Any, tmp_path: Path) -> ConfigFileError:
    doc = copy.deepcopy(DEFAULT)
    mutate(doc)
    file = tmp_path / "mine.json"
    file.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_library(file)
    assert info.value.path == str(file)
    return info.value


@pytest.mark.parametrize(
    ("mutate", "where", "reason"),
    [
        (
            lambda d: d["levers"][3]["effects"][0].update(sd=-1),
            "$.levers[3].effects[0].sd",
            "greater than or equal",
        ),
        (
            lambda d: d["levers"][0]["interventions"][0].update(kind="teleport"),
            "$.levers[0].interventions[0].kind",
            "unknown intervention kind",
        ),
        (
            lambda d: d["levers"][1]["interventions"][0]["args"].update(zip="32837"),
            "$.levers[1].interventions[0].args",
            "name the target",
        ),
        (
            lambda d: d["levers"][2]["interventions"][0]["args"].update(colour="red"),
            "$.levers[2].interventions[0].args",
            "unknown argument",
        ),
        (
            lambda d: d["levers"][4]["effects"][0].update(kpi="happiness"),
            "$.levers[4].effects[0].kpi",
            "unknown KPI",
        ),
        (lambda d: d["levers"][5].update(category="finance"), "$.levers[5].category", "customer"),
        (
            lambda d: d["levers"][6]["preconditions"]["any"][0].update(above=3),
            "$.levers[6].preconditions.any[0]",
            "exactly one",
        ),
        (
            lambda d: d["levers"].append(copy.deepcopy(d["levers"][0])),
            "$.levers[18].id",
            "duplicate",
        ),
        (lambda d: d["levers"][0].update(extra=1), "$.levers[0].extra", "Extra inputs"),
        (
            lambda d: d["value_model"].update(
                mood={"revenue_pct_per_unit": 1, "gp_pct_per_unit": 1}
            ),
            "$.value_model.mood",
            "unknown KPI",
        ),
    ],
)
def test_broken_library_names_file_json_path_and_reason(
    mutate: Any, where: str, reason: str, tmp_path: Path
) -> None:
    """Each kind of mistake is reported at its JSON path."""
    err = _broken(mutate, tmp_path)
    assert err.reason.startswith(where + ":"), err.reason
    assert reason in err.reason


def test_json_syntax_error_names_the_line(tmp_path: Path) -> None:
    """Bad JSON is refused with the line of the error."""
    file = tmp_path / "bad.json"
    file.write_text('{\n  "version": 1,\n  "levers": [,]\n}\n', encoding="utf-8")
    with pytest.raises(ConfigFileError) as info:
        load_library(file)
    assert info.value.line == 3
    assert "not valid JSON" in info.value.reason


def test_user_levers_add_to_and_replace_the_defaults(tmp_path: Path) -> None:
    """A user file adds a lever and replaces one with the same id."""
    mine = copy.deepcopy(DEFAULT["levers"][0])
    mine["title"] = "My apology"
    new = copy.deepcopy(DEFAULT["levers"][1])
    new["id"] = "cx_my_new_lever"
    file = tmp_path / "mine.json"
    file.write_text(json.dumps({"version": 1, "levers": [mine, new]}), encoding="utf-8")
    lib = load_library(file)
    assert lib.levers[mine["id"]].title == "My apology"
    assert "cx_my_new_lever" in lib.levers
    assert len(lib.levers) == len(DEFAULT["levers"]) + 1


def test_a_library_without_a_category_is_refused(tmp_path: Path) -> None:
    """Every category needs a lever, or the playbook could not pick one."""
    doc = {
        "version": 1,
        "levers": [lv for lv in DEFAULT["levers"] if lv["category"] != "operations"],
    }
    file = tmp_path / "two.json"
    file.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigFileError, match="operations"):
        load_library(file, include_default=False)


def test_merged_library_round_trips_through_json() -> None:
    """to_json loads back to the same levers."""
    lib = load_library()
    again = parse_library(json.dumps(lib.to_json()))
    assert [lv.id for lv in again.levers] == list(lib.levers)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    st.integers(0, 17),
    st.sampled_from(
        ["effects", "cost", "interventions", "preconditions", "id", "category", "owner"]
    ),
    json_values,
)
@settings(max_examples=200, deadline=None)
def test_any_field_replaced_by_any_json_loads_or_is_refused_cleanly(
    index: int, key: str, value: Any
) -> None:
    """Replacing a lever field with arbitrary JSON never raises anything but ConfigFileError."""
    doc = copy.deepcopy(DEFAULT)
    doc["levers"][index][key] = value
    error: ConfigFileError | None = None
    try:
        parse_library(json.dumps(doc), "fuzz.json")
    except ConfigFileError as exc:
        error = exc
    if error is not None:
        assert error.path == "fuzz.json"
        assert error.reason.startswith("$")


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    """Arbitrary text is a ConfigFileError, never a crash."""
    with pytest.raises(ConfigFileError):
        parse_library(text, "t.json")
