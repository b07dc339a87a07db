"""Where the role agents keep their store when none is named (no heavy imports: the CLI's
fast paths read it)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_chat_db"]


def default_chat_db() -> str:
    """The chat store when none is named: an absolute path in the user's data directory
    (``$XDG_DATA_HOME/tailguard/chat.db``, else ``~/.local/share/tailguard/chat.db``), so a
    chat opened from any directory (an MCP client's, say) uses the same store and writes
    nothing to its working directory."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    folder = Path(base).expanduser().resolve() / "tailguard"
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / "chat.db")
