"""Tail rules: the file shape (pydantic, at the edge) and the internal records.

The file borrows the shape of Prometheus alerting rules::

    extends: builtin            # optional: keep the built-in rules (same name = replace)
    groups:
      - name: red_tails
        rules:
          - alert: low_earnings_tail          # or `name:`
            kpi: earnings_p10_week
            op: "<"
            threshold: 600
            # or instead of kpi/op/threshold:  expr: "earnings_p10_week < 600"
            for: 2h                           # or a count of ticks: `for: 2`
            keep_firing_for: 1h
            labels: {severity: critical, agent: corey}
            annotations:
              summary: "P10 earnings {{ $value }} in {{ $labels.area_id }}"
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

Op = Literal["<", "<=", ">", ">="]

#: The one comparison-operator table of the project: numbers, NumPy arrays and Polars
#: expressions alike (rules, guard-bands, catalogue ``where`` filters, dashboards).
COMPARISONS: Final[Mapping[str, Callable[[Any, Any], Any]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
#: Each comparison's complement (``not a < b`` is ``a >= b``): a guard-band's breach.
NEGATIONS: Final[Mapping[str, str]] = {
    "<": ">=",
    "<=": ">",
    ">": "<=",
    ">=": "<",
    "==": "!=",
    "!=": "==",
}
#: The comparisons that hold below their bound (for a guard-band: lower is better).
BELOW: Final = frozenset({"<", "<="})
#: The comparisons a rule or guard-band may use.
OPS: Final[Mapping[str, Callable[[Any, Any], Any]]] = {
    op: COMPARISONS[op] for op in ("<", "<=", ">", ">=")
}
SEVERITIES: Final = ("critical", "warning", "info")


class RuleSpec(BaseModel):
    """One rule as written in the file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    alert: StrictStr | None = None
    name: StrictStr | None = None
    kpi: StrictStr | None = None
    op: StrictStr | None = None
    threshold: StrictInt | StrictFloat | None = None
    expr: StrictStr | None = None
    for_: StrictInt | StrictStr = Field(default=0, alias="for")
    keep_firing_for: StrictInt | StrictStr = 0
    labels: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    annotations: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class GroupSpec(BaseModel):
    """A named group of rules."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    rules: list[RuleSpec]


class RuleFileSpec(BaseModel):
    """A whole rule file."""

    model_config = ConfigDict(extra="forbid")

    extends: Literal["builtin"] | None = None
    groups: list[GroupSpec]


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule:
    """A validated tail rule.

    Attributes:
        name: unique within a rule set.
        group: the group it came from.
        kpi: the KPI id it watches.
        op: the comparison that means "breach".
        threshold: the bound.
        for_: how long the breach must hold before the rule fires (0: at once).
        for_ticks: ``for`` as written when it was a tick count, else None.
        keep_firing_for: how long it keeps firing after the breach clears.
        keep_firing_ticks: ``keep_firing_for`` as a tick count, else None.
        labels: at least ``severity``; usually ``agent`` (the downstream agent concerned).
        annotations: templates; ``{{ $value }}``, ``{{ $threshold }}``, ``{{ $kpi }}`` and
            ``{{ $labels.X }}`` (with ``area_id`` among the labels) are filled in.
        source: ``file:line`` where it was defined.
    """

    name: str
    group: str
    kpi: str
    op: Op
    threshold: float
    for_: timedelta = timedelta(0)
    for_ticks: int | None = None
    keep_firing_for: timedelta = timedelta(0)
    keep_firing_ticks: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def severity(self) -> str:
        """The rule's severity label."""
        return self.labels.get("severity", "warning")

    def breaches(self, value: float | None) -> bool:
        """Whether ``value`` breaches the rule (a missing value never does)."""
        return value is not None and OPS[self.op](value, self.threshold)


@dataclass(frozen=True, kw_only=True, slots=True)
class RuleSet:
    """An ordered, name-unique collection of rules."""

    rules: tuple[Rule, ...]
    source: str = "builtin"

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def names(self) -> list[str]:
        """Rule names in order."""
        return [r.name for r in self.rules]

    def get(self, name: str) -> Rule:
        """The rule called ``name``.

        Raises:
            KeyError: if there is none.
        """
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)


_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.S)
_PLACEHOLDER = re.compile(r"^\s*\$(value|threshold|kpi|labels\.([A-Za-z_][A-Za-z0-9_]*))\s*$")


def template_problem(text: str) -> str | None:
    """Why ``text`` is not a valid annotation template, or None if it is."""
    for match in _TEMPLATE.finditer(text):
        if not _PLACEHOLDER.match(match.group(1)):
            return f"unsupported template placeholder {{{{{match.group(1)}}}}}"
    if "{{" in _TEMPLATE.sub("", text):
        return "unclosed '{{' in template"
    return None


def render(
    text: str, *, value: float | None, threshold: float, kpi: str, labels: Mapping[str, str]
) -> str:
    """Fill a template's placeholders."""

    def fill(match: re.Match[str]) -> str:
        inner = _PLACEHOLDER.match(match.group(1))
        if inner is None:
            return match.group(0)
        what = inner.group(1)
        if what == "value":
            return "null" if value is None else f"{value:.4g}"
        if what == "threshold":
            return f"{threshold:g}"
        if what == "kpi":
            return kpi
        return labels.get(inner.group(2) or "", "")

    return _TEMPLATE.sub(fill, text)


_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS: Final = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "y": 31536000,
}


def parse_duration(text: str) -> timedelta:
    """A Prometheus-style duration (``90s``, ``2h``, ``1h30m``, ``1d``).

    Raises:
        ValueError: if ``text`` is not one.
    """
    if not _DURATION.match(text):
        raise ValueError(
            f"bad duration {text!r} (expected e.g. 30m, 2h, 1h30m, 1d, or a tick count)"
        )
    return timedelta(seconds=sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text)))
