"""Run monitor, costs, audit log, quality and the network view in the browser."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import LiveService, sign_in


def test_network_view_drills_down_to_an_area(page: Page, service: LiveService) -> None:
    """The grid has a cell per area; PA-0007's page shows its breached bands, tails, OKR and
    interventions."""
    sign_in(page, service, "victor", then="/network")
    cells = page.locator("[data-testid=netgrid] a.cell")
    expect(cells).to_have_count(120)
    cell = page.locator('[data-testid=netgrid] a[data-area="PA-0007"]')
    expect(cell).not_to_have_class("cell in")
    cell.click()
    expect(page.get_by_test_id("area-title")).to_have_text("PA-0007")
    scorecard = page.get_by_test_id("scorecard")
    expect(scorecard.locator("tr", has_text="Customer lateness")).to_contain_text("outside")
    expect(page.get_by_test_id("tails")).to_contain_text("late_tail")
    okr = page.get_by_test_id("okr")
    expect(okr).to_contain_text("Squeeze the Customer lateness P90 tail")
    expect(okr.locator("li", has_text="master-tech shadow")).to_contain_text("met")
    expect(page.get_by_test_id("interventions")).to_contain_text("traffic_weight_boost")
    expect(page.get_by_test_id("interventions")).to_contain_text("-4.5")


def test_run_monitor_lists_active_runs_and_drills_down(page: Page, service: LiveService) -> None:
    """Runs waiting at a gate are active; a run's page shows its steps and gate."""
    sign_in(page, service, "victor", then="/runs")
    expect(page.get_by_test_id("active-table")).to_contain_text("waiting_approval")
    run_id = service.seeded.runs["area"]
    page.locator(f'[data-testid=active-table] a[href="/runs/{run_id}"]').click()
    expect(page.get_by_test_id("run-status")).to_have_text("waiting_approval")
    step = page.locator("[data-testid=steps] tr[data-tool=apology_credit]")
    expect(step).to_contain_text("waiting_approval")
    expect(step).to_contain_text("cust-3012")  # an audit field, in clear


def test_cost_dashboard_shows_budget_alerts(page: Page, service: LiveService) -> None:
    """The run that passed its $0.50 alert threshold is listed with its cost."""
    sign_in(page, service, "victor", then="/costs")
    alerts = page.get_by_test_id("alerts")
    expect(alerts.locator("tr")).not_to_have_count(1)
    expect(alerts).to_contain_text("$0.50")
    expect(page.locator("svg.svgplot")).to_have_count(2)


def test_audit_log_filters_and_exports_csv(page: Page, service: LiveService) -> None:
    """Filtering by decider narrows the rows; the CSV export carries the same decisions."""
    sign_in(page, service, "victor", then="/audit")
    page.fill("input[name=decided_by]", "bob")
    page.click("button:has-text('Filter')")
    rows = page.locator("[data-testid=audit] tr")
    expect(rows.filter(has_text="alice")).to_have_count(0)
    expect(rows.filter(has_text="credit already given last week")).to_have_count(1)
    with page.expect_download() as info:
        page.get_by_test_id("csv").click()
    text = Path(info.value.path()).read_text()
    table = list(csv.DictReader(io.StringIO(text)))
    assert table, text
    assert {r["decided_by"] for r in table} == {"bob"}
    assert "credit already given last week" in {r["decision_reason"] for r in table}


def test_quality_trend_plots_each_role(page: Page, service: LiveService) -> None:
    """The trend has a line per role that had evaluated runs."""
    sign_in(page, service, "victor", then="/quality")
    plot = page.locator("svg.svgplot")
    expect(plot).to_have_count(1)
    for role in ("area_agent", "carrier", "driver", "recruiter"):
        expect(plot).to_contain_text(role)
    expect(plot.locator("path[style*='stroke-width: 2']")).not_to_have_count(0)  # the lines
