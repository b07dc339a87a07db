"""The demo's weekly cycles run in their own processes beside the agents."""

from __future__ import annotations

import json
import multiprocessing
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tailguard.demo.run import (
    DemoConfig,
    _join_weeks,
    _start_week,
    _wait_for_okrs,
    _Week,
    run_demo,
)
from tailguard.ledger import Ledger
from tailguard.rules.yoy import load_baseline
from tailguard.weekly import run_week


@pytest.fixture(scope="module")
def two_weeks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A two-week demo of two areas (its output directory and summary)."""
    out = tmp_path_factory.mktemp("two-weeks") / "demo"
    return out, run_demo(DemoConfig(areas=2, weeks=2, seed=5, out=out, warmup_days=1))


@pytest.mark.timeout(900)  # the module's two-week demo runs in the first one
def test_two_weeks_beside_the_agents_equal_the_cycle_run_afterwards(
    two_weeks: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Each week's pages, made while the agents kept writing, are those a cycle run as of the
    same week's end gives once the demo is over; the second week scored the first week's OKRs,
    and every OKR record is in the summary's ledger count."""
    out, summary = two_weeks
    days = sorted(p.name for p in (out / "weeks").iterdir())
    assert len(days) == 2
    report = (out / "report.html").read_text(encoding="utf-8")
    for day in days:
        assert (out / "weeks" / day / "index.html").is_file()
        assert not (out / "weeks" / day / "ERROR.txt").exists()
        assert f"weeks/{day}/index.html" in report

    url = f"sqlite:///{out / 'ledger.db'}"
    with Ledger.open(url, create=False) as ledger:
        assert summary["ledger"]["records"] == ledger.count()
        okrs = [r.fields for r in ledger.records(kind="okr")]
    committed = sorted((f["week_of"], f["area_id"]) for f in okrs if f["status"] == "committed")
    assert committed == [(d, a) for d in days for a in ("PA-0001", "PA-0002")]
    scored = sorted(f["okr_id"] for f in okrs if f["status"] == "scored")
    assert scored == [f"okr-PA-0001-{days[0]}", f"okr-PA-0002-{days[0]}"]

    # Run the first week again now that the agents have written a week more: same files (the
    # OKRs are in the ledger already, so nothing is appended).
    as_of = datetime.fromisoformat(days[0]).replace(tzinfo=UTC)
    again = run_week(url, as_of, tmp_path / "again", workers=1, pdf=False)
    assert again.okr_records == 0
    for area in ("PA-0001", "PA-0002"):
        for name in ("okr.json", "benchmark.json"):
            made = (out / "weeks" / days[0] / area / name).read_text(encoding="utf-8")
            assert json.loads(made) == json.loads(
                (tmp_path / "again" / area / name).read_text(encoding="utf-8")
            ), (area, name)


@pytest.mark.timeout(900)  # the module's two-week demo runs in the first one
def test_week_one_levers_run_in_week_two_through_the_control_plane_and_are_scored(
    two_weeks: tuple[Path, dict[str, Any]],
) -> None:
    """Every lever of week 1's OKRs is in okr_levers as run in week 2; the calls of the applied
    ones are executed okr_<kind> steps in the ledger; each has a forecast interval and an
    outcome; the report and the week-2 pack show them."""
    out, summary = two_weeks
    levers = summary["okr_levers"]
    assert len(levers) == 6  # two areas, three levers each
    assert {lv["week"] for lv in levers} == {2}
    assert {lv["area_id"] for lv in levers} == {"PA-0001", "PA-0002"}
    for lv in levers:
        assert set(lv) >= {"area_id", "week", "lever_id", "applied", "forecast", "outcome"}
        assert lv["applied"] == (lv["calls"].get("executed", 0) > 0)
        if lv["forecast"] is not None:
            f = lv["forecast"]
            assert f["p10"] <= f["mean"] <= f["p90"]
    assert any(lv["applied"] for lv in levers)
    scored = [lv for lv in levers if lv["applied"] and lv["kpi"] is not None]
    assert scored
    assert all(lv["outcome"] is not None for lv in scored)
    overview = summary["okr_levers_overview"]
    assert overview["levers"] == 6
    assert overview["applied"] == sum(lv["applied"] for lv in levers)

    with Ledger.open(f"sqlite:///{out / 'ledger.db'}", create=False) as ledger:
        steps = [r.fields for r in ledger.records(kind="step")]
        records = [r.fields for r in ledger.records(kind="okr_lever")]
    executed = [s for s in steps if s["tool_name"].startswith("okr_") and s["status"] == "executed"]
    assert len(executed) == sum(lv["calls"].get("executed", 0) for lv in levers)
    assert sorted(r["okr_lever_id"] for r in records) == sorted(
        f"okr-{lv['area_id']}-{lv['week_of']}:{lv['lever_id']}" for lv in levers
    )
    report = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="okr-by-lever"' in report
    day = sorted(p.name for p in (out / "weeks").iterdir())[1]
    pack = (out / "weeks" / day / "PA-0001" / "pack.html").read_text(encoding="utf-8")
    assert "Last week's levers" in pack


@pytest.mark.timeout(900)  # the module's two-week demo runs in the first one
def test_the_yoy_band_is_measured_in_both_arms_from_the_seeded_baseline_file(
    two_weeks: tuple[Path, dict[str, Any]],
) -> None:
    """The demo writes last year's jobs as a baseline file, reads it back, and reports a
    measured jobs_yoy share (never null) in both arms."""
    out, summary = two_weeks
    baseline = load_baseline(out / "yoy_baseline.csv")
    assert set(baseline["area_id"]) == {"PA-0001", "PA-0002"}
    for arm in ("agents_on", "agents_off"):
        share = summary[arm]["band_pass_pct"]["jobs_yoy"]
        assert isinstance(share, float)
        assert 0.0 <= share <= 100.0
        assert summary[arm]["guardband_pass_pct_with_yoy"] <= summary[arm]["guardband_pass_pct"]


def test_a_failing_weekly_cycle_leaves_error_txt_and_a_link_to_it(tmp_path: Path) -> None:
    """No snapshot for the week: the cycle's process says why in ERROR.txt; the demo goes on."""
    out = tmp_path / "demo"
    out.mkdir()
    Ledger.open(f"sqlite:///{out / 'ledger.db'}").close()
    as_of = datetime(2026, 1, 19, tzinfo=UTC)
    week = _start_week(f"sqlite:///{out / 'ledger.db'}", as_of, out, last=False)
    _wait_for_okrs([week])
    assert week.committed.is_set()
    links = _join_weeks([week], out)
    assert links == [("week of 2026-01-19 (failed: see ERROR.txt)", "weeks/2026-01-19/ERROR.txt")]
    text = (out / "weeks" / "2026-01-19" / "ERROR.txt").read_text()
    assert text.startswith("weekly cycle failed: no week snapshot for 2026-01-19")


def test_a_weekly_process_that_dies_still_gets_an_error_txt(tmp_path: Path) -> None:
    """A process that ends without writing ERROR.txt (killed, crashed) gets one from the demo."""
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=os._exit, args=(9,))
    proc.start()
    week = _Week(datetime(2026, 1, 26, tzinfo=UTC), proc, ctx.Event())
    _wait_for_okrs([week])  # returns once the process has ended, though nothing was committed
    links = _join_weeks([week], tmp_path)
    assert links == [("week of 2026-01-26 (failed: see ERROR.txt)", "weeks/2026-01-26/ERROR.txt")]
    assert "exit code 9" in (tmp_path / "weeks" / "2026-01-26" / "ERROR.txt").read_text()
