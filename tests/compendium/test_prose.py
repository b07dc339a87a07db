"""An LLM may word a card (through the provider interface), never change its numbers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tailguard.compendium import Compendium, curate, parse_cards
from tailguard.control import ControlPlane
from tailguard.ledger import Ledger
from tailguard.roles.prose import provider_prose
from tailguard.roles.providers import ChatMessage, ModelTurn, ToolSpec
from tailguard.roles.providers.base import Usage

from ._world import add_runs


class WordsModel:
    """A model that answers every call with the same words (and says what it was asked)."""

    def __init__(self, words: str) -> None:
        self.words = words
        self.asked: list[str] = []

    @property
    def name(self) -> str:
        """``test:words``."""
        return "test:words"

    def complete(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelTurn:
        """The words, with a usage of one token per four characters."""
        del tools
        self.asked.append(messages[-1].text)
        usage = Usage(input_tokens=(len(system) + len(messages[-1].text)) // 4, output_tokens=12)
        return ModelTurn(text=self.words, usage=usage, cost_usd=0.001)


def _runs_of(ledger: Ledger, role: str) -> list[dict[str, object]]:
    return [dict(r.fields) for r in ledger.records(kind="run") if r.fields["role"] == role]


def test_prose_is_written_under_the_numbers_and_its_tokens_are_charged_to_the_run(
    plane: ControlPlane, ledger: Ledger, tmp_path: Path
) -> None:
    """The scripted model's paragraph goes under each new card, the numbers stay the
    curator's, and the curator's run records the model's tokens."""
    add_runs(plane, "recruiter", "lookup", [70.0, 75.0, 80.0])
    words = "Use it early in the week, when the pipeline is thin."
    model = WordsModel(words)
    comp = Compendium(tmp_path / "comp")
    report = curate(plane, comp, prose=provider_prose(model))
    assert report.prose_refused == 0
    (card,) = parse_cards(comp.read("recruiter/patterns/tool-outcomes.md") or "")
    assert card.prose == words
    assert "75" not in model.asked[0]  # the model is never shown the figures
    assert card.effect.render() == "quality_score +75.00 (95% CI +69.34 to +80.66, n=3)"
    (run,) = [r for r in _runs_of(ledger, "curator") if r["status"] == "completed"]
    assert isinstance(run["total_tokens"], int)
    assert run["total_tokens"] > 0


def test_prose_with_a_digit_is_refused(plane: ControlPlane, tmp_path: Path) -> None:
    """A model that writes a number does not get its words on the card."""
    add_runs(plane, "carrier", "lookup", [70.0])
    model = WordsModel("Lifts quality by 12 points.")
    comp = Compendium(tmp_path / "comp")
    report = curate(plane, comp, prose=provider_prose(model))
    assert report.prose_refused == 1
    (card,) = parse_cards(comp.read("carrier/patterns/tool-outcomes.md") or "")
    assert card.prose == ""
