"""The scripted provider follows its documented rules."""

from __future__ import annotations

import json

from tailguard.roles.providers import (
    ChatMessage,
    ScriptedCall,
    ScriptedProvider,
    ScriptRule,
    ToolSpec,
)

TOOLS = [
    ToolSpec(name=n, description=n, parameters={"type": "object"})
    for n in ("find_matches", "get_pipeline", "update_candidate_status")
]
RULES = [
    ScriptRule(
        pattern=r"near (?P<zip>\d{5})(?:.*?\$(?P<cpm>\d*\.\d+))?",
        calls=(ScriptedCall(tool="find_matches", args={"zip": "{zip}", "min_cpm": "{cpm:float}"}),),
    ),
    ScriptRule(pattern=r"pipeline", calls=(ScriptedCall(tool="get_pipeline"),)),
    ScriptRule(
        pattern=r"update (?P<name>\w+) to (?P<stage>\w+)",
        calls=(
            ScriptedCall(
                tool="update_candidate_status", args={"candidate": "{name}", "status": "{stage}"}
            ),
        ),
    ),
    ScriptRule(pattern=r"forever", calls=(ScriptedCall(tool="get_pipeline"),), repeat=True),
]


def _reply(history: list[ChatMessage]) -> ChatMessage:
    turn = ScriptedProvider(RULES).complete("sys", history, TOOLS)
    return ChatMessage(role="assistant", text=turn.text, tool_calls=turn.tool_calls)


def _results(call_msg: ChatMessage) -> list[ChatMessage]:
    return [
        ChatMessage(
            role="tool",
            text=json.dumps({"summary": f"{c.name} ok"}),
            tool_call_id=c.id,
            tool_name=c.name,
        )
        for c in call_msg.tool_calls
    ]


def test_named_groups_fill_typed_arguments() -> None:
    """Pattern groups become arguments, with {cpm:float} converted to a number."""
    turn = ScriptedProvider(RULES).complete(
        "sys",
        [ChatMessage(role="user", text="Find carriers near 75001 paying over $0.55 CPM")],
        TOOLS,
    )
    assert turn.stop_reason == "tool_use"
    assert dict(turn.tool_calls[0].arguments) == {"zip": "75001", "min_cpm": 0.55}
    assert turn.usage.input_tokens > 0
    assert turn.cost_usd == 0


def test_unmatched_optional_group_leaves_the_argument_out() -> None:
    """An argument whose group did not match is omitted."""
    turn = ScriptedProvider(RULES).complete(
        "sys", [ChatMessage(role="user", text="jobs near 75001")], TOOLS
    )
    assert dict(turn.tool_calls[0].arguments) == {"zip": "75001"}


def test_each_matching_rule_takes_one_turn_then_a_summary_answer() -> None:
    """Two matching rules give two tool turns, then a final answer from the results."""
    history = [ChatMessage(role="user", text="Show my pipeline and update John to interview stage")]
    first = _reply(history)
    assert [c.name for c in first.tool_calls] == ["get_pipeline"]
    history += [first, *_results(first)]
    second = _reply(history)
    assert [c.name for c in second.tool_calls] == ["update_candidate_status"]
    assert dict(second.tool_calls[0].arguments) == {"candidate": "John", "status": "interview"}
    history += [second, *_results(second)]
    final = _reply(history)
    assert final.tool_calls == ()
    assert "- get_pipeline: get_pipeline ok" in final.text
    assert "- update_candidate_status: update_candidate_status ok" in final.text


def test_tools_the_role_lacks_are_never_called() -> None:
    """A rule naming a tool the role does not offer produces no call."""
    turn = ScriptedProvider(RULES).complete(
        "sys", [ChatMessage(role="user", text="show pipeline")], TOOLS[:1]
    )
    assert turn.tool_calls == ()
    assert "could not match" in turn.text


def test_repeat_rule_calls_on_every_turn() -> None:
    """A repeat rule never reaches a final answer on its own."""
    history = [ChatMessage(role="user", text="loop forever")]
    for _ in range(4):
        reply = _reply(history)
        assert reply.tool_calls
        history += [reply, *_results(reply)]
    ids = [m.tool_calls[0].id for m in history if m.role == "assistant"]
    assert len(set(ids)) == len(ids)
