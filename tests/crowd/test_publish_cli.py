"""`tailguard crowd publish`: self-learn store + pulse history -> tactic records and KPI weeks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tailguard.cli import main
from tailguard.crowd.publish import period_of, weekly_kpis
from tailguard.crowd.store import CrowdStore
from tailguard.learning import Decision, SelfLearnStore, StatusUpdate
from tailguard.ledger import Ledger
from tailguard.pulse import PulseStore

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_weekly_kpis_average_closed_weeks_only() -> None:
    """Each closed week's hourly values average into one value; the open week waits."""
    history = pl.DataFrame(
        {
            "area_id": ["PA-1"] * 4,
            "as_of": [
                MONDAY,
                MONDAY + timedelta(days=1),
                MONDAY + timedelta(days=7),
                MONDAY + timedelta(days=15),
            ],
            "ftf_pct": [70.0, 80.0, 90.0, 60.0],
            "nps_p10": [None, 6.0, None, None],
        }
    ).with_columns(pl.col("as_of").cast(pl.Datetime("us", "UTC")))
    rows = weekly_kpis(history, until=MONDAY + timedelta(days=15))
    week = period_of(MONDAY)
    assert rows.to_dicts() == [
        {"area_id": "PA-1", "kpi": "ftf_pct", "period": week, "value": 75.0},
        {"area_id": "PA-1", "kpi": "ftf_pct", "period": week + 1, "value": 90.0},
        {"area_id": "PA-1", "kpi": "nps_p10", "period": week, "value": 6.0},
    ]


def test_publish_command_is_idempotent(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A night publishes the executed tactic and closed KPI weeks once; a rerun adds nothing."""
    with Ledger.open(db_url) as ledger:
        learn = SelfLearnStore(ledger.engine)
        learn.record_decisions(
            [
                Decision(
                    decision_id="d1",
                    area_id="PA-1",
                    entry_id="late_zip_traffic_weight",
                    kind="traffic_weight",
                    tool_name="boost_traffic_weight",
                    trigger="late_tail",
                    target_type="zip",
                    target_id="10001",
                    args={"zip": "10001", "weight_pct": 15},
                    propensity=1.0,
                    policy_version="catalogue-1",
                    decided_at=MONDAY + timedelta(days=8),
                    outcome_kpi="lateness_p90_min",
                    baseline_value=30.0,
                )
            ]
        )
        learn.update_status(
            [
                StatusUpdate(
                    decision_id="d1", status="executed", executed_at=MONDAY + timedelta(days=8)
                )
            ]
        )
    pulse_url = str(tmp_path / "pulse.db")
    with PulseStore.open(pulse_url) as pulse:
        for day in range(0, 15):
            card = pl.DataFrame({"area_id": ["PA-1", "PA-2"], "ftf_pct": [70.0 + day, 80.0]})
            pulse.write(MONDAY + timedelta(days=day, hours=12), card)
    types = tmp_path / "types.json"
    types.write_text(json.dumps({"PA-1": "metro"}))
    args = [
        "crowd",
        "publish",
        "--db",
        db_url,
        "--pulse",
        pulse_url,
        "--now",
        "2026-03-16T02:00:00Z",
        "--area-types",
        str(types),
        "--format",
        "json",
    ]
    code, out, err = run_main(capsys, *args)
    assert (code, err) == (0, "")
    assert json.loads(out) == {"tactics": 1, "kpi_rows": 4, "areas": 2, "ledger_records": 1}
    code, out, _ = run_main(capsys, *args)
    assert json.loads(out) == {"tactics": 0, "kpi_rows": 0, "areas": 0, "ledger_records": 0}
    with Ledger.open(db_url) as ledger:
        store = CrowdStore(ledger.engine)
        assert store.area_types() == {"PA-1": "metro", "PA-2": "unknown"}
        [tactic] = store.tactics_frame().to_dicts()
        assert tactic["tactic"] == "late_zip_traffic_weight[weight_pct=15]"
        [record] = ledger.records(kind="tactic")
        assert "10001" not in json.dumps(record.fields)
    code, _, err = run_main(capsys, *args[:-2], "--now", "yesterday")
    assert code == 2
    assert "--now" in err
