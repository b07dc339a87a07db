"""The curator: turns run outcomes and measured decisions into the compendium, in one governed run.

:func:`curate` extracts the cards and flags (:mod:`.extract`), then per department writes
them into ``patterns/<topic>.md``, updating a card where it already lives (a sharded part
included) and appending new ones:

* a card whose numbers, status and title are unchanged is left byte for byte (its ``last
  updated`` stays), so curating twice writes nothing the second time;
* a changed card keeps the prose someone wrote under it unless a new prose is given;
* a curator-owned card (``role-``, ``ops-``, ``cluster-`` ids) with no evidence left is
  retired; cards and notes people added are kept as they are;
* a file whose cards break the format is reported (file and line) and not touched.

Then it records the flags in ``<dept>/postmortems/regressions.md``, writes the week's summary
for admins (``admin/metrics/weekly-summary.md``, one H2 per ISO week), shards any file it
changed that passed 1,500 lines, rewrites the INDEX files, and commits if the directory is a
git repository. With a prose writer (an LLM through the provider interface) a new or changed
card gets a paragraph of prose, budgeted as a model call of the run; prose containing a digit
is refused, so numbers only ever come from the records.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from tailguard.clock import format_ts
from tailguard.compendium.cards import Card, CardFormatError, parse_cards, render_cards
from tailguard.compendium.extract import (
    CuratorSettings,
    Draft,
    decision_facts,
    kind_cards,
    regressions,
    role_cards,
    run_facts,
)
from tailguard.compendium.index import write_indexes
from tailguard.compendium.readers import card_files, relevance
from tailguard.compendium.shard import shard_files, split_sections
from tailguard.compendium.tools import CompendiumWriter
from tailguard.compendium.tree import FOLDERS, INDEX, ROLE_DEPARTMENTS, Compendium
from tailguard.control import ControlPlane, Usage
from tailguard.learning import SelfLearnStore
from tailguard.ledger import Ledger

#: Writes a card's prose: returns the text and the model usage it cost.
ProseWriter = Callable[[Card], tuple[str, Usage]]
PROSE_ESTIMATE = Usage(input_tokens=400, output_tokens=200)
_OWNED = ("role-", "ops-", "cluster-")
_TOPIC_TITLES = {
    "tool-outcomes": (
        "Tool outcomes",
        "Which tools this role's runs used, and how those runs scored.",
    ),
    "effects": ("Measured effects", "What this intervention kind changed, by outcome KPI."),
    "kind-effects": ("Effects in this cluster", "Intervention kinds in these areas, by KPI."),
}


@dataclass
class CurateReport:
    """What one curation did (the JSON of ``tailguard compendium curate``)."""

    cards_written: int = 0
    cards_updated: int = 0
    cards_retired: int = 0
    regressions: list[dict[str, Any]] = field(default_factory=list)
    sharded: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    prose_refused: int = 0
    commit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the INTERFACES.md section 6 keys first."""
        return {
            "cards_written": self.cards_written,
            "cards_updated": self.cards_updated,
            "regressions": self.regressions,
            "sharded": self.sharded,
            "cards_retired": self.cards_retired,
            "problems": self.problems,
            "files_changed": self.files_changed,
            "prose_refused": self.prose_refused,
            "commit": self.commit,
        }


def upsert(
    current: str | None, cards: list[Card], *, title: str, intro: str, now: str, retire: bool
) -> tuple[str, list[dict[str, Any]]]:
    """The file's new text with ``cards`` written in, and the card changes it makes."""
    new = {c.card_id: c for c in cards}
    changes: list[dict[str, Any]] = []

    def note(card: Card, change: str) -> None:
        changes.append(
            {
                "card_id": card.card_id,
                "title": card.title,
                "change": change,
                "status": card.status,
                "effect": card.effect.render(),
                "evidence": list(card.evidence),
            }
        )

    if current is None:
        for fresh in cards:
            note(fresh, "written")
        return render_cards(title, intro, cards), changes
    preamble, sections = split_sections(current)
    out = [preamble]
    for section in sections:
        found = parse_cards(section.text)
        old = found[0] if found else None
        text = section.text
        if old is not None:
            card: Card | None = new.pop(old.card_id, None)
            if (
                card is None
                and retire
                and old.status != "retired"
                and old.card_id.startswith(_OWNED)
            ):
                card = replace(old, status="retired", last_updated=now)
            if card is not None and (card.numbers(), card.title) != (old.numbers(), old.title):
                card = replace(card, prose=card.prose or old.prose)
                text = card.render() + ("\n" if section.text.endswith("\n\n") else "")
                note(card, "retired" if card.status == "retired" else "updated")
        out.append(text)
    body = "".join(out)
    for card in cards:
        if card.card_id in new:
            body = body.rstrip("\n") + "\n\n" + card.render()
            note(card, "written")
    return body, changes


