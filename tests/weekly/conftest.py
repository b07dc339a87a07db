"""A small simulated network (3 areas, 2 weeks), built once per test session."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from .netgen import build_network


@dataclass(frozen=True)
class Network:
    """Where the demo-like output lives and its week ends."""

    root: Path
    ends: list[datetime]
    events: Path

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.root / 'ledger.db'}"

    def copy(self, target: Path) -> Network:
        """A private copy (tests that write OKRs must not see each other's records)."""
        shutil.copytree(self.root, target)
        return Network(root=target, ends=self.ends, events=self.events)


@pytest.fixture(scope="session")
def network_template(tmp_path_factory: pytest.TempPathFactory) -> Network:
    """Simulate once per session."""
    root = tmp_path_factory.mktemp("weekly-net") / "demo"
    events = root.parent / "events.parquet"
    ends = build_network(root, events_file=events)
    return Network(root=root, ends=ends, events=events)


@pytest.fixture
def network(network_template: Network, tmp_path: Path) -> Network:
    """A fresh copy of the simulated network for one test."""
    return network_template.copy(tmp_path / "demo")
