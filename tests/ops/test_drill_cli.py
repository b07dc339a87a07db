"""``tailguard ops drill`` and ``ops incidents``: the JSON contract, bad input, and triage that
finds the card an earlier incident wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.cli import main
from tailguard.clock import SystemClock, format_ts
from tailguard.compendium.cards import parse_cards
from tailguard.ops.healing import Incident, _render_card

CONTRACT = {"fault", "detected", "remedy", "gate_id", "approved_by", "verified", "compendium_entry"}


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_drill_prints_the_contract_json_and_a_second_drill_finds_the_first_card(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The JSON has the section-6 keys; the second incident's triage cites the first one's card."""
    db = str(tmp_path / "drill.db")
    code, out, err = _cli(
        capsys, "ops", "drill", "--fault", "budget_burn", "--db", db, "--format", "json"
    )
    assert code == 0, err
    first = json.loads(out)
    assert set(first) >= CONTRACT
    assert first["fault"] == "budget_burn"
    assert first["detected"] is True
    assert first["verified"] is True
    assert first["remedy"] == "ops_pause_intervention_kind"
    assert first["approved_by"] == "oncall-anna"
    assert first["gate_id"].startswith("gate_")
    assert first["known_patterns"] == []
    rel, card_id = first["compendium_entry"].split("#")
    assert (tmp_path / "compendium" / rel).is_file()
    code, out, err = _cli(
        capsys, "ops", "drill", "--fault", "budget_burn", "--db", db, "--format", "json"
    )
    assert code == 0, err
    second = json.loads(out)
    assert second["known_patterns"] == [card_id]
    assert second["incident_id"] != first["incident_id"]
    card = next(c for c in parse_cards((tmp_path / "compendium" / rel).read_text(), rel))
    assert set(card.evidence) == {first["incident_id"], second["incident_id"]}
    assert card.effect.n == 2
    code, out, err = _cli(capsys, "ops", "incidents", "--db", db, "--format", "json")
    assert code == 0, err
    listed = json.loads(out)["incidents"]
    assert [i["incident_id"] for i in listed] == [first["incident_id"], second["incident_id"]]
    assert {i["status"] for i in listed} == {"closed"}


def test_drill_with_a_rejecting_approver_reports_an_open_incident(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--decision reject: detected, not applied, not verified, no card."""
    db = f"sqlite:///{tmp_path / 'd.db'}"
    code, out, err = _cli(
        capsys,
        "ops",
        "drill",
        "--fault",
        "gate_backlog",
        "--db",
        db,
        "--decision",
        "reject",
        "--format",
        "json",
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["detected"] is True
    assert result["verified"] is False
    assert result["status"] == "rejected"
    assert result["compendium_entry"] is None
    assert result["approved_by"] == "oncall-anna"


@pytest.mark.parametrize(
    "args",
    [
        ["ops", "drill", "--fault", "meteor", "--db", "x.db"],
        ["ops", "drill", "--db", "x.db"],
        ["ops", "drill", "--fault", "budget_burn", "--db", "x.db", "--decision", "maybe"],
        ["ops", "incidents", "--db", "does-not-exist.db"],
    ],
)
def test_bad_usage_exits_2_with_one_line(
    args: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bad input: exit 2, one line on stderr, nothing on stdout."""
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.startswith("tailguard: error:")
    assert err.count("\n") == 1


def test_ops_help_lists_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """`tailguard ops --help` names drill and incidents."""
    code, out, _ = _cli(capsys, "ops", "--help")
    assert code == 0
    assert "drill" in out
    assert "incidents" in out


_SUBJECT = st.from_regex(r"[A-Za-z0-9_.:-]{1,40}", fullmatch=True)
_VALUE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(subject=_SUBJECT, before=_VALUE, after=_VALUE, verified=st.booleans(), n=st.integers(1, 4))
def test_incident_cards_parse_back_and_fold_each_incident_once(
    subject: str, before: float, after: float, verified: bool, n: int
) -> None:
    """The postmortem's card renders to the card format, parses back, and counts each incident once."""
    rel = "reliability/patterns/budget_burn.md"
    card_id = f"incident/budget_burn/{subject}"
    text: str | None = None
    for k in range(n):
        inc = Incident(
            incident_id=f"inc-{k:04d}",
            fault="budget_burn",
            status="verified",
            step=4,
            state={
                "subject": subject,
                "summary": "burn",
                "remedy": "ops_pause_intervention_kind",
                "approved_by": "oncall-anna",
                "signal_before": before,
                "signal_after": after,
                "verified": verified,
                "remedied_at": format_ts(SystemClock().now()),
            },
        )
        text = _render_card(text, rel, card_id, inc)
        assert _render_card(text, rel, card_id, inc) == text  # the same incident again: no change
    assert text is not None
    (card,) = parse_cards(text, rel)
    assert card.card_id == card_id
    assert card.effect.n == n
    assert card.evidence_total == n
    assert card.status == ("proven" if verified else "suspected")
    assert card.effect.lo <= card.effect.mean + 0.01
    assert card.effect.mean <= card.effect.hi + 0.01