def _week(now: datetime) -> str:
    year, week, _ = now.isocalendar()
    return f"{year}-W{week:02d}"


def _replace_section(current: str | None, title: str, heading: str, body: str) -> str:
    preamble, sections = split_sections(current or f"# {title}\n\n")
    section = f"## {heading}\n\n{body.rstrip()}\n\n"
    texts = [s.text if s.heading != heading else section for s in sections]
    if heading not in {s.heading for s in sections}:
        texts.append(section)
    return (preamble.rstrip("\n") + "\n\n" + "".join(texts)).rstrip("\n") + "\n"


def _add_section(current: str | None, title: str, heading: str, body: str) -> str:
    _, sections = split_sections(current or "")
    if heading in {s.heading for s in sections}:
        return current or ""
    return _replace_section(current, title, heading, body)


class _Curation:
    def __init__(
        self,
        control: ControlPlane,
        compendium: Compendium,
        settings: CuratorSettings,
        prose: ProseWriter | None,
    ) -> None:
        self.control = control
        self.compendium = compendium
        self.settings = settings
        self.prose = prose
        self.now = control.clock.now()
        self.stamp = format_ts(self.now)
        self.writer = CompendiumWriter(control=control, compendium=compendium)
        self.report = CurateReport()

    def department(self, dept: str, drafts: list[Draft]) -> None:
        where: dict[str, str] = {}
        existing: dict[str, Card] = {}
        broken: set[str] = set()
        for rel in card_files(self.compendium, dept):
            try:
                cards = parse_cards(self.compendium.read(rel) or "", rel)
            except CardFormatError as exc:
                broken.add(rel)
                self.report.problems.append(
                    {"file": exc.path, "line": exc.line, "reason": exc.reason}
                )
                continue
            for card in cards:
                where[card.card_id] = rel
                existing[card.card_id] = card
        targets: dict[str, list[Card]] = defaultdict(list)
        topics: dict[str, str] = {}
        for draft in drafts:
            rel = where.get(draft.card.card_id, f"{dept}/patterns/{draft.topic}.md")
            topics.setdefault(rel, draft.topic)
            if rel in broken:
                continue
            card = self._with_prose(draft.card, existing.get(draft.card.card_id))
            targets[rel].append(card)
        for rel in set(where.values()) - broken:
            targets.setdefault(rel, [])
        for rel in sorted(targets):
            title, intro = _TOPIC_TITLES.get(topics.get(rel, ""), ("Patterns", ""))
            cards = targets[rel]
            seen: list[dict[str, Any]] = []

            def render(
                cur: str | None,
                cards: list[Card] = cards,
                t: str = title,
                i: str = intro,
                seen: list[dict[str, Any]] = seen,
            ) -> str:
                text, changes = upsert(cur, cards, title=t, intro=i, now=self.stamp, retire=True)
                seen[:] = changes
                return text

            done = self.writer.write(rel, render, "curate pattern cards", cards=partial(list, seen))
            if done != "unchanged":
                for change in seen:
                    kind = change["change"]
                    if kind == "written":
                        self.report.cards_written += 1
                    elif kind == "updated":
                        self.report.cards_updated += 1
                    else:
                        self.report.cards_retired += 1

    def _with_prose(self, card: Card, old: Card | None) -> Card:
        if self.prose is None or (old is not None and old.numbers() == card.numbers()):
            return card
        with self.control.model_call(self.writer._run(), PROSE_ESTIMATE) as slot:
            text, usage = self.prose(card)
            slot.record(usage)
        if any(ch.isdigit() for ch in text) or any(
            line.lstrip().startswith("#") for line in text.splitlines()
        ):
            self.report.prose_refused += 1
            return card
        return replace(card, prose=" ".join(text.split()))

    def flags(self, flags: list[dict[str, Any]]) -> None:
        week = _week(self.now)
        for flag in flags:
            heading = f"{week}: {flag['type']} of {flag['subject']}"
            body = "\n".join(f"- {k}: {v}" for k, v in flag.items() if k != "department")
            body += f"\n- flagged: {self.stamp}"
            rel = f"{flag['department']}/postmortems/regressions.md"
            self.writer.write(
                rel,
                partial(_add_section, title="Regressions", heading=heading, body=body),
                f"flag {flag['type']}",
            )

    def summary(self, runs: list[Any], flags: list[dict[str, Any]]) -> None:
        start = self.now.timestamp() - self.settings.window_days * 86400
        by_role: dict[str, list[float]] = defaultdict(list)
        for r in runs:
            if start < r.evaluated_at.timestamp() <= self.now.timestamp():
                by_role[r.role].append(r.quality)
        from tailguard.compendium.readers import department_cards

        cards = [f.card for f in department_cards(self.compendium)]
        counts = {
            s: sum(1 for c in cards if c.status == s) for s in ("proven", "suspected", "retired")
        }
        best = sorted(
            (c for c in cards if c.status == "proven" and c.effect.measure != "quality_score"),
            key=lambda c: tuple(-x for x in relevance(c)),
        )[:3]
        lines = [
            "- rolling quality by role (last "
            f"{self.settings.window_days:g} days): "
            + (
                ", ".join(
                    f"{role} {math.fsum(v) / len(v):.1f} (n={len(v)})"
                    for role, v in sorted(by_role.items())
                )
                or "no outcomes"
            ),
            f"- cards: {counts['proven']} proven, {counts['suspected']} suspected, "
            f"{counts['retired']} retired",
            "- regressions: "
            + ("; ".join(f"{f['type']} of {f['subject']} ({f['value']})" for f in flags) or "none"),
            "- strongest proven effects: "
            + ("; ".join(f"{c.title}: {c.effect.render()}" for c in best) or "none yet"),
            "- card format problems: "
            + (
                "; ".join(f"{p['file']}:{p['line']}: {p['reason']}" for p in self.report.problems)
                or "none"
            ),
        ]
        heading = f"Week {_week(self.now)}"
        self.writer.write(
            "admin/metrics/weekly-summary.md",
            lambda cur: _replace_section(
                cur, "Weekly summary for admins", heading, "\n".join(lines)
            ),
            "weekly summary",
        )


