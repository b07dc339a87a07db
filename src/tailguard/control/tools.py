"""The one tool interface: a name, a JSON schema for its arguments, a handler and a policy.

Every governed action is a :class:`Tool` in a :class:`ToolRegistry`. A tool cannot be
registered without a :class:`~tailguard.control.policy.Policy` (given with the tool or loaded
into the registry beforehand), and its argument schema is checked at registration, so a broken
tool is refused before it can ever be called.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import jsonschema_rs
from jsonschema.exceptions import SchemaError
from jsonschema.validators import Draft202012Validator

from tailguard.control.policy import Policy, policy_table
from tailguard.errors import ConflictError, InvalidInputError, NotFoundError, PolicyError


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value``: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def args_hash(args: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a call's arguments."""
    return hashlib.sha256(canonical_json(dict(args)).encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    """Tokens and money spent by a model or tool call."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def __post_init__(self) -> None:
        if self.input_tokens < 0 or self.output_tokens < 0:
            raise InvalidInputError("token counts cannot be negative")
        if not math.isfinite(self.cost_usd) or self.cost_usd < 0:
            raise InvalidInputError("cost_usd must be a finite non-negative number")

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolOutput:
    """What a handler may return instead of a bare value, to report usage or a summary.

    Attributes:
        value: the result handed back to the caller.
        usage: tokens and money the tool spent (counted against the run's budget).
        summary: the ledger's ``result_summary``; by default only the result's shape is
            recorded (never its content, which may be personal data).
    """

    value: Any
    usage: Usage = field(default_factory=Usage)
    summary: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Compensation:
    """What a compensating (rollback) tool is told about the step it undoes."""

    step_id: str
    tool_name: str
    args: Mapping[str, Any]
    result: Any


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolContext:
    """What a handler knows about the call it serves.

    Attributes:
        run_id: the run the call belongs to.
        step_id: this step's id.
        role: the agent role of the run.
        initiator_id: who started the run.
        requester_id: the user on whose behalf the call is made.
        idempotency_key: stable across retries and resumption; pass it on to downstream
            systems so a side effect is applied at most once.
        gate_id: the approval gate the call passed, if any.
        compensates: set when this call rolls back an earlier step.
    """

    run_id: str
    step_id: str
    role: str
    initiator_id: str
    requester_id: str
    idempotency_key: str
    gate_id: str | None = None
    compensates: Compensation | None = None


Handler = Callable[[Mapping[str, Any], ToolContext], Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class Tool:
    """A governed tool.

    Attributes:
        name: unique name (what models and people call it).
        description: one or two sentences shown to models and operators.
        parameters: JSON Schema (draft 2020-12) of the arguments object.
        handler: ``handler(args, ctx)``; returns a JSON-ready value or a :class:`ToolOutput`.
        policy: the governance of the tool; None only when the registry holds one for it.
    """

    name: str
    description: str
    parameters: Mapping[str, Any]
    handler: Handler
    policy: Policy | None = None


#: Keywords whose meaning the Python and Rust validators implement differently.
_DIVERGENT = frozenset({"format", "pattern", "patternProperties", "multipleOf"})


def _keywords(schema: Any) -> set[str]:
    """Every key used anywhere in a JSON schema (nested schemas and property names too)."""
    found: set[str] = set()
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, Mapping):
            found.update(str(k) for k in node)
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


class ArgsValidator:
    """A tool's compiled argument schema: Draft 2020-12 with format checks.

    Every governed call is validated, so this is on the hot path of the hourly tick (the
    pure-Python validator took ~0.2 ms a call, a tenth of the tick). A schema without
    the keywords where the two implementations are known to differ is first checked by the
    Rust validator (``jsonschema_rs``); arguments it accepts pass, anything it refuses goes to
    the Python validator, whose error (the best match) is the one reported, so messages do not
    depend on the fast path. Schemas with ``format`` (format checkers differ), ``pattern`` or
    ``patternProperties`` (ECMA-262 against Python regular expressions: ``\\s``, ``\\Z``) or
    ``multipleOf`` (exact decimals against floating point: 0.07 is a multiple of 0.01 for one
    and not the other), and any schema the Rust validator cannot compile, go to the Python
    validator only. A property test holds the two to the same verdicts on the tool schemas.
    """

    __slots__ = ("fast", "full")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.full = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        self.fast: Any = None
        if not _DIVERGENT.intersection(_keywords(schema)):
            try:
                self.fast = jsonschema_rs.Draft202012Validator(schema, validate_formats=False)
            except (jsonschema_rs.ValidationError, ValueError):
                self.fast = None  # a schema only the Python validator compiles: it alone checks

    def best_error(self, instance: Any) -> jsonschema.ValidationError | None:
        """The most relevant schema violation of ``instance``, or None when it is valid."""
        if self.fast is not None and self.fast.is_valid(instance):
            return None
        error: jsonschema.ValidationError | None = jsonschema.exceptions.best_match(
            self.full.iter_errors(instance)
        )
        return error


@dataclass(frozen=True, kw_only=True, slots=True)
class _Entry:
    tool: Tool
    policy: Policy
    validator: ArgsValidator


class ToolRegistry:
    """The tools an agent may call, each with a policy and a checked argument schema.

    Args:
        policies: policies by tool name (from code or :func:`load_policies`); a tool registered
            without its own policy takes the one named here.
    """

    def __init__(self, policies: Mapping[str, Policy] | None = None) -> None:
        self._policies: dict[str, Policy] = dict(policies or {})
        self._entries: dict[str, _Entry] = {}

    def register(self, tool: Tool, *, replace: bool = False) -> Tool:
        """Add a tool.

        Raises:
            PolicyError: the tool has no policy, a bad name or a bad argument schema.
            ConflictError: a tool of that name exists and ``replace`` is false.
        """
        if not tool.name or not tool.name.strip():
            raise PolicyError("a tool needs a non-empty name")
        policy = tool.policy or self._policies.get(tool.name)
        if policy is None:
            raise PolicyError(f"tool {tool.name!r} has no policy; refusing to register it")
        if tool.name in self._entries and not replace:
            raise ConflictError(f"tool {tool.name!r} is already registered")
        schema = dict(tool.parameters)
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise PolicyError(f"tool {tool.name!r}: bad argument schema: {exc.message}") from None
        if schema.get("type", "object") != "object":
            raise PolicyError(f"tool {tool.name!r}: the argument schema must describe an object")
        missing = [f for f in policy.audit_fields if f not in schema.get("properties", {})]
        if missing and schema.get("additionalProperties") is False:
            raise PolicyError(f"tool {tool.name!r}: audit fields {missing} are not arguments")
        self._entries[tool.name] = _Entry(
            tool=tool,
            policy=policy,
            validator=ArgsValidator(schema),
        )
        return tool

    def tool(self, name: str) -> Tool:
        """The tool called ``name``.

        Raises:
            NotFoundError: no such tool.
        """
        return self._entry(name).tool

    def policy(self, name: str) -> Policy:
        """The policy in force for tool ``name``.

        Raises:
            NotFoundError: no such tool.
        """
        return self._entry(name).policy

    def validate(self, name: str, args: Any) -> dict[str, Any]:
        """Check ``args`` against the tool's schema and return them as a plain dict.

        Raises:
            NotFoundError: no such tool.
            InvalidInputError: the arguments break the schema or are not JSON.
        """
        entry = self._entry(name)
        return validate_args(entry.validator, name, args)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Tool]:
        return iter(entry.tool for entry in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """The registered tool names, sorted."""
        return sorted(self._entries)

    def policy_table(self) -> list[dict[str, Any]]:
        """One row per registered tool: tool, risk level, approval, rate limit, rollback, ..."""
        return policy_table((name, entry.policy) for name, entry in self._entries.items())

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise NotFoundError(f"unknown tool {name!r}") from None


def validate_args(validator: ArgsValidator, name: str, args: Any) -> dict[str, Any]:
    """Validate a call's arguments with a compiled validator (see :meth:`ToolRegistry.validate`)."""
    if not isinstance(args, Mapping):
        raise InvalidInputError(f"{name}: arguments must be an object, not {type(args).__name__}")
    plain = dict(args)
    try:
        # Round-trip through canonical JSON so only JSON values (no NaN, no objects) pass, and
        # the handler sees exactly what was hashed into the ledger.
        plain = dict(json.loads(canonical_json(plain)))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name}: arguments are not JSON: {exc}") from None
    error = validator.best_error(plain)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise InvalidInputError(
            f"{name}: invalid arguments at {where}: {error.message}",
            details={"tool": name, "path": where},
        )
    return plain
