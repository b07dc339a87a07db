"""``tailguard learn``: evaluate, update, versions, rollback, pin, freeze and bench."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tailguard.cli import app
from tailguard.learning import SelfLearnStore
from tailguard.ledger import Ledger

from .test_loop import fill

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.open(url) as ledger:
        fill(SelfLearnStore(ledger.engine), 60)
    return url


def _json(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_update_then_evaluate_every_policy(db: str) -> None:
    """update prints the new version; evaluate prints every estimator for every policy name."""
    out = _json(["learn", "update", "--db", db, "--format", "json"])
    assert out["decisions_used"] == 60
    assert str(out["policy_version"]).startswith("lp-0002-")
    assert out["previous"] == "lp-0001-prior"
    for policy in ("logged", "fixed", "uniform", "learning", str(out["policy_version"])):
        ev = _json(["learn", "evaluate", "--db", db, "--policy", policy, "--format", "json"])
        assert ev["policy"] == policy
        assert ev["n"] == 60
        assert set(ev["estimators"]) >= {"ips", "snips", "dm", "dr"}  # type: ignore[arg-type]
        assert ev["left_out"] == {
            "inside_horizon": 0,
            "no_outcome_kpi": 0,
            "undecided": 0,
            "failed_or_skipped": 0,
            "no_value": 0,
        }
        assert ev["ess"] > 0  # type: ignore[operator]
    logged = _json(["learn", "evaluate", "--db", db, "--policy", "logged", "--format", "json"])
    ips = logged["estimators"]["ips"]  # type: ignore[index]
    assert ips["value"] == pytest.approx(logged["logged_value"])


def test_versions_rollback_pin_and_freeze(db: str) -> None:
    """The operator's switches, each a ledger record, visible in ``learn versions``."""
    first = _json(["learn", "update", "--db", db, "--format", "json"])
    second = _json(["learn", "update", "--db", db, "--format", "json"])
    assert second["previous"] == first["policy_version"]
    listed = _json(["learn", "versions", "--db", db, "--format", "json"])
    assert listed["active"] == second["policy_version"]
    back = _json(["learn", "rollback", "--db", db, "--reason", "odd", "--format", "json"])
    assert back["active"] == first["policy_version"]
    assert _json(["learn", "pin", "--db", db, "--format", "json"])["pinned"] is True
    assert _json(["learn", "freeze", "--db", db, "--format", "json"])["frozen"] is True
    assert _json(["learn", "freeze", "--db", db, "--off", "--format", "json"])["frozen"] is False
    with Ledger.open(db) as ledger:
        actions = [r.fields["action"] for r in ledger.records(kind="policy")]
        assert ledger.verify().ok
    assert actions.count("rolled_back") == 1
    assert actions.count("switch") == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "learning"], "no learning policy version yet"),
        (["--policy", "lp-9999"], "unknown policy version"),
        (["--policy", "uniform", "--bootstrap", "1"], "--bootstrap must be between"),
    ],
)
def test_evaluate_refuses_bad_input_with_exit_2(db: str, args: list[str], message: str) -> None:
    """Unknown versions and bad options: exit 2 and one line on stderr."""
    from tailguard.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["learn", "evaluate", "--db", db, *args, "--format", "json"])
    assert exc.value.code == 2


def test_a_missing_database_is_refused(tmp_path: Path) -> None:
    """A ledger that does not exist is an error, not an empty evaluation."""
    from tailguard.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["learn", "evaluate", "--db", str(tmp_path / "nope.db"), "--policy", "uniform"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_bench_scores_policies_against_the_hidden_truth() -> None:
    """A tiny bench: every policy's weekly guard-band share, regret and harmful picks."""
    out = _json(
        [
            "learn", "bench", "--areas", "2", "--weeks", "1", "--seeds", "1", "--warmup-days", "1",
            "--policies", "off,uniform,oracle", "--workers", "1", "--format", "json",
        ]
    )  # fmt: skip
    policies = out["policies"]
    assert set(policies) == {"off", "uniform", "oracle"}  # type: ignore[arg-type]
    assert out["ope_check"] == {"seeds": []}  # no fixed run to check the estimators against
    for name, p in policies.items():  # type: ignore[attr-defined]
        assert len(p["guardband_pass_pct_by_week"]) == 1
        assert 0.0 <= p["guardband_pass_pct_by_week"][0] <= 100.0
        if name == "off":
            assert "regret" not in p
        else:
            assert p["regret"] >= 0.0
            assert 0.0 <= p["harmful_pct"] <= 100.0
    # The oracle never picks a truly harmful arm; its regret comes only from better levels the
    # weekly budgets ruled out, so it is far below uniform choice's.
    oracle, uniform = policies["oracle"], policies["uniform"]  # type: ignore[index]
    assert oracle["harmful_pct"] == 0.0
    assert oracle["regret"] < uniform["regret"]
