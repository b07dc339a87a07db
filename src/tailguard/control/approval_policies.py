"""Delegated approval policies: the file an admin writes, and what one policy covers.

People cannot read 1,500 gates a day. An admin writes approval policies instead, each a rule
such as "apology credits of up to $25 a customer and $500 an area-day are approved by policy;
5 % of them go to a person for review". A gate the rule covers is decided by the policy's own
identity (``policy:<name>@v<version>``, never the requester), recorded like a person's
decision; anything outside it waits for a person. The decider is :mod:`.delegation`.

The file (YAML)::

    approval_policies:
      - name: apology-credits
        description: Small apology credits are routine.
        tools: [send_apology_credit]
        limits:                        # every limit must hold, else a person decides
          - {arg: amount_usd, max: 25}
          - {arg: customer_ids, max_items: 5}
        spend: {arg: amount_usd, per_item_of: customer_ids}   # dollars one call commits
        caps: {area_day_usd: 500}      # policy-approved spend per area and UTC day
        sample_pct: 5                  # share of covered gates a person reviews instead

A refused file names its file, line and reason (:class:`~tailguard.errors.ConfigFileError`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tailguard.errors import ConfigFileError
from tailguard.yamlfile import parse_yaml, pydantic_error

#: The identity prefix of a policy's decisions; API key names cannot contain ``:``.
POLICY_PREFIX = "policy:"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class _Limit(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    arg: str = Field(min_length=1, max_length=128)
    max: float | int | None = None
    max_items: int | None = Field(default=None, ge=0)
    one_of: list[str | int | float] | None = Field(default=None, min_length=1)


class _Spend(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    arg: str = Field(min_length=1, max_length=128)
    per_item_of: str | None = Field(default=None, min_length=1, max_length=128)


class _Caps(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    area_day_usd: float | int | None = Field(default=None, gt=0)
    day_usd: float | int | None = Field(default=None, gt=0)


class _PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    description: str = Field(default="", max_length=500)
    tools: list[str] = Field(min_length=1)
    limits: list[_Limit] = Field(default_factory=list)
    spend: _Spend | None = None
    caps: _Caps | None = None
    sample_pct: float | int = Field(default=0, ge=0, le=100)


class _FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    approval_policies: list[_PolicySpec]


@dataclass(frozen=True, kw_only=True, slots=True)
class Limit:
    """One bound on a call's argument: a maximum, a maximum count of items, or allowed values."""

    arg: str
    max: float | None = None
    max_items: int | None = None
    one_of: tuple[str | int | float, ...] | None = None

    def breach(self, args: Mapping[str, Any]) -> str | None:
        """Why ``args`` break this limit, or None when they keep it."""
        if self.arg not in args:
            return f"{self.arg} is missing"
        value = args[self.arg]
        if self.max is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"{self.arg} is not a number"
            if not math.isfinite(value) or value > self.max:
                return f"{self.arg} {value:g} is over {self.max:g}"
        if self.max_items is not None:
            if not isinstance(value, list | tuple):
                return f"{self.arg} is not a list"
            if len(value) > self.max_items:
                return f"{self.arg} has {len(value)} items, over {self.max_items}"
        if self.one_of is not None and value not in self.one_of:
            return f"{self.arg} {value!r} is not one of {list(self.one_of)}"
        return None

    def text(self) -> str:
        """The limit in plain words."""
        if self.max is not None:
            return f"{self.arg} at most {self.max:g}"
        if self.max_items is not None:
            return f"{self.arg} at most {self.max_items} items"
        return f"{self.arg} one of {list(self.one_of or ())}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalPolicy:
    """One delegated approval policy, as parsed (its version comes from the ledger).

    Attributes:
        name: lower-case letters, digits and dashes; unique in a file.
        description: what it is for, in the admin's words.
        tools: the gated tools it covers (a tool belongs to at most one policy).
        limits: bounds every covered call keeps.
        spend_arg, spend_per_item_of: a call's spend is ``args[spend_arg]``, times the number
            of items of ``args[spend_per_item_of]`` when set.
        area_day_usd, day_usd: caps on the spend this policy approves per area and UTC day,
            and per UTC day over all areas.
        sample_pct: the share (0..100) of covered gates sent to a person for review.
    """

    name: str
    description: str = ""
    tools: tuple[str, ...]
    limits: tuple[Limit, ...] = ()
    spend_arg: str | None = None
    spend_per_item_of: str | None = None
    area_day_usd: float | None = None
    day_usd: float | None = None
    sample_pct: float = 0.0

    def rule(self) -> dict[str, Any]:
        """The rule as plain JSON (what the ledger records and the version's hash covers)."""
        return {
            "name": self.name,
            "description": self.description,
            "tools": list(self.tools),
            "limits": [
                {
                    k: v
                    for k, v in (
                        ("arg", lim.arg),
                        ("max", lim.max),
                        ("max_items", lim.max_items),
                        ("one_of", None if lim.one_of is None else list(lim.one_of)),
                    )
                    if v is not None
                }
                for lim in self.limits
            ],
            "spend": None
            if self.spend_arg is None
            else {"arg": self.spend_arg, "per_item_of": self.spend_per_item_of},
            "caps": {"area_day_usd": self.area_day_usd, "day_usd": self.day_usd},
            "sample_pct": self.sample_pct,
        }

    def digest(self) -> str:
        """SHA-256 of the rule's canonical JSON: a new digest is a new version."""
        text = json.dumps(self.rule(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def spend(self, args: Mapping[str, Any]) -> float | None:
        """Dollars the call commits (None: it has no readable spend)."""
        if self.spend_arg is None:
            return 0.0
        value = args.get(self.spend_arg)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(value) or value < 0:
            return None
        if self.spend_per_item_of is None:
            return float(value)
        items = args.get(self.spend_per_item_of)
        if not isinstance(items, list | tuple):
            return None
        return float(value) * len(items)

    def summary(self) -> str:
        """The rule in one line of plain words."""
        parts = [", ".join(lim.text() for lim in self.limits)] if self.limits else []
        if self.area_day_usd is not None:
            parts.append(f"${self.area_day_usd:,.0f} per area-day")
        if self.day_usd is not None:
            parts.append(f"${self.day_usd:,.0f} per day")
        if self.sample_pct:
            parts.append(f"{self.sample_pct:g} % sampled for review")
        return f"{', '.join(self.tools)}: " + ("; ".join(parts) or "every call")


def _policy(spec: _PolicySpec, index: int, lines: Any, file: str) -> ApprovalPolicy:
    base: tuple[str | int, ...] = ("approval_policies", index)

    def fail(key: tuple[str | int, ...], reason: str) -> ConfigFileError:
        return ConfigFileError(file, lines.nearest((*base, *key)), f"{spec.name}: {reason}")

    if not _NAME_RE.match(spec.name):
        raise ConfigFileError(
            file,
            lines.nearest((*base, "name")),
            f"policy name {spec.name!r} must be lower-case letters, digits and dashes",
        )
    if len(set(spec.tools)) != len(spec.tools) or any(not t for t in spec.tools):
        raise fail(("tools",), "tools must be distinct, non-empty names")
    limits: list[Limit] = []
    for i, lim in enumerate(spec.limits):
        kinds = [k for k in ("max", "max_items", "one_of") if getattr(lim, k) is not None]
        if len(kinds) != 1:
            raise fail(("limits", i), "a limit has exactly one of max, max_items, one_of")
        if lim.max is not None and (not math.isfinite(lim.max) or lim.max < 0):
            raise fail(("limits", i, "max"), "max must be a finite number >= 0")
        limits.append(
            Limit(
                arg=lim.arg,
                max=None if lim.max is None else float(lim.max),
                max_items=lim.max_items,
                one_of=None if lim.one_of is None else tuple(lim.one_of),
            )
        )
    caps = spec.caps or _Caps()
    for key in ("area_day_usd", "day_usd"):
        cap = getattr(caps, key)
        if cap is not None and not math.isfinite(cap):
            raise fail(("caps", key), f"{key} must be a finite number")
    if (caps.area_day_usd is not None or caps.day_usd is not None) and spec.spend is None:
        raise fail(("caps",), "caps need a spend (which argument holds the dollars)")
    return ApprovalPolicy(
        name=spec.name,
        description=spec.description,
        tools=tuple(spec.tools),
        limits=tuple(limits),
        spend_arg=spec.spend.arg if spec.spend else None,
        spend_per_item_of=spec.spend.per_item_of if spec.spend else None,
        area_day_usd=None if caps.area_day_usd is None else float(caps.area_day_usd),
        day_usd=None if caps.day_usd is None else float(caps.day_usd),
        sample_pct=float(spec.sample_pct),
    )


def parse_approval_policies(
    text: str,
    file: str = "<approval policies>",
    *,
    tools: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> list[ApprovalPolicy]:
    """Parse an approval-policy file.

    Args:
        text: the YAML (see the module docstring).
        file: its name, for error messages.
        tools: gated tool name -> its arguments' JSON Schema (None: not known here); when
            given, every policy's tools must be among them and every argument it names must be
            one of the tool's (where its schema is known).

    Raises:
        ConfigFileError: anything wrong, with file, line and reason.
    """
    data, lines = parse_yaml(text, file, what="approval-policy file")
    if not isinstance(data, dict):
        raise ConfigFileError(file, 1, "the file must be a mapping with approval_policies")
    try:
        spec = _FileSpec.model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(exc, lines, file) from None
    policies: list[ApprovalPolicy] = []
    owner: dict[str, str] = {}
    for index, item in enumerate(spec.approval_policies):
        policy = _policy(item, index, lines, file)
        where = lines.nearest(("approval_policies", index, "name"))
        if any(p.name == policy.name for p in policies):
            raise ConfigFileError(file, where, f"policy {policy.name!r} is defined twice")
        for t, tool in enumerate(policy.tools):
            line = lines.nearest(("approval_policies", index, "tools", t))
            if tool in owner:
                raise ConfigFileError(
                    file, line, f"{policy.name}: tool {tool!r} is already covered by {owner[tool]}"
                )
            owner[tool] = policy.name
            if tools is not None:
                _check_tool(policy, tool, tools, file, line)
        policies.append(policy)
    return policies


def _check_tool(
    policy: ApprovalPolicy,
    tool: str,
    tools: Mapping[str, Mapping[str, Any] | None],
    file: str,
    line: int | None,
) -> None:
    if tool not in tools:
        known = ", ".join(sorted(tools)) or "none"
        raise ConfigFileError(
            file, line, f"{policy.name}: {tool!r} is not a gated tool (gated tools: {known})"
        )
    schema = tools[tool]
    if schema is None:
        return
    props = schema.get("properties", {})
    named = [lim.arg for lim in policy.limits]
    named += [a for a in (policy.spend_arg, policy.spend_per_item_of) if a is not None]
    for arg in named:
        if arg not in props:
            raise ConfigFileError(
                file, line, f"{policy.name}: {tool} has no argument {arg!r} ({', '.join(props)})"
            )


def load_approval_policies(
    path: str | Path, *, tools: Mapping[str, Mapping[str, Any] | None] | None = None
) -> list[ApprovalPolicy]:
    """Read and parse an approval-policy file (see :func:`parse_approval_policies`).

    Raises:
        ConfigFileError: the file cannot be read or is refused.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(str(p), None, f"cannot read the file: {exc}") from None
    return parse_approval_policies(text, str(p), tools=tools)


def gated_tool_schemas(
    registry: Any, policies: Mapping[str, Any] | None = None
) -> dict[str, Mapping[str, Any] | None]:
    """Tool name -> arguments' JSON Schema of the registry's tools that need approval, plus
    (schema unknown: None) the gated tools of a policy table with no handler here."""
    out: dict[str, Mapping[str, Any] | None] = {}
    for name, policy in (policies or {}).items():
        if policy.requires_approval:
            out[name] = None
    for name in registry.names():
        if registry.policy(name).requires_approval:
            out[name] = registry.tool(name).parameters
    return out
