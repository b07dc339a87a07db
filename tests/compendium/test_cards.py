"""The card format: render and parse agree; a broken hand edit is named and left untouched."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.compendium import Card, CardFormatError, Compendium, Effect, curate, parse_cards
from tailguard.compendium.cards import render_cards
from tailguard.control import ControlPlane

from ._world import add_runs

_words = st.text(alphabet=string.ascii_letters + string.digits + " _-", min_size=1, max_size=40)
_ids = st.text(alphabet=string.ascii_lowercase + string.digits + "-_/", min_size=1, max_size=30)
_num = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: round(x, 2))


@st.composite
def cards(draw: st.DrawFn) -> Card:
    a, b, c = sorted([draw(_num), draw(_num), draw(_num)])
    ev = tuple(
        draw(st.lists(st.from_regex(r"[a-z]{3,6}-[0-9a-f]{4,10}", fullmatch=True), max_size=5))
    )
    return Card(
        card_id=draw(_ids),
        title=draw(_words).strip() or "t",
        status=draw(st.sampled_from(["proven", "suspected", "retired"])),
        context=draw(_words),
        effect=Effect(measure="quality_score", mean=b, lo=a, hi=c, n=draw(st.integers(0, 10**6))),
        evidence=ev,
        evidence_total=len(ev) + draw(st.integers(0, 50)),
        last_updated="2026-01-05T00:00:00Z",
        prose=draw(st.sampled_from(["", "Works best early in the week."])),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(cards(), max_size=4, unique_by=lambda c: c.card_id))
def test_rendered_cards_parse_back_to_the_same_numbers(drawn: list[Card]) -> None:
    """Whatever the values, parse(render(cards)) gives the same ids, statuses and lines."""
    text = render_cards("Patterns", "intro", drawn)
    parsed = parse_cards(text, "x.md")
    assert [c.card_id for c in parsed] == [c.card_id for c in drawn]
    assert [c.numbers() for c in parsed] == [c.numbers() for c in drawn]
    assert [c.prose for c in parsed] == [c.prose for c in drawn]


@settings(max_examples=300, deadline=None)
@given(cards(), st.integers(0, 8), st.text(max_size=30))
def test_any_edit_of_a_card_line_parses_or_names_its_file_and_line(
    card: Card, line: int, junk: str
) -> None:
    """Replacing one line of a card with anything either still parses or raises
    CardFormatError naming the file and a line of the card, never another error."""
    lines = render_cards("P", "", [card]).splitlines()
    target = 2 + min(line, len(lines) - 3)
    lines[target] = junk.replace("\n", " ").replace("\r", " ")
    error: CardFormatError | None = None
    try:
        parse_cards("\n".join(lines) + "\n", "dept/patterns/p.md")
    except CardFormatError as exc:
        error = exc
    if error is not None:
        assert error.path == "dept/patterns/p.md"
        assert 1 <= error.line <= len(lines) + 1
        assert str(error).startswith(f"dept/patterns/p.md:{error.line}: ")


def test_a_broken_hand_edit_is_reported_with_file_and_line_and_left_untouched(
    plane: ControlPlane, tmp_path: Path
) -> None:
    """Someone breaks the effect line of a card; the next curation reports the file and line,
    does not rewrite that file, and still writes the other departments."""
    comp = Compendium(tmp_path / "comp")
    add_runs(plane, "driver", "lookup", [70.0, 75.0])
    curate(plane, comp)
    rel = "driver/patterns/tool-outcomes.md"
    text = comp.read(rel) or ""
    lines = text.splitlines(keepends=True)
    k = next(i for i, line in enumerate(lines) if line.startswith("- effect:"))
    lines[k] = "- effect: pretty good\n"
    broken = "".join(lines)
    comp.path(rel).write_text(broken)
    add_runs(plane, "driver", "lookup", [20.0])
    add_runs(plane, "carrier", "lookup", [66.0])
    report = curate(plane, comp)
    assert report.problems == [
        {"file": rel, "line": k + 1, "reason": pytest.approx(report.problems[0]["reason"])}
    ]
    assert "effect must read" in report.problems[0]["reason"]
    assert comp.read(rel) == broken
    assert "carrier/patterns/tool-outcomes.md" in report.files_changed
    assert f"{rel}:{k + 1}" in (comp.read("admin/metrics/weekly-summary.md") or "")
