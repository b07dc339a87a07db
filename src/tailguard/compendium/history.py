"""The compendium's history in the ledger: verify it against the files, freshness, card history.

Every change is a ``compendium_change`` ledger record (path, hash before, hash after, run,
step, and the cards it touched). :func:`verify` replays them in ledger order: each change must
start from the hash the previous change of that path left (no write went around the governed
tool), and each file must now hash to its last recorded change (no hand edit since); a
Markdown file with no recorded change is reported as untracked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from tailguard.clock import format_ts, parse_ts
from tailguard.compendium.tools import CHANGE_KIND
from tailguard.compendium.tree import Compendium
from tailguard.ledger import Ledger, LedgerRecord

#: The product document's freshness SLA: every department updated at least weekly.
FRESHNESS_DAYS: Final = 7.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One recorded change of one file."""

    seq: int
    path: str
    hash_before: str | None
    hash_after: str | None
    changed_at: str
    run_id: str | None
    step_id: str | None
    reason: str
    cards: tuple[dict[str, Any], ...]

    @classmethod
    def of(cls, record: LedgerRecord) -> Change:
        """The change a ``compendium_change`` record describes."""
        f = record.fields
        return cls(
            seq=record.seq,
            path=str(f["path"]),
            hash_before=f.get("hash_before"),
            hash_after=f.get("hash_after"),
            changed_at=str(f.get("changed_at") or format_ts(record.recorded_at)),
            run_id=f.get("run_id"),
            step_id=f.get("step_id"),
            reason=str(f.get("reason") or ""),
            cards=tuple(f.get("cards") or ()),
        )


def changes(ledger: Ledger) -> list[Change]:
    """Every compendium change, in ledger order."""
    return [Change.of(r) for r in ledger.records(kind=CHANGE_KIND)]


@dataclass
class VerifyResult:
    """What :func:`verify` found; ``ok`` when nothing."""

    files: int = 0
    changes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "ok": self.ok,
            "files": self.files,
            "changes": self.changes,
            "problems": list(self.problems),
        }


def verify(ledger: Ledger, compendium: Compendium) -> VerifyResult:
    """Check the recorded history against itself and against the files (module docstring)."""
    result = VerifyResult()
    last: dict[str, str | None] = {}
    for change in changes(ledger):
        result.changes += 1
        before = last.get(change.path)
        if change.hash_before != before:
            result.problems.append(
                f"{change.path}: change at seq {change.seq} starts from "
                f"{str(change.hash_before)[:12]}, but the history left {str(before)[:12]}"
            )
        last[change.path] = change.hash_after
    files = compendium.files()
    result.files = len(files)
    for rel in sorted(set(files) | set(last)):
        now = compendium.hash_of(rel)
        if rel not in last:
            result.problems.append(f"{rel}: not in the ledger's history (untracked file)")
        elif now != last[rel]:
            what = "is missing" if now is None else "was changed outside the governed tool"
            result.problems.append(f"{rel}: {what} (the ledger says {str(last[rel])[:12]})")
    return result


def last_changed(history: Iterable[Change]) -> dict[str, str]:
    """Path -> when it last changed (RFC 3339)."""
    return {c.path: c.changed_at for c in history}


def freshness(
    history: Iterable[Change],
    departments: Iterable[str],
    *,
    now: datetime,
    sla_days: float = FRESHNESS_DAYS,
) -> list[dict[str, Any]]:
    """Per department: its last change, age in days and whether it meets the SLA."""
    latest: dict[str, str] = {}
    for c in history:
        dept = c.path.split("/", 1)[0]
        if c.changed_at > latest.get(dept, ""):
            latest[dept] = c.changed_at
    out = []
    for dept in sorted(set(departments) | set(latest)):
        when = latest.get(dept)
        age = None if when is None else (now - parse_ts(when)) / timedelta(days=1)
        out.append(
            {
                "department": dept,
                "last_change": when,
                "age_days": None if age is None else round(age, 2),
                "fresh": age is not None and age <= sla_days,
            }
        )
    return out


def card_history(history: Iterable[Change], card_id: str) -> list[dict[str, Any]]:
    """Every recorded change of one card, oldest first, with its evidence at the time."""
    out = []
    for c in history:
        for card in c.cards:
            if card.get("card_id") == card_id:
                out.append(
                    {
                        "seq": c.seq,
                        "path": c.path,
                        "changed_at": c.changed_at,
                        "run_id": c.run_id,
                        "step_id": c.step_id,
                        **card,
                    }
                )
    return out
