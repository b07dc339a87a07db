"""A model provider that follows written rules instead of a model: for tests and offline demos.

How it answers, documented because tests and the demo rely on it:

1. The *goal* is the last ``user`` message of the conversation. Every :class:`ScriptRule`
   whose ``pattern`` (a case-insensitive regular expression) is found in the goal matches,
   in the order the rules are listed.
2. Each matching rule is one model turn: it asks for its ``calls`` (all of them in that one
   turn, so a rule with two calls is a multi-tool turn). Argument values are templates:
   ``"{zip}"`` is replaced by the pattern's named group ``zip``; a value that is exactly
   ``"{cpm:float}"`` or ``"{n:int}"`` is converted; an argument whose group did not match is
   left out. Calls to tools the role does not offer are dropped.
3. Which rules have had their turn is counted from the assistant turns after the goal, so a
   conversation resumed after an approval gate continues where it paused.
4. When every matching rule has had its turn (or none matched), the final answer is the
   rule's ``answer`` template if the last rule has one, else one line per tool result after
   the goal: ``- <tool>: <the result's "summary" field>`` (or the error for a refused call).
5. A rule with ``repeat=True`` asks for its calls on every turn: a runaway loop, for testing
   that budgets stop one.

Token usage is counted as one token per four characters of prompt and of reply, so budget
caps behave as they would with a real model; the price is ``scripted:rules`` in the table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tailguard.errors import InvalidInputError
from tailguard.roles.providers.base import ChatMessage, ModelTurn, ToolCall, ToolSpec, Usage
from tailguard.roles.providers.prices import PriceTable, load_prices

_TYPED = re.compile(r"^\{(?P<name>\w+):(?P<type>int|float)\}$")
_FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, kw_only=True, slots=True)
class ScriptedCall:
    """A tool call a rule asks for, with templated argument values."""

    tool: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class ScriptRule:
    """When ``pattern`` is found in the goal, ask for ``calls`` in one turn."""

    pattern: str
    calls: tuple[ScriptedCall, ...] = ()
    answer: str | None = None
    repeat: bool = False

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise InvalidInputError(f"bad rule pattern {self.pattern!r}: {exc}") from None


def fill_template(value: Any, groups: Mapping[str, str | None]) -> Any:
    """Substitute named groups into one argument template (see the module docstring).

    Returns :data:`_MISSING` when the template names a group that did not match.
    """
    if isinstance(value, str):
        typed = _TYPED.match(value)
        if typed:
            raw = groups.get(typed["name"])
            if raw is None:
                return _MISSING
            try:
                return int(raw) if typed["type"] == "int" else float(raw)
            except ValueError:
                return _MISSING
        names = _FIELD.findall(value)
        if any(groups.get(n) is None for n in names):
            return _MISSING
        return _FIELD.sub(lambda m: str(groups[m.group(1)]), value)
    if isinstance(value, list):
        return [fill_template(v, groups) for v in value]
    return value


_MISSING: Any = object()


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ScriptedProvider:
    """Deterministic rules from message patterns to tool calls (see the module docstring).

    Args:
        rules: the rules, tried in order.
        prices: the price table (the key is ``scripted:rules``).
    """

    def __init__(self, rules: Sequence[ScriptRule], *, prices: PriceTable | None = None) -> None:
        self._rules = tuple(rules)
        self._prices = prices or load_prices()
        self._price = self._prices.require(self.name)

    @property
    def name(self) -> str:
        """Always ``scripted:rules``."""
        return "scripted:rules"

    def complete(
        self, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelTurn:
        """The next scripted turn for this conversation."""
        goal_index = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
        goal = messages[goal_index].text if goal_index >= 0 else ""
        after = messages[goal_index + 1 :]
        turns_taken = sum(1 for m in after if m.role == "assistant" and m.tool_calls)
        offered = {t.name for t in tools}
        planned: list[tuple[ScriptRule, tuple[ToolCall, ...]]] = []
        for rule in self._rules:
            match = re.search(rule.pattern, goal, flags=re.IGNORECASE)
            if match is None:
                continue
            calls = self._calls(rule, match.groupdict(), offered, len(planned), turns_taken)
            if calls:
                planned.append((rule, calls))
        if planned and planned[-1][0].repeat and turns_taken >= len(planned) - 1:
            text, calls = "", planned[-1][1]
        elif turns_taken < len(planned):
            text, calls = "", planned[turns_taken][1]
        else:
            last = planned[-1][0] if planned else None
            text = last.answer if last and last.answer else _summarise(after)
            calls = ()
        prompt = system + json.dumps([m.to_dict() for m in messages])
        reply = text + json.dumps([{"name": c.name, "args": dict(c.arguments)} for c in calls])
        usage = Usage(input_tokens=_estimate_tokens(prompt), output_tokens=_estimate_tokens(reply))
        return ModelTurn(
            text=text,
            tool_calls=calls,
            stop_reason="tool_use" if calls else "end_turn",
            usage=usage,
            cost_usd=self._price.cost(usage),
            model="rules",
        )

    @staticmethod
    def _calls(
        rule: ScriptRule,
        groups: Mapping[str, str | None],
        offered: set[str],
        position: int,
        turns_taken: int,
    ) -> tuple[ToolCall, ...]:
        calls: list[ToolCall] = []
        for index, call in enumerate(rule.calls):
            if call.tool not in offered:
                continue
            args = {k: fill_template(v, groups) for k, v in call.args.items()}
            args = {k: v for k, v in args.items() if v is not _MISSING}
            # Ids are unique within the conversation: rule position, turn and call index.
            call_id = f"call_{position}_{turns_taken}_{index}"
            calls.append(ToolCall(id=call_id, name=call.tool, arguments=args))
        return tuple(calls)


def _summarise(after: Sequence[ChatMessage]) -> str:
    lines: list[str] = []
    for message in after:
        if message.role != "tool":
            continue
        try:
            payload = json.loads(message.text)
        except json.JSONDecodeError:
            payload = {"summary": message.text}
        if isinstance(payload, dict):
            summary = payload.get("summary") or payload.get("error") or "done"
        else:
            summary = "done"
        prefix = "error: " if message.is_error else ""
        lines.append(f"- {message.tool_name}: {prefix}{summary}")
    if not lines:
        return "I could not match that request to any of my tools."
    return "Here is what I found:\n" + "\n".join(lines)
