"""Auto-sharding at 1,500 lines: freeze, split by H2 (or by size), INDEX, idempotent; the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tailguard.clock import FakeClock
from tailguard.compendium import Compendium, CompendiumWriter, content_hash, shard_all, verify
from tailguard.control import ControlPlane, ToolRegistry
from tailguard.ledger import Ledger


def _big(sections: int, lines_each: int) -> str:
    out = ["# Outreach cadence\n", "\n", "Intro line.\n"]
    for s in range(sections):
        out.append(f"## Topic {s}\n")
        out += [f"line {s}.{k}\n" for k in range(lines_each)]
    return "".join(out)


def _put(plane: ControlPlane, comp: Compendium, rel: str, text: str) -> None:
    writer = CompendiumWriter(control=plane, compendium=comp, role="curator")
    writer.write(rel, lambda cur: text, "test fixture")
    writer.finish("fixture")


def test_a_file_past_1500_lines_is_frozen_split_by_h2_and_indexed(
    plane: ControlPlane, ledger: Ledger, tmp_path: Path
) -> None:
    """Three H2 topics of 600 lines: the original is archived under its hash, split into three
    parts, replaced by a stub linking them, the INDEX lists them with timestamps; a second run
    does nothing and the history verifies."""
    comp = Compendium(tmp_path / "comp")
    rel = "recruiter/playbooks/outreach-cadence.md"
    text = _big(3, 600)
    _put(plane, comp, rel, text)
    done = shard_all(plane, comp)
    digest = content_hash(text)
    assert digest is not None
    assert done == [
        {
            "file": rel,
            "parts": [f"recruiter/playbooks/outreach-cadence/topic-{k}.md" for k in range(3)],
            "archived": f"recruiter/archive/playbooks-outreach-cadence.{digest[:12]}.md",
            "by_size": False,
        }
    ]
    assert comp.read(done[0]["archived"]) == text
    part = comp.read(done[0]["parts"][1]) or ""
    assert "## Topic 1\n" in part
    assert "line 1.599" in part
    assert "Topic 2" not in part
    stub = comp.read(rel) or ""
    assert len(stub.splitlines()) < 20
    assert digest in stub
    assert "(outreach-cadence/topic-2.md)" in stub
    index = comp.read("recruiter/INDEX.md") or ""
    assert (
        "[playbooks/outreach-cadence/topic-0.md](playbooks/outreach-cadence/topic-0.md): updated 20"
        in index
    )
    assert "archive/playbooks-outreach-cadence." in index
    assert shard_all(plane, comp) == []
    assert verify(ledger, comp).ok


def test_a_file_without_h2_is_split_by_size_with_a_note(
    plane: ControlPlane, tmp_path: Path
) -> None:
    """1,600 plain lines become four parts of at most 500 lines, each saying why."""
    comp = Compendium(tmp_path / "comp")
    rel = "dev/patterns/code-quality-rules.md"
    _put(plane, comp, rel, "".join(f"rule {k}\n" for k in range(1600)))
    (item,) = shard_all(plane, comp)
    assert item["by_size"] is True
    assert [p.rsplit("/", 1)[1] for p in item["parts"]] == [f"part-0{k}.md" for k in range(1, 5)]
    first = comp.read(item["parts"][0]) or ""
    assert "Split by size" in first
    assert "rule 499\n" in first
    assert "rule 500\n" not in first
    assert "split by size (no H2 headings)" in (comp.read(rel) or "")


def test_cli_shard_and_verify_print_the_documented_json(tmp_path: Path) -> None:
    """``compendium shard --format json`` prints {"sharded": [{"file", "parts", "archived"}]}
    and ``compendium verify`` passes; a missing directory exits 2 with one line."""
    comp_dir = tmp_path / "compendium"
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger.open(url, clock=FakeClock()) as ledger:
        plane = ControlPlane(ToolRegistry(), ledger)
        _put(plane, Compendium(comp_dir), "admin/metrics/log.md", _big(2, 800))
    cmd = [sys.executable, "-m", "tailguard", "compendium"]
    out = subprocess.run(
        [*cmd, "shard", "--dir", str(comp_dir), "--format", "json"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    (item,) = json.loads(out.stdout)["sharded"]
    assert item["file"] == "admin/metrics/log.md"
    assert len(item["parts"]) == 2
    assert (comp_dir / item["archived"]).is_file()
    ok = subprocess.run(
        [*cmd, "verify", "--db", url, "--dir", str(comp_dir), "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout
    assert json.loads(ok.stdout)["ok"] is True
    bad = subprocess.run(
        [*cmd, "shard", "--dir", str(tmp_path / "nope"), "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1
