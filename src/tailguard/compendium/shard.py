"""Auto-sharding: a compendium file past 1,500 lines is frozen, split and indexed.

For a file ``<dept>/<folder>/<stem>.md`` over :data:`MAX_LINES` lines:

1. **Freeze**: the current text is copied unchanged to
   ``<dept>/archive/<folder>-<stem>.<first 12 hex of its SHA-256>.md``; the ledger's change
   record of that copy carries the full hash.
2. **Split** by H2 headings: each H2 section (heading included) becomes
   ``<dept>/<folder>/<stem>/<slug of the heading>.md`` under a one-line H1 and a note naming
   the original; an existing part of the same name gets ``-2``, ``-3``... A file without H2
   headings is split by size into ``part-01.md``, ``part-02.md``... of :data:`SIZE_PART_LINES`
   lines, each with a note saying why.
3. The original becomes a short stub: its text before the first H2, a note with the archive
   path and hash, and links to the parts (no H2, so it is never split again: idempotent).
4. The department's ``INDEX.md`` is rewritten with links and timestamps
   (:mod:`tailguard.compendium.index`).

Every file it touches is a ``compendium_write`` governed call (:class:`CompendiumWriter`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Final

from tailguard.clock import format_ts
from tailguard.compendium.tree import ARCHIVE, INDEX, Compendium, content_hash, slug
from tailguard.control import ControlPlane

MAX_LINES: Final = 1500
SIZE_PART_LINES: Final = 500
SHARD_NOTE: Final = "<!-- sharded -->"


@dataclass(frozen=True, kw_only=True, slots=True)
class Section:
    """An H2 section: its heading text and its lines (heading included)."""

    heading: str
    text: str


def split_sections(text: str) -> tuple[str, list[Section]]:
    """The text before the first H2, and every H2 section in order (fenced code respected)."""
    pre: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    fenced = False
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append((line[3:].strip(), [line]))
        elif sections:
            sections[-1][1].append(line)
        else:
            pre.append(line)
    return "".join(pre), [Section(heading=h, text="".join(lines)) for h, lines in sections]


def _title(preamble: str, rel: str) -> str:
    for line in preamble.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return PurePosixPath(rel).stem


@dataclass(frozen=True, kw_only=True, slots=True)
class ShardPlan:
    """What sharding one file writes."""

    file: str
    archive: str
    archive_text: str
    parts: dict[str, str]
    stub: str
    by_size: bool


def plan_shard(
    text: str, rel: str, *, now: str, taken: set[str], max_lines: int = MAX_LINES
) -> ShardPlan | None:
    """The plan for ``rel`` (None when it is within ``max_lines``); ``taken``: existing files."""
    lines = text.splitlines(keepends=True)
    if len(lines) <= max_lines:
        return None
    path = PurePosixPath(rel)
    dept = path.parts[0]
    digest = content_hash(text)
    assert digest is not None
    inner = "-".join(path.with_suffix("").parts[1:]) or path.stem
    archive = f"{dept}/{ARCHIVE}/{inner}.{digest[:12]}.md"
    folder = path.with_suffix("")
    preamble, sections = split_sections(text)
    title = _title(preamble, rel)
    used = set(taken)

    def name(base: str) -> str:
        candidate, k = f"{folder}/{base}.md", 2
        while candidate in used:
            candidate, k = f"{folder}/{base}-{k}.md", k + 1
        used.add(candidate)
        return candidate

    parts: dict[str, str] = {}
    by_size = not sections
    if by_size:
        chunks = [lines[i : i + SIZE_PART_LINES] for i in range(0, len(lines), SIZE_PART_LINES)]
        for k, chunk in enumerate(chunks, 1):
            first = (k - 1) * SIZE_PART_LINES + 1
            note = (
                f"# {title}, part {k} of {len(chunks)}\n\n> Split by size: {rel} has no H2 "
                f"headings; this is lines {first}-{first + len(chunk) - 1} of the version "
                f"archived at {archive} (sharded {now}).\n\n"
            )
            parts[name(f"part-{k:02d}")] = note + "".join(chunk)
        preamble = ""
    else:
        for section in sections:
            head = (
                f"# {title}: {section.heading}\n\n> Part of {rel}, sharded {now} by its H2 "
                f"headings; the whole file is archived at {archive}.\n\n"
            )
            parts[name(slug(section.heading))] = head + section.text
    links = "".join(
        f"- [{PurePosixPath(p).stem}]({PurePosixPath(p).relative_to(path.parent)})\n" for p in parts
    )
    why = "split by size (no H2 headings)" if by_size else "split by its H2 headings"
    stub = (
        (preamble.rstrip("\n") + "\n\n" if preamble.strip() else f"# {title}\n\n")
        + f"{SHARD_NOTE}\n> Sharded {now}: the version of {len(lines)} lines was {why}; it is "
        f"frozen at {archive} (sha256 {digest}).\n\n{links}"
    )
    return ShardPlan(
        file=rel, archive=archive, archive_text=text, parts=parts, stub=stub, by_size=by_size
    )


def shard_files(
    writer: Any, compendium: Compendium, files: list[str], *, now: str, max_lines: int = MAX_LINES
) -> list[dict[str, Any]]:
    """Shard each of ``files`` that is over ``max_lines`` through ``writer``'s governed run.

    Returns ``[{"file", "parts", "archived", "by_size"}]``; INDEX files are never sharded.
    """
    out = []
    for rel in files:
        if rel.endswith(f"/{INDEX}") or f"/{ARCHIVE}/" in rel:
            continue
        text = compendium.read(rel)
        if text is None:
            continue
        plan = plan_shard(text, rel, now=now, taken=set(compendium.files()), max_lines=max_lines)
        if plan is None:
            continue
        writer.write(plan.archive, lambda cur, p=plan: p.archive_text, f"freeze {rel}")
        for part, body in plan.parts.items():
            writer.write(part, lambda cur, b=body: b, f"shard of {rel}")
        frozen = plan.archive_text
        # The stub replaces the original only if it is still the version that was frozen.
        writer.write(rel, lambda cur, p=plan, f=frozen: p.stub if cur == f else cur, f"shard {rel}")
        out.append(
            {
                "file": rel,
                "parts": list(plan.parts),
                "archived": plan.archive,
                "by_size": plan.by_size,
            }
        )
    return out


def shard_all(
    control: ControlPlane, compendium: Compendium, *, max_lines: int = MAX_LINES
) -> list[dict[str, Any]]:
    """``tailguard compendium shard``: every file over ``max_lines``, then the INDEX files."""
    from tailguard.compendium.index import write_indexes
    from tailguard.compendium.tools import CompendiumWriter

    writer = CompendiumWriter(
        control=control, compendium=compendium, role="curator", goal="shard the compendium"
    )
    now = format_ts(control.clock.now())
    done = shard_files(writer, compendium, compendium.files(), now=now, max_lines=max_lines)
    if done:
        write_indexes(writer, compendium, {d["file"].split("/", 1)[0] for d in done})
    writer.finish(f"compendium: shard {len(done)} file(s)")
    return done
