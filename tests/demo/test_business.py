""" "Did it help?" figures: paired on-off differences by area with intervals and plain verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tailguard.demo.business import (
    NET_GP,
    business_figures,
    net_gross_profit,
    paired_mean_difference,
    verdict,
)


def _hourly(shift: float, *, areas: int = 30, hours: int = 24) -> pl.DataFrame:
    """Lateness with agents on lower by ``shift`` minutes in every area (plus area noise)."""
    rows = []
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    for a in range(areas):
        base = 40.0 + (a % 7) * 3.0
        for h in range(hours):
            noise = ((a * 31 + h * 17) % 11 - 5) * 0.2
            for arm, value in (("off", base + noise), ("on", base + noise - shift)):
                rows.append(
                    {
                        "arm": arm,
                        "hour": t0 + timedelta(hours=h),
                        "area_id": f"A{a:03d}",
                        "lateness_p90_min": value,
                        "nps_p10": 7.0,
                        "earnings_p10_week": None,
                        "gp_pct": 20.0,
                    }
                )
    return pl.DataFrame(rows)


def test_a_lower_lateness_with_agents_on_is_a_help_with_its_interval() -> None:
    """Five minutes less P90 lateness in every area: difference -5, a tight interval, helped."""
    diff = paired_mean_difference(_hourly(5.0), "lateness_p90_min")
    assert diff is not None
    assert diff["difference"] == pytest.approx(-5.0)
    lo, hi = diff["ci95"]
    assert lo <= -5.0 <= hi
    assert hi < 0
    assert verdict(diff["ci95"], higher_is_better=False) == "helped"
    assert verdict(diff["ci95"], higher_is_better=True) == "hurt"


@pytest.mark.parametrize(
    ("ci", "higher", "said"),
    [
        ([-1.0, 2.0], True, "no difference we can tell"),
        ([0.5, 2.0], True, "helped"),
        ([0.5, 2.0], False, "hurt"),
        ([-3.0, -0.1], False, "helped"),
    ],
)
def test_the_verdict_is_plain_and_needs_the_whole_interval(
    ci: list[float], higher: bool, said: str
) -> None:
    """Helped or hurt only when the whole interval is on one side of zero."""
    assert verdict(ci, higher_is_better=higher) == said


def test_the_headline_has_every_figure_and_says_no_data_where_none() -> None:
    """Each business figure is present; one without data says so; the spend stays apart."""
    out = business_figures(_hourly(5.0), spend_usd=1234.5)
    by = {f["kpi"]: f for f in out["figures"]}
    assert set(by) == {"lateness_p90_min", "nps_p10", "earnings_p10_week", "gp_pct"}
    assert by["lateness_p90_min"]["verdict"] == "helped"
    assert by["nps_p10"]["verdict"] == "no difference we can tell"
    assert by["earnings_p10_week"]["verdict"] == "no data"
    assert out["intervention_spend_usd"] == 1234.5


def _money(gp: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"area_id": list(gp), "gp_usd": list(gp.values())},
        schema={"area_id": pl.String, "gp_usd": pl.Float64},
    )


def test_gross_profit_net_of_spend_is_paired_by_area_per_week() -> None:
    """Two weeks; area A gains $300 of gross profit with the agents on and spends $100, area B
    gains nothing and spends $40, area C has no completed job with the agents off (zero)."""
    on = _money({"A": 1_300.0, "B": 1_000.0, "C": 200.0})
    off = _money({"A": 1_000.0, "B": 1_000.0})
    spend = pl.DataFrame({"area_id": ["A", "B"], "spend_usd": [100.0, 40.0]})
    diff = net_gross_profit(on, off, spend, weeks=2)
    assert diff is not None
    # Per area-week, on - off: A (1300-100-1000)/2 = 100, B -40/2 = -20, C 200/2 = 100.
    assert diff["difference"] == pytest.approx((100.0 - 20.0 + 100.0) / 3)
    assert diff["on"] == pytest.approx(((1_200.0) + 960.0 + 200.0) / 2 / 3)
    assert diff["areas"] == 3
    lo, hi = diff["ci95"]
    assert -20.0 <= lo <= diff["difference"] <= hi <= 100.0


def test_the_headline_adds_net_gross_profit_in_dollars_when_measured() -> None:
    """The dollar figure joins the KPI figures with its interval and verdict."""
    on = _money({f"A{i}": 1_000.0 + 50.0 + i for i in range(20)})
    off = _money({f"A{i}": 1_000.0 + i for i in range(20)})
    spend = pl.DataFrame({"area_id": ["A0"], "spend_usd": [10.0]})
    out = business_figures(
        _hourly(0.0), spend_usd=10.0, net_gp=net_gross_profit(on, off, spend, weeks=1)
    )
    row = {f["kpi"]: f for f in out["figures"]}[NET_GP]
    assert row["unit"] == "USD per area-week"
    assert row["difference"] == pytest.approx(50.0 - 10.0 / 20)
    assert row["verdict"] == "helped"
    assert net_gross_profit(on.clear(), off.clear(), spend, weeks=1) is None
