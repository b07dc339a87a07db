"""The demo needs neither LLM SDK (they are the `llm` extra); asking for one without it says how
to install it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Imports of the SDKs fail in the child process, as they would where the extra is not installed.
_BLOCK = """
import sys
class _NoSdk:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("anthropic", "openai"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name.split(".")[0])
        return None
sys.meta_path.insert(0, _NoSdk())
from tailguard.cli import main
main(sys.argv[1:])
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _BLOCK, *args], capture_output=True, text=True, check=False
    )


@pytest.mark.slow
def test_the_demo_runs_without_the_llm_sdks(tmp_path: Path) -> None:
    """`tailguard demo` completes with anthropic and openai unimportable."""
    proc = _run(
        "demo",
        "--areas",
        "2",
        "--weeks",
        "1",
        "--warmup-days",
        "7",
        "--seed",
        "5",
        "--out",
        str(tmp_path / "demo"),
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["areas"] == 2


def test_a_model_provider_without_its_sdk_names_the_extra(tmp_path: Path) -> None:
    """`chat --provider anthropic:...` without the SDK exits 2 naming `tailguard[llm]`."""
    proc = _run(
        "chat",
        "--role",
        "recruiter",
        "--provider",
        "anthropic:claude-x",
        "--message",
        "hi",
        "--db",
        str(tmp_path / "c.db"),
        "--format",
        "json",
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'tailguard[llm]'" in proc.stderr
    assert proc.stderr.count("\n") == 1
