"""`tailguard demo --gamification on`: the programme's payouts go through gates in the verified
ledger, and the summary judges it against the simulator's truth (INTERFACES.md section 6)."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from tailguard.cli import app
from tailguard.control.store import gates as control_gates
from tailguard.ledger import Ledger


def test_gamification_pays_through_gates_and_reports_against_the_truth(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--areas", "4", "--weeks", "1", "--warmup-days", "7", "--seed", "2",
            "--no-weekly", "--gamification", "on", "--out", str(out), "--format", "json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    game = summary["gamification"]
    assert game["enabled"] is True
    detection = game["gaming_detection"]
    assert {"precision", "recall"} <= set(detection)
    assert detection["gamers"] <= detection["gamed_fixes"]
    assert game["spend_usd"] == sum(game["spend_by_kind_usd"].values())
    assert game["kits"]["earned"] > 0
    assert set(game["layers"]) == {"ftf_bonus", "kit_streak", "coop", "missions"}
    assert set(game["missions"]) >= {"open", "completed", "failed", "expired", "control", "xp"}
    assert summary["approvals"]["bypasses"] == 0
    report = (out / "report.html").read_text()
    assert 'id="gamification-layers"' in report
    assert "Sprint missions" in report
    assert "Gaming flags against the truth" in report
    with Ledger.open(f"sqlite:///{out / 'ledger.db'}") as ledger:
        assert ledger.verify().ok
        c = control_gates.c
        with ledger.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.tool_name, c.decision, c.decided_by, c.initiator_id).where(
                    c.tool_name.in_(["set_gamification_reward", "award_kit_bonus"])
                )
            ).all()
    rewards = ("ftf_bonus_usd", "kit_value_usd", "coop_bonus_usd")
    on = [a for a, arm in game["arms"].items() if any(arm[r] for r in rewards)]
    assert rows, "every reward waits at a gate"
    assert len([r for r in rows if r.tool_name == "set_gamification_reward"]) >= len(on)
    decided = [r for r in rows if r.decision in ("approved", "rejected")]
    assert decided
    assert all(r.decided_by != r.initiator_id for r in decided)


def test_gamification_takes_on_or_off_only(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--areas", "2", "--gamification", "maybe", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--gamification must be on or off" in result.output


def test_without_gamification_the_summary_says_so(tmp_path: Path) -> None:
    from tailguard.demo.run import DemoConfig, run_demo

    config = DemoConfig(areas=2, weeks=1, seed=5, out=tmp_path / "d", warmup_days=1, weekly=False)
    assert run_demo(config)["gamification"] == {"enabled": False}
    assert 'id="gamification-not-run"' in (tmp_path / "d" / "report.html").read_text()
