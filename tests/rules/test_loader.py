"""Rule files: the built-in set, extension, and refusals naming file, line and reason."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailguard.errors import ConfigFileError
from tailguard.rules import builtin_rules, load_rules, parse_rules

GOOD = """\
groups:
  - name: mine
    rules:
      - alert: very_late
        kpi: lateness_p90_min
        op: ">"
        threshold: 45
        for: 2h
        keep_firing_for: 1
        labels: {severity: critical, agent: roster_routing}
        annotations:
          summary: "late {{ $value }} in {{ $labels.area_id }}"
"""


def test_builtin_rules_match_interfaces_section_4() -> None:
    """The built-in critical rules are exactly INTERFACES.md section 4."""
    rules = builtin_rules()
    critical = {(r.name, r.kpi, r.op, r.threshold) for r in rules if r.severity == "critical"}
    assert critical == {
        ("low_earnings_tail", "earnings_p10_week", "<", 600.0),
        ("late_tail", "lateness_p90_min", ">", 30.0),
        ("nps_detractor_tail", "nps_p10", "<", 5.0),
        ("recall_tail", "recall_pct_p90", ">", 15.0),
        ("parts_lead_time_spike", "parts_lead_time_p95_days", ">", 5.0),
    }
    warnings = {r.name for r in rules if r.severity == "warning"}
    assert len(warnings) == 7
    assert "guard_lateness" in warnings


def test_a_good_file_loads_with_durations(tmp_path: Path) -> None:
    """A valid file loads; 'for' durations and tick counts both become time spans."""
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    rules = load_rules(path)
    assert rules.names() == ["very_late"]
    rule = rules.get("very_late")
    assert rule.for_ == timedelta(hours=2)
    assert rule.keep_firing_for == timedelta(hours=1)
    assert rule.keep_firing_ticks == 1
    assert rule.source == f"{path}:4"


def test_extends_builtin_adds_and_replaces_by_name() -> None:
    """With extends: builtin the built-ins stay, and a same-named rule replaces one."""
    text = (
        "extends: builtin\n"
        + GOOD
        + "      - alert: late_tail\n        expr: lateness_p90_min > 40\n"
    )
    rules = parse_rules(text)
    assert len(rules) == len(builtin_rules()) + 1
    assert rules.get("late_tail").threshold == 40.0
    assert rules.get("late_tail").severity == "warning"


def test_a_file_without_extends_replaces_the_builtins() -> None:
    """Without extends the file's rules are the whole set."""
    assert parse_rules(GOOD).names() == ["very_late"]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (GOOD.replace("lateness_p90_min", "lateness_p99"), 5, "unknown KPI id 'lateness_p99'"),
        (GOOD.replace('">"', '"=>"'), 6, "bad operator '=>'"),
        (GOOD.replace("2h", "2 hours"), 8, "bad duration"),
        (GOOD.replace("threshold: 45", "threshold: high"), 7, "threshold"),
        (GOOD.replace("for: 2h", "for: -1"), 8, "must not be negative"),
        (GOOD.replace("severity: critical", "severity: huge"), 10, "severity"),
        (GOOD.replace("{{ $value }}", "{{ value }}"), 12, "placeholder"),
        (GOOD.replace("agent: roster_routing}", "agent: 3}"), 10, "labels"),
        (GOOD + "        colour: red\n", 13, "unknown field"),
        (GOOD + "      - alert: very_late\n        expr: nps_p10 < 3\n", 13, "duplicate rule name"),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: x\n        expr: nps_p10 <<< 3\n",
            5,
            "expr must read",
        ),
        (GOOD.replace("kpi: lateness_p90_min", "expr: nps_p10 < 3"), 5, "not both"),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: x\n        kpi: nps_p10\n",
            4,
            "missing op, threshold",
        ),
        ("groups: [\n", 2, "invalid YAML"),
        ("groups:\n  - name: g\n    name: h\n    rules: []\n", 3, "duplicate key"),
        ("- a\n- b\n", 1, "must be a mapping"),
        ("extends: other\ngroups: []\n", 1, "extends"),
        ("", None, "empty"),
    ],
)
def test_bad_files_are_refused_with_line_and_reason(
    text: str, line: int | None, reason: str
) -> None:
    """Each kind of mistake raises ConfigFileError naming the file, the line and the reason."""
    with pytest.raises(ConfigFileError) as info:
        parse_rules(text, source="bad.yaml")
    err = info.value
    assert err.path == "bad.yaml"
    assert err.line == line, str(err)
    assert reason in err.reason
    assert str(err).startswith("bad.yaml")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing rule file is refused as a ConfigFileError, not an OSError."""
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_rules(tmp_path / "nope.yaml")


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
rule_like = st.fixed_dictionaries(
    {
        "groups": st.lists(
            st.fixed_dictionaries(
                {
                    "name": yaml_values,
                    "rules": st.lists(
                        st.dictionaries(
                            st.sampled_from(
                                [
                                    "alert",
                                    "name",
                                    "kpi",
                                    "op",
                                    "threshold",
                                    "expr",
                                    "for",
                                    "keep_firing_for",
                                    "labels",
                                    "annotations",
                                    "x",
                                ]
                            ),
                            yaml_values,
                            max_size=8,
                        ),
                        max_size=3,
                    ),
                }
            ),
            max_size=3,
        )
    }
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=300))
def test_loader_never_raises_other_errors_on_arbitrary_text(text: str) -> None:
    """Arbitrary text either loads or raises ConfigFileError."""
    with contextlib.suppress(ConfigFileError):
        parse_rules(text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rule_like | yaml_values)
def test_loader_never_raises_other_errors_on_arbitrary_yaml(data: object) -> None:
    """Arbitrary YAML structures, rule-shaped or not, load or raise ConfigFileError."""
    with contextlib.suppress(ConfigFileError):
        parse_rules(yaml.safe_dump(data))


def test_recursive_alias_is_refused() -> None:
    """A self-referencing YAML alias is refused, not followed forever."""
    with pytest.raises(ConfigFileError):
        parse_rules("groups: &a [*a]\n")
