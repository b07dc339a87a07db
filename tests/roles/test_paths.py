"""The chat store when none is named lives in the user's data directory, never the cwd."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailguard.clock import FakeClock
from tailguard.roles.paths import default_chat_db
from tailguard.roles.session import open_chat


def test_open_chat_without_a_url_uses_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With XDG_DATA_HOME set, the store is created there, whatever the working directory."""
    data = tmp_path / "data"
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.chdir(elsewhere)
    assert default_chat_db() == str((data / "tailguard" / "chat.db").resolve())
    stack = open_chat(clock=FakeClock())
    try:
        assert (data / "tailguard" / "chat.db").exists()
        assert list(elsewhere.iterdir()) == []
    finally:
        stack.close()


def test_without_xdg_the_store_is_under_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No XDG_DATA_HOME: ~/.local/share/tailguard/chat.db, an absolute path."""
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = Path(default_chat_db())
    assert path.is_absolute()
    assert path == tmp_path / ".local" / "share" / "tailguard" / "chat.db"
