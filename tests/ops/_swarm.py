"""The dev swarm's test fixtures: a throwaway target repository and a swarm on a database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tailguard.ledger import Ledger
from tailguard.ops.swarm import Swarm, open_swarm
from tailguard.ops.swarm_tools import SwarmConfig
from tailguard.roles.providers import ModelProvider, ScriptedCall, ScriptedProvider, ScriptRule

APPROVER = "dev-lead"

CALC = """import os


def add(a, b):
    return a + b
"""
TEST_CALC = """from calc import add


def test_add():
    assert add(2, 3) == 5
"""
#: The scripted model's patch for calc.py's unused import: removes the import.
GOOD_DIFF = "".join(
    f"{line}\n"
    for line in (
        "--- a/calc.py",
        "+++ b/calc.py",
        "@@ -1,5 +1,3 @@",
        "-import os",
        "-",
        " ",
        " def add(a, b):",
        "     return a + b",
    )
)
#: A patch that removes the unused import and breaks add: its tests fail.
BAD_DIFF = "".join(
    f"{line}\n"
    for line in (
        "--- a/calc.py",
        "+++ b/calc.py",
        "@@ -1,5 +1,3 @@",
        "-import os",
        "-",
        " ",
        " def add(a, b):",
        "-    return a + b",
        "+    return a - b",
    )
)
TEST_COMMAND = (
    sys.executable,
    "-m",
    "pytest",
    "-q",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:randomly",
    "{tests}",
)


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` (test helper)."""
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def make_repo(root: Path) -> Path:
    """A git repository with calc.py (an unused import: ruff's F401) and its test, on main."""
    repo = root / "target"
    (repo / "tests").mkdir(parents=True)
    (repo / "calc.py").write_text(CALC)
    (repo / "tests" / "test_calc.py").write_text(TEST_CALC)
    (repo / "tests" / "conftest.py").write_text(
        "import sys, pathlib\nsys.path.insert(0, str(pathlib.Path(__file__).parent.parent))\n"
    )
    (repo / "ruff.toml").write_text('[lint]\nselect = ["F401"]\n')
    git(repo, "init", "--quiet", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "-m", "init")
    return repo


def provider(diff: str = GOOD_DIFF) -> ScriptedProvider:
    """A scripted model that answers ruff's F401 finding with ``diff``."""
    return ScriptedProvider(
        [
            ScriptRule(
                pattern=r"ruff F401",
                calls=(ScriptedCall(tool="submit_patch", args={"diff": diff}),),
            )
        ]
    )


@contextmanager
def swarm(
    db: str,
    repo: Path,
    *,
    diff: str = GOOD_DIFF,
    error_logs: tuple[Path, ...] = (),
    test_command: tuple[str, ...] = TEST_COMMAND,
    timeout_s: float = 120,
    model: ModelProvider | None = None,
) -> Iterator[Swarm]:
    """A swarm on ``db`` for ``repo``; reopening continues where it was (a restart)."""
    config = SwarmConfig(
        repo=repo, test_command=test_command, test_timeout_s=timeout_s, error_logs=error_logs
    )
    with Ledger.open(db) as ledger:
        yield open_swarm(ledger, config, provider=model or provider(diff), approvers=[APPROVER])
