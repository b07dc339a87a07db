"""``tailguard ops propose``: scout, list, show, advance and decide through the CLI, the JSON
shapes, and bad input (exit 2, one line)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tailguard.cli import main

from ._swarm import APPROVER, TEST_COMMAND, git, make_repo


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_scout_list_show_advance_and_reject_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scripted model of the environment has no rule: the build fails cleanly; scout,
    list and show print their JSON."""
    monkeypatch.setenv("TAILGUARD_MODEL", "scripted")
    repo = make_repo(tmp_path)
    db = str(tmp_path / "swarm.db")
    code, out, err = _cli(
        capsys, "ops", "propose", "scout", "--db", db, "--repo", str(repo),
        "--sources", "ruff", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    (filed,) = json.loads(out)["filed"]
    assert filed["status"] == "filed"
    assert filed["finding"] == "F401: `os` imported but unused"
    pid = filed["proposal_id"]
    code, out, err = _cli(capsys, "ops", "propose", "list", "--db", db, "--format", "json")
    assert code == 0, err
    assert [p["proposal_id"] for p in json.loads(out)["proposals"]] == [pid]
    code, out, err = _cli(
        capsys, "ops", "propose", "advance", pid, "--db", db,
        "--test-command", shlex.join(TEST_COMMAND), "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["status"] == "build_failed"
    code, out, err = _cli(capsys, "ops", "propose", "show", pid, "--db", db, "--format", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["finding"]["path"] == "calc.py"
    assert shown["build"]["ok"] is False
    assert "no unified diff" in shown["build"]["error"]
    code, out, err = _cli(
        capsys, "ops", "propose", "decide", pid, "--db", db, "--as", APPROVER,
        "--approvers", APPROVER,
    )  # fmt: skip
    assert code == 2
    assert "not awaiting_approval" in err
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scout", "--sources", "bogus"], "unknown scout source bogus"),
        (["scout", "--base", "nope"], "no commit 'nope'"),
        (["show", "prp-missing"], "unknown proposal 'prp-missing'"),
        (["advance", "prp-missing"], "unknown proposal 'prp-missing'"),
        (["decide", "prp-missing", "--as", "x"], "--approvers"),
        (["list", "--format", "yaml"], "yaml"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path)
    db = str(tmp_path / "swarm.db")
    _cli(capsys, "ops", "propose", "scout", "--db", db, "--repo", str(repo), "--sources", "ledger")
    extra = ["--repo", str(repo)] if args[0] == "scout" else []
    code, out, err = _cli(capsys, "ops", "propose", *args, "--db", db, *extra)
    assert code == 2
    assert message in err
    assert out == ""


def test_a_repository_that_is_not_git_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(
        capsys, "ops", "propose", "scout", "--db", str(tmp_path / "x.db"), "--repo", str(tmp_path)
    )
    assert code == 2
    assert err.strip() == f"tailguard: error: {tmp_path} is not a git repository"


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "ops", "propose", "--help")
    assert code == 0
    for name in ("scout", "list", "show", "advance", "decide"):
        assert name in out
