"""Rule evaluation across ticks: for, keep_firing_for, nulls, templates, guard-bands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from tailguard.rules import RuleEngine, builtin_rules, guardband_status, parse_rules

T = datetime(2026, 3, 1, tzinfo=UTC)
RULES = parse_rules("""\
groups:
  - name: g
    rules:
      - alert: slow
        expr: lateness_p90_min > 30
        for: 2
        keep_firing_for: 1h
        labels: {severity: critical, agent: roster_routing}
        annotations: {summary: "P90 {{ $value }} > {{ $threshold }} in {{ $labels.area_id }}"}
""")


def card(value: float | None, area: str = "PA-1") -> pl.DataFrame:
    """A one-area scorecard with only lateness."""
    return pl.DataFrame(
        {"area_id": [area], "lateness_p90_min": [value]},
        schema={"area_id": pl.String, "lateness_p90_min": pl.Float64},
    )


def states(engine: RuleEngine, values: list[float | None]) -> list[str | None]:
    """The alert state of PA-1 at each successive hourly tick."""
    out: list[str | None] = []
    for i, v in enumerate(values):
        alerts = engine.evaluate(card(v), T + timedelta(hours=i))
        out.append(alerts[0].state if alerts else None)
    return out


def test_for_waits_then_fires_and_keep_firing_holds_one_tick() -> None:
    """A breach is pending until it has held for 2 ticks, and keeps firing 1 h after clearing."""
    got = states(RuleEngine(RULES), [40, 40, 40, 10, 10, 40])
    assert got == ["pending", "pending", "firing", "firing", None, "pending"]


def test_a_gap_resets_the_pending_count() -> None:
    """A tick without breach before firing resets the 'for' count."""
    assert states(RuleEngine(RULES), [40, 40, 10, 40, 40, 40]) == [
        "pending",
        "pending",
        None,
        "pending",
        "pending",
        "firing",
    ]


def test_null_values_never_breach() -> None:
    """A KPI without data does not breach."""
    assert states(RuleEngine(RULES), [None, None]) == [None, None]


def test_builtin_rules_fire_at_once_with_rendered_annotations() -> None:
    """Built-in rules have no 'for': a breach fires on the first tick, summary filled in."""
    sc = pl.DataFrame(
        {"area_id": ["PA-1", "PA-2"], "earnings_p10_week": [550.0, 900.0], "nps_p10": [8.0, None]}
    )
    alerts = RuleEngine(builtin_rules()).evaluate(sc, T)
    assert [(a.area_id, a.rule, a.state, a.severity) for a in alerts] == [
        ("PA-1", "guard_earnings", "firing", "warning"),
        ("PA-1", "low_earnings_tail", "firing", "critical"),
    ]
    assert alerts[1].annotations["summary"] == "P10 tech earnings 550 USD/week < 600 in PA-1"
    assert alerts[1].labels["agent"] == "technician_assistant"


def test_guardband_status_marks_each_band() -> None:
    """Guard-band status is per band, null KPIs count as inside, YoY needs last year."""
    sc = pl.DataFrame(
        {
            "area_id": ["A", "B"],
            "lateness_p90_min": [15.0, 25.0],
            "nps_p10": [8.0, None],
            "earnings_p10_week": [800.0, 800.0],
            "churn_90d_pct": [2.0, 2.0],
            "recall_pct_p90": [5.0, 5.0],
            "parts_cost_delta_p90_pct": [10.0, 10.0],
            "jobs_per_week": [112.0, 100.0],
            "gp_pct": [30.0, 30.0],
        }
    )
    got = guardband_status(sc)
    assert got["inside_all"].to_list() == [True, False]
    assert got["gb_lateness"].to_list() == [True, False]
    ly = pl.DataFrame({"area_id": ["A", "B"], "jobs_per_week": [100.0, 100.0]})
    with_ly = guardband_status(sc, last_year_jobs_per_week=ly)
    assert with_ly["gb_jobs_growth"].to_list() == [True, False]
