"""The scripted model understands the ordinary ways people ask to message a candidate, and
never addresses a message to a word that is not a candidate's name."""

from __future__ import annotations

import pytest

from tailguard.roles.providers import ChatMessage, ScriptedProvider, ToolSpec
from tailguard.roles.recruiting.script import RECRUITING_RULES
from tailguard.roles.recruiting.seed_data import FIRST

TOOLS = [
    ToolSpec(name=n, description=n, parameters={"type": "object"})
    for n in sorted({call.tool for rule in RECRUITING_RULES for call in rule.calls})
]
#: The seeded drivers' first names (John Davis, R-001's candidate, is set apart from the list).
CANDIDATE_NAMES = {name.lower() for name in FIRST} | {"john"}


def _calls(message: str) -> list[tuple[str, dict[str, object]]]:
    turn = ScriptedProvider(RECRUITING_RULES).complete(
        "sys", [ChatMessage(role="user", text=message)], TOOLS
    )
    return [(c.name, dict(c.arguments)) for c in turn.tool_calls]


@pytest.mark.parametrize(
    ("message", "content"),
    [
        ('Message John: "Are you free Friday?"', "Are you free Friday?"),
        ("Message John: are you free Friday?", "are you free Friday?"),
        ('Message John saying "Are you free for a call at 10?"', "Are you free for a call at 10?"),
        ("Message John that we have a Dallas opening", "we have a Dallas opening"),
        ("message john, call me back", "call me back"),
        ("Text John: running late", "running late"),
        ("Please message John: the offer is ready", "the offer is ready"),
        ("Send John a message: Are you free Friday?", "Are you free Friday?"),
        ("Send John a text saying we start Monday", "we start Monday"),
        ("Send John a message that the job is his", "the job is his"),
        ("Send a message to John: Are you free Friday?", "Are you free Friday?"),
        ("send a message to John saying hello", "hello"),
        ("Send a text to John: see you at 9", "see you at 9"),
        ("Write to John: your paperwork is in", "your paperwork is in"),
        ("Tell John that the interview moved to 3pm", "the interview moved to 3pm"),
        ("Let John know that we got his license", "we got his license"),
    ],
)
def test_ordinary_phrasings_message_the_named_candidate(message: str, content: str) -> None:
    """Each phrasing becomes one send_message to John with the text after the name."""
    [(tool, args)] = _calls(message)
    assert tool == "send_message"
    assert str(args["candidate"]).lower() == "john"
    assert args["content"] == content


@pytest.mark.parametrize(
    "message",
    [
        "Send a message to the team: standup at 9",
        "Send a message to everyone: office closed",
        "Message them all: new lanes open",
        "Text me later",
        "Tell me about my pipeline",
        "Send him a message: hi",
        "Let us know the market",
        "Send a message",
        "Message John",
        "Write to all drivers: safety week",
    ],
)
def test_no_message_goes_to_a_word_that_is_not_a_name(message: str) -> None:
    """A phrasing without a candidate's name asks for no send_message at all."""
    assert [args for name, args in _calls(message) if name == "send_message"] == []


@pytest.mark.parametrize(
    "message",
    [
        "Send a message to John: hi",
        "Send John a message: hi",
        "Message John that hi",
        "Tell Maria that hi",
        "Message D-0008: hi",
        "send a note to Carlos: hi",
    ],
)
def test_every_addressee_is_a_candidate_name_or_driver_id(message: str) -> None:
    """Whatever the phrasing, the addressee is a seeded first name or a driver id."""
    sent = [args for name, args in _calls(message) if name == "send_message"]
    assert len(sent) == 1
    addressee = str(sent[0]["candidate"])
    assert addressee.lower() in CANDIDATE_NAMES or addressee.startswith("D-")
