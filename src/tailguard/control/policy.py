"""Tool policies: what a tool may do, who must approve it, how often, and how to undo it.

A :class:`Policy` is a plain frozen record. Policies come from code or from a YAML file; the file
is validated with pydantic at the edge and every problem is reported with the file, the line and
the reason (:class:`~tailguard.errors.ConfigFileError`).

The YAML shape::

    tools:
      send_message:
        risk_level: execute_high
        requires_approval: true
        rate_limit: 10            # calls per minute per user; null = unlimited
        success_metric: message_delivered && recipient_responded_within_48h
        rollback_strategy: null   # the name of a compensating tool, or null
        audit_fields: [receiverId, content]
        idempotent: false
        approval_timeout: 3600    # seconds a gate stays open; null = never times out
        roles: [recruiter]        # roles allowed to call it; omitted = every role
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from tailguard.errors import ConfigFileError, PolicyError


class RiskLevel(enum.StrEnum):
    """How much harm a tool can do, in increasing order."""

    READ = "read"
    SUGGEST = "suggest"
    EXECUTE_LOW = "execute_low"
    EXECUTE_HIGH = "execute_high"

    @property
    def rank(self) -> int:
        """The position of this level, 0 for ``read`` up to 3 for ``execute_high``."""
        return list(RiskLevel).index(self)


DEFAULT_APPROVAL_TIMEOUT_S = 3600.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Policy:
    """The governance attached to one tool.

    Attributes:
        risk_level: read, suggest, execute_low or execute_high.
        requires_approval: the call waits at an approval gate until a person decides.
        rate_limit: calls per minute per user; None means unlimited.
        success_metric: how the tool's success is judged (free text, shown to operators).
        rollback_strategy: the name of a compensating tool, or None when it cannot be undone.
        audit_fields: argument fields copied into the ledger in clear; all others are hashed.
        idempotent: the tool may safely run again with the same arguments (so it is retried).
        approval_timeout: seconds a gate stays open before it times out; None never times out.
        roles: the roles allowed to call the tool; None allows every role.
    """

    risk_level: RiskLevel
    requires_approval: bool = False
    rate_limit: int | None = None
    success_metric: str | None = None
    rollback_strategy: str | None = None
    audit_fields: tuple[str, ...] = ()
    idempotent: bool = False
    approval_timeout: float | None = DEFAULT_APPROVAL_TIMEOUT_S
    roles: frozenset[str] | None = field(default=None)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "risk_level", RiskLevel(self.risk_level))
        except ValueError:
            raise PolicyError(f"unknown risk level {self.risk_level!r}") from None
        if self.rate_limit is not None and self.rate_limit < 1:
            raise PolicyError("rate_limit must be at least 1 call per minute, or None")
        if self.approval_timeout is not None and self.approval_timeout <= 0:
            raise PolicyError("approval_timeout must be positive, or None")
        # The product's rule: every high-risk action is approval-gated, zero bypasses. A policy
        # that says otherwise is a configuration mistake, refused rather than obeyed.
        if self.risk_level is RiskLevel.EXECUTE_HIGH and not self.requires_approval:
            raise PolicyError("an execute_high tool must have requires_approval: true")
        object.__setattr__(self, "audit_fields", tuple(self.audit_fields))
        if self.roles is not None:
            object.__setattr__(self, "roles", frozenset(self.roles))

    def to_dict(self) -> dict[str, Any]:
        """The policy as plain JSON-ready values (the YAML file's shape)."""
        return {
            "risk_level": self.risk_level.value,
            "requires_approval": self.requires_approval,
            "rate_limit": self.rate_limit,
            "success_metric": self.success_metric,
            "rollback_strategy": self.rollback_strategy,
            "audit_fields": list(self.audit_fields),
            "idempotent": self.idempotent,
            "approval_timeout": self.approval_timeout,
            "roles": sorted(self.roles) if self.roles is not None else None,
        }


class _PolicyModel(BaseModel):
    """One tool's policy as written in a YAML file."""

    model_config = ConfigDict(extra="forbid")

    risk_level: Literal["read", "suggest", "execute_low", "execute_high"]
    requires_approval: StrictBool = False
    rate_limit: StrictInt | None = Field(default=None, ge=1)
    success_metric: StrictStr | None = None
    rollback_strategy: StrictStr | None = None
    audit_fields: list[StrictStr] = Field(default_factory=list)
    idempotent: StrictBool = False
    approval_timeout: StrictFloat | StrictInt | None = Field(
        default=DEFAULT_APPROVAL_TIMEOUT_S, gt=0, allow_inf_nan=False
    )
    roles: list[StrictStr] | None = None


def _node_line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _mapping_child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                found: yaml.Node = value_node
                return found
    return None


def parse_policies(text: str, *, path: str = "<string>") -> dict[str, Policy]:
    """Parse a policy file's text into policies by tool name.

    Args:
        text: the YAML text.
        path: the file name used in error messages.

    Returns:
        The policies keyed by tool name, in file order.

    Raises:
        ConfigFileError: the text is not valid YAML or not a valid policy file; the error names
            the file, the line and the reason.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigFileError(path, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(path, None, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict) or set(data) != {"tools"}:
        raise ConfigFileError(
            path, _node_line(root) or 1, "expected a mapping with exactly one key, 'tools'"
        )
    tools_node = _mapping_child(root, "tools")
    tools = data["tools"]
    if not isinstance(tools, dict) or not tools:
        raise ConfigFileError(
            path, _node_line(tools_node), "'tools' must map tool names to policies"
        )
    policies: dict[str, Policy] = {}
    for name, body in tools.items():
        tool_node = _mapping_child(tools_node, str(name))
        line = _node_line(tool_node)
        if not isinstance(name, str) or not name.strip():
            raise ConfigFileError(path, line, f"tool name {name!r} must be a non-empty string")
        if not isinstance(body, dict):
            raise ConfigFileError(path, line, f"tool {name!r}: the policy must be a mapping")
        try:
            model = _PolicyModel.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = first.get("loc") or ()
            field_name = str(loc[0]) if loc else None
            field_line = _node_line(_mapping_child(tool_node, field_name)) if field_name else None
            where = f".{field_name}" if field_name else ""
            raise ConfigFileError(
                path, field_line or line, f"tool {name!r}{where}: {first['msg']}"
            ) from None
        try:
            policies[name] = Policy(
                risk_level=RiskLevel(model.risk_level),
                requires_approval=model.requires_approval,
                rate_limit=model.rate_limit,
                success_metric=model.success_metric,
                rollback_strategy=model.rollback_strategy,
                audit_fields=tuple(model.audit_fields),
                idempotent=model.idempotent,
                approval_timeout=(
                    float(model.approval_timeout) if model.approval_timeout is not None else None
                ),
                roles=frozenset(model.roles) if model.roles is not None else None,
            )
        except PolicyError as exc:
            raise ConfigFileError(path, line, f"tool {name!r}: {exc.message}") from None
    return policies


def load_policies(path: str | Path) -> dict[str, Policy]:
    """Read a YAML policy file.

    Raises:
        ConfigFileError: the file cannot be read or is not a valid policy file.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(str(p), None, f"cannot read the file: {exc}") from None
    return parse_policies(text, path=str(p))


def builtin_policies() -> dict[str, Policy]:
    """The policies of the reference deployment's tools (the product document's table)."""
    return load_policies(Path(__file__).with_name("builtin_policies.yaml"))


def policy_table(
    policies: Mapping[str, Policy] | Iterable[tuple[str, Policy]],
) -> list[dict[str, Any]]:
    """The policy table: one row per tool, ordered by risk level then name.

    Each row holds ``tool``, ``risk_level``, ``requires_approval``, ``rate_limit``,
    ``rollback_strategy``, ``success_metric``, ``audit_fields``, ``idempotent``,
    ``approval_timeout`` and ``roles``.
    """
    items = policies.items() if isinstance(policies, Mapping) else policies
    rows = [{"tool": name, **policy.to_dict()} for name, policy in items]
    rows.sort(key=lambda row: (RiskLevel(row["risk_level"]).rank, row["tool"]))
    return rows
