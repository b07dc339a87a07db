"""A department's ``INDEX.md``: its folders, every file with a link and when it last changed.

The timestamps come from the ledger's change records (the governed history), so the index is
the same whoever regenerates it; it is rewritten (through the governed write tool) whenever a
file of the department changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from tailguard.compendium.history import FRESHNESS_DAYS, changes, last_changed
from tailguard.compendium.tree import ARCHIVE, FOLDERS, INDEX, Compendium
from tailguard.ledger import Ledger


def render_index(department: str, files: list[str], when: dict[str, str]) -> str:
    """The INDEX.md text of ``department`` over its ``files`` (relative to the root)."""
    groups: dict[str, list[str]] = {f: [] for f in (*FOLDERS, ARCHIVE)}
    for rel in files:
        parts = PurePosixPath(rel).parts
        if len(parts) < 3:
            continue
        groups.setdefault(parts[1], []).append(rel)
    lines = [
        f"# {department}",
        "",
        f"The {department} department of the knowledge compendium. Freshness SLA: updated at "
        f"least every {FRESHNESS_DAYS:g} days. Written by the curator; pattern cards follow the "
        "format in docs/compendium.md.",
        "",
    ]
    for folder, rels in groups.items():
        lines.append(f"## {folder}")
        lines.append("")
        if not rels:
            lines.append("(none yet)")
        for rel in sorted(rels):
            link = PurePosixPath(rel).relative_to(department)
            stamp = when.get(rel, "not recorded")
            lines.append(f"- [{link}]({link}): updated {stamp}")
        lines.append("")
    return "\n".join(lines)


def write_indexes(writer: Any, compendium: Compendium, departments: Iterable[str]) -> None:
    """Rewrite the INDEX.md of each department (after its other files changed)."""
    ledger = writer.control.ledger
    assert isinstance(ledger, Ledger)
    when = last_changed(changes(ledger))
    for dept in sorted(set(departments)):
        files = [f for f in compendium.files(dept) if f != f"{dept}/{INDEX}"]
        text = render_index(dept, files, when)
        writer.write(f"{dept}/{INDEX}", lambda cur, t=text: t, f"index of {dept}")