def curate(
    control: ControlPlane,
    compendium: Compendium,
    store: SelfLearnStore | None = None,
    *,
    settings: CuratorSettings | None = None,
    prose: ProseWriter | None = None,
) -> CurateReport:
    """One curation, as a governed ``curator`` run (see the module docstring).

    ``store`` defaults to the self-learn store on the control plane's ledger database.
    """
    ledger = control.ledger
    assert isinstance(ledger, Ledger)
    s = settings or CuratorSettings()
    store = store or SelfLearnStore(ledger.engine)
    job = _Curation(control, compendium, s, prose)
    runs = run_facts(ledger)
    decisions = decision_facts(store)
    drafts = role_cards(runs, job.now, s) + kind_cards(decisions, job.now, s)
    by_dept: dict[str, list[Draft]] = defaultdict(list)
    for draft in drafts:
        by_dept[draft.department].append(draft)
    departments = set(by_dept) | set(ROLE_DEPARTMENTS) | set(compendium.departments())
    for dept in sorted(departments):
        job.department(dept, by_dept.get(dept, []))
    flags = regressions(runs, decisions, job.now, s)
    job.report.regressions = flags
    job.flags(flags)
    job.summary(runs, flags)
    changed = sorted(set(job.writer.changed))
    job.report.sharded = shard_files(job.writer, compendium, changed, now=job.stamp)
    stale = {
        d
        for d in departments
        if compendium.read(f"{d}/{INDEX}") is None
        or any(c.startswith(f"{d}/") for c in job.writer.changed)
    }
    write_indexes(job.writer, compendium, stale)
    for dept in departments:
        for folder in FOLDERS:
            (compendium.root / dept / folder).mkdir(parents=True, exist_ok=True)
    job.report.files_changed = sorted(set(job.writer.changed))
    job.report.commit = job.writer.finish(
        f"compendium: curate ({job.report.cards_written} written, "
        f"{job.report.cards_updated} updated, {len(flags)} regressions)"
    )
    return job.report


@dataclass
class Schedule:
    """When the curator runs by itself: after ``every_runs`` finished runs, or nightly."""

    settings: CuratorSettings
    runs_since: int = 0
    last_night: str | None = None

    def runs_finished(self, count: int, now: datetime) -> bool:
        """Count finished runs; True when a curation is due now."""
        self.runs_since += count
        if self.settings.every_runs and self.runs_since >= self.settings.every_runs:
            self.runs_since = 0
            return True
        night = now.date().isoformat()
        if self.settings.nightly and night != self.last_night:
            if self.last_night is not None:
                self.last_night = night
                return True
            self.last_night = night
        return False


def curate_settings(values: Mapping[str, Any]) -> CuratorSettings:
    """Settings from a mapping (the CLI's options), unknown keys refused."""
    return CuratorSettings(**dict(values))
