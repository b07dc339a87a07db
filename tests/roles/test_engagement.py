"""The evaluator's engagement signal: the next message in a conversation re-scores the last run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tailguard.clock import FakeClock
from tailguard.control.engagement import record_engagement
from tailguard.errors import InvalidInputError, NotFoundError
from tailguard.roles.session import ChatStack


def _outcome(chat: ChatStack, run_id: str) -> dict[str, object]:
    found = [dict(r.fields) for r in chat.ledger.records(kind="outcome", run_id=run_id)]
    assert found
    return found[-1]


def test_a_next_message_within_the_window_adds_the_follow_up_bonus(
    chat: ChatStack, clock: FakeClock
) -> None:
    """The driver asks again ten minutes later: the first run's outcome is re-scored +20
    (same outcome id), an engagement record says why, and the second run is left alone."""
    first = chat.agent.send(
        role="driver", user_id="drv-0001", message="Find carriers near 75001 paying over $0.55 CPM"
    )
    before = _outcome(chat, first.run_id)
    clock.advance(600)
    second = chat.agent.send(
        role="driver",
        user_id="drv-0001",
        message="Find carriers near 75001 paying over $0.60 CPM",
        conversation_id=first.conversation_id,
    )
    after = _outcome(chat, first.run_id)
    assert after["outcome_id"] == before["outcome_id"]
    assert float(after["quality_score"]) == min(100.0, float(before["quality_score"]) + 20.0)  # type: ignore[arg-type]
    [engaged] = [r.fields for r in chat.ledger.records(kind="engagement", run_id=first.run_id)]
    assert (engaged["signal"], engaged["by"]) == ("next_message", "drv-0001")
    assert not list(chat.ledger.records(kind="engagement", run_id=second.run_id))
    # A second signal is recorded but does not add the bonus twice.
    assert record_engagement(chat.control, first.run_id, signal="result_action") is None
    assert _outcome(chat, first.run_id)["quality_score"] == after["quality_score"]


def test_a_return_after_the_window_changes_nothing(chat: ChatStack, clock: FakeClock) -> None:
    """Two days later the user is not engaging with that run: no record, no new score."""
    first = chat.agent.send(
        role="driver", user_id="drv-0001", message="Find carriers near 75001 paying over $0.55 CPM"
    )
    before = _outcome(chat, first.run_id)
    clock.advance(timedelta(days=2).total_seconds())
    chat.agent.send(
        role="driver",
        user_id="drv-0001",
        message="Find carriers near 75001 paying over $0.55 CPM",
        conversation_id=first.conversation_id,
    )
    assert _outcome(chat, first.run_id) == before
    assert not list(chat.ledger.records(kind="engagement", run_id=first.run_id))


def test_bad_signals_and_unknown_runs_are_refused(chat: ChatStack) -> None:
    """An unknown signal or run is a typed error."""
    with pytest.raises(NotFoundError):
        record_engagement(chat.control, "run-nope", signal="next_message")
    first = chat.agent.send(
        role="driver", user_id="drv-0001", message="Find carriers near 75001 paying over $0.55 CPM"
    )
    with pytest.raises(InvalidInputError):
        record_engagement(chat.control, first.run_id, signal="clicked")
