"""`tailguard chat`: one turn as JSON, gates decided from a second invocation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tailguard.cli import main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    code = int(info.value.code or 0)
    return code, json.loads(out.out) if code == 0 and out.out.startswith("{") else out.out, out.err


def test_chat_json_has_answer_tool_calls_and_run_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The carrier scenario prints only JSON with the answer, tool calls and run id."""
    db = str(tmp_path / "chat.db")
    code, payload, _ = _run(
        [
            "chat",
            "--role",
            "carrier",
            "--message",
            "Show signals for account ACC-001",
            "--db",
            db,
            "--format",
            "json",
        ],
        capsys,
    )
    assert code == 0
    assert payload["status"] == "completed"
    assert payload["run_id"].startswith("run_")
    assert payload["tool_calls"][0]["tool"] == "get_signals"
    assert "ACC-001" in payload["answer"]
    assert payload["gate_ids"] == []


def test_chat_gate_is_approved_by_a_later_invocation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A paused run's gate id from one process is approved and resumed by the next."""
    db = str(tmp_path / "chat.db")
    code, paused, _ = _run(
        [
            "chat",
            "--role",
            "recruiter",
            "--message",
            'Message John: "Are you free Friday?"',
            "--db",
            db,
            "--format",
            "json",
        ],
        capsys,
    )
    assert (code, paused["status"]) == (0, "waiting_approval")
    assert (paused["model"], paused["stand_in"]) == ("scripted:rules", True)
    [gate_id] = paused["gate_ids"]
    code, done, _ = _run(
        ["chat", "--approve", gate_id, "--as", "admin", "--db", db, "--format", "json"], capsys
    )
    assert (code, done["status"], done["run_id"]) == (0, "completed", paused["run_id"])
    assert done["tool_calls"][0]["outcome"] == "executed"


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["chat", "--role", "pilot", "--message", "hi"], "unknown role"),
        (["chat", "--role", "driver"], "--role and --message are required"),
        (
            ["chat", "--role", "driver", "--message", "hi", "--provider", "acme:x"],
            "unknown provider",
        ),
        (["chat", "--role", "driver", "--message", "hi", "--user", "rec-001"], "not a driver"),
    ],
)
def test_bad_chat_usage_exits_2_with_a_reason(
    argv: list[str], reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad roles, missing options, unknown providers and wrong users exit 2 with one line."""
    code, _, err = _run([*argv, "--db", str(tmp_path / "c.db")], capsys)
    assert code == 2
    assert reason in err
    assert err.count("\n") == 1


def test_the_scripted_model_says_it_is_a_stand_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --provider the table output tells the reader no language model answered."""
    with pytest.raises(SystemExit) as done:
        main(["chat", "--role", "carrier", "--message", "signals for account ACC-001",
              "--db", str(tmp_path / "c.db")])  # fmt: skip
    out, _ = capsys.readouterr()
    assert done.value.code == 0
    assert "scripted stand-in, not a language model" in out
