"""The crowd exchange inside the demo: nightly publishing, local tests through the control
plane, the summary's ``crowd`` key and the report's spread."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from tailguard.agents.catalogue import default_catalogue
from tailguard.clock import FakeClock
from tailguard.control import ApproverList, ControlPlane, ToolRegistry
from tailguard.crowd.exchange import run_exchange
from tailguard.crowd.history import HistorySettings
from tailguard.crowd.store import CrowdStore
from tailguard.crowd.synth import load_network, make_network
from tailguard.demo.cells import LocalCells
from tailguard.demo.crowd import DemoCrowd
from tailguard.demo.run import DemoConfig, run_demo
from tailguard.learning import SelfLearnStore
from tailguard.ledger import Ledger

NIGHT = datetime(2026, 3, 9, 0, tzinfo=UTC)


def load(store: CrowdStore) -> None:
    """Publish a synthetic network with hidden truth into ``store`` (no ledger records)."""
    net = make_network(1, areas=240)
    load_network(store, net)


def test_a_night_starts_a_governed_local_test_of_each_tactic_proven_elsewhere(
    tmp_path: Path,
) -> None:
    """Every (area with eligible units, tactic) proven in the cluster and not adopted gets one
    test, as a step of crowd_start_local_test in an area agent's run; a second night starts
    none again."""
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", clock=FakeClock(NIGHT)) as ledger:
        load(CrowdStore(ledger.engine))
        control = ControlPlane(
            ToolRegistry(),
            ledger,
            clock=FakeClock(NIGHT),
            approvers=ApproverList(approver_ids=frozenset({"coach"})),
        )
        store = CrowdStore(ledger.engine)
        areas = store.area_types()
        crowd = DemoCrowd(
            ledger=ledger,
            control=control,
            learning=SelfLearnStore(ledger.engine),
            pulse=None,
            area_types=areas,
            # Eligible units for a third of the areas (the rest cannot test): a smaller test.
            units={a: [f"{i:05d}" for i in range(60)] for a in sorted(areas)[::3]},
            seed=7,
        )
        expected = {
            (a, x.tactic, x.kpi)
            for a in crowd.units
            for x in run_exchange(store).proven_elsewhere(a)
        }
        assert expected
        night = crowd.night(NIGHT)
        assert night["tests_started"] == len(expected)
        assert night["discoveries"] > 0
        tests = store.local_tests()
        assert {(t.area_id, t.tactic, t.kpi) for t in tests} == expected
        assert {t.status for t in tests} <= {"testing", "stopped_srm"}
        steps = [r.fields for r in ledger.records(kind="step")]
        started = [s for s in steps if s["tool_name"] == "crowd_start_local_test"]
        assert len({s["step_id"] for s in started}) == len(expected)
        assert len(list(ledger.records(kind="crowd_test"))) == len(expected)
        assert crowd.night(NIGHT)["tests_started"] == 0
        summary = crowd.summary(start=NIGHT, weeks=1)["tests"]
        assert summary["started"] == len(expected)
        assert ledger.verify().ok


def test_the_demo_publishes_every_night_and_reports_a_tactic_spreading(tmp_path: Path) -> None:
    """A small demo publishes its areas' tactics to the ledger, says so in summary.json and
    shows one tactic's spread by week in the report."""
    out = tmp_path / "demo"
    summary = run_demo(DemoConfig(areas=4, weeks=1, seed=3, out=out, warmup_days=1, weekly=False))
    crowd = summary["crowd"]
    assert crowd["nights"] == 7
    with Ledger.open(f"sqlite:///{out / 'ledger.db'}", create=False) as ledger:
        published = list(ledger.records(kind="tactic"))
        assert ledger.verify().ok
    assert crowd["published_tactics"] == len(published) > 0
    assert crowd["publishing_areas"] == 4
    assert crowd["tests"]["started"] == 0 or crowd["discoveries"]
    spread = crowd["spread"]
    weeks = spread["areas_by_week"]
    assert [w["week"] for w in weeks] == [0, 1]
    assert weeks[-1]["adopted_areas"] >= weeks[0]["adopted_areas"]
    assert weeks[-1]["adopted_areas"] + weeks[-1]["testing_areas"] > 0
    html = (out / "report.html").read_text()
    assert 'id="crowd-spread"' in html
    assert spread["tactic"] in html
    assert 'aria-label="areas using' in html


def test_the_first_closed_week_seeds_a_labelled_simulated_history_once(tmp_path: Path) -> None:
    """Once KPI values of a first week are published, the exchange gets 12 simulated weeks
    before it (one tactic per catalogue entry, on the KPI its outcome feeds), once; the
    summary labels it as synthetic with its truth; the ledger gets no record of it."""
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", clock=FakeClock(NIGHT)) as ledger:
        control = ControlPlane(ToolRegistry(), ledger, clock=FakeClock(NIGHT))
        areas = {f"PA-{i:04d}": ("urban", "suburban", "rural")[i % 3] for i in range(1, 31)}
        crowd = DemoCrowd(
            ledger=ledger,
            control=control,
            learning=SelfLearnStore(ledger.engine),
            pulse=None,
            area_types=areas,
            units={a: ["00001", "00002"] for a in areas},
            seed=5,
            history_settings=HistorySettings(),
        )
        crowd.cells = LocalCells(
            store=crowd.store, ledger=ledger, catalogue=default_catalogue(), units=crowd.units
        )
        assert crowd._seed_history() is False  # nothing published yet: no level to end at
        rng = np.random.default_rng(0)
        week = 2900
        crowd.store.put_areas(areas)
        crowd.store.put_kpis(
            pl.DataFrame(
                [
                    {"area_id": a, "kpi": k, "period": week, "value": float(rng.normal(50, 5))}
                    for a in areas
                    for k in ("ftf_pct", "lateness_p90_min", "nps_p10", "jobs_per_week")
                ]
            )
        )
        assert crowd._seed_history() is True
        assert crowd._seed_history() is False  # once
        kpis = crowd.store.kpis_frame()
        assert sorted(kpis["period"].unique().to_list()) == list(range(week - 12, week + 1))
        tactics = crowd.store.tactics_frame()
        assert tactics.height > 0
        assert tactics["adopted_period"].max() < week
        entries = {t.split("[", 1)[0] for t in tactics["tactic"].to_list()}
        # Entries whose outcome feeds one of the four published KPIs, no other.
        assert entries == {
            "demand_surge_pay_window",
            "demand_surge_recruiting_sms",
            "parts_spike_locker_buffer",
            "detractor_cluster_shadow",
            "late_zip_routing_boost",
            "detractor_apology_credit",
        }
        assert not list(ledger.records(kind="tactic"))
        summary = crowd.summary(start=NIGHT, weeks=1)
        assert summary["published_tactics"] == 0  # nothing the agents published
        assert summary["innovation_delta_leaders"] == []
        seeded = summary["seeded_history"]
        assert seeded["what"].startswith("simulated earlier period")
        assert (seeded["weeks"], seeded["end_period"], seeded["areas"]) == (12, week, 30)
        assert seeded["adoptions"] == tactics.height
        assert {t["area_type"] for t in seeded["truth"]} == {"urban", "suburban", "rural"}
