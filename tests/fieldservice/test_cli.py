"""`tailguard chat --domain operations`: the reference question from the command line, the
stand-in said as such, bad usage in one line."""

from __future__ import annotations

import json

import pytest

from tailguard.cli import main

from .network import SURGE_TOOL, Network


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


QUESTION = "why did PA-0004 get a surge window yesterday, and did it work?"


def test_the_reference_question_from_the_cli(
    db_url: str, pulse_url: str, network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["chat", "--domain", "operations", "--role", "ops_manager", "-m", QUESTION]
    base += ["--db", db_url, "--pulse", pulse_url, "--user", "maria"]
    code, out, err = _run([*base, "--format", "json"], capsys)
    assert code == 0, err
    reply = json.loads(out)
    assert reply["status"] == "completed"
    assert reply["stand_in"] is True
    assert SURGE_TOOL in reply["answer"]
    assert "it worked" in reply["answer"]
    code, out, _ = _run(base, capsys)
    assert code == 0
    assert "scripted stand-in, not a language model" in out


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (["--domain", "ops", "--role", "ops_manager", "-m", "hi"], "unknown domain"),
        (["--domain", "operations", "--role", "driver", "-m", "hi"], "unknown operations role"),
        (["--domain", "operations", "--role", "ops_manager"], "--role and --message"),
    ],
)
def test_bad_usage_is_one_line(
    db_url: str, extra: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["chat", *extra, "--db", db_url], capsys)
    assert (code, out) == (2, "")
    assert reason in err
    assert err.count("\n") == 1
