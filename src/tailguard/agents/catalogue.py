"""The intervention catalogue: which tail triggers which governed micro-intervention.

The catalogue is data (``catalogue.yaml`` beside this module is the default; users edit a copy).
Each entry names the tail that triggers it (a firing rule or a signal the agent computes), how
its target is chosen, its arguments, its control-plane policy, its estimated cost, a cooldown,
a weekly budget per area and the KPI its outcome is measured on. Loading validates the shape
(pydantic) and the meaning (known rules, signals, intervention kinds, unit columns, consistent
policies of entries that share a tool) and refuses a bad file with its name, line and reason.

:meth:`Catalogue.registry` turns the entries into governed tools whose handler hands an
:class:`~tailguard.agents.downstream.InterventionJob` to a downstream agent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tailguard.agents.signals import SIGNAL_SPECS
from tailguard.control.policy import Policy
from tailguard.control.tools import Tool, ToolRegistry
from tailguard.errors import ConfigFileError
from tailguard.learning.arms import arm_id
from tailguard.learning.dose import ArmInfo
from tailguard.rules.builtin import BUILTIN_YAML
from tailguard.rules.model import COMPARISONS, parse_duration
from tailguard.sim.interventions import INTERVENTION_TYPES
from tailguard.yamlfile import Lines, Path_, parse_yaml, pydantic_error

Unit = Literal["tech", "zip", "sku", "customers", "area"]

#: Signals the hourly tick computes itself (besides the rule engine's alerts); each names units
#: of one type (SIGNAL_SPECS), and an entry it triggers must target that type.
SIGNALS: Final = tuple(SIGNAL_SPECS)

#: Columns a target can be picked by or filtered on, per unit.
UNIT_COLUMNS: Final[Mapping[str, frozenset[str]]] = {
    "tech": frozenset(
        {
            "earnings_week",
            "jobs",
            "recall_pct",
            "nps_mean",
            "ftf_pct",
            "multi_part_pct",
            "detractors_72h",
            "detractor_excess",
        }
    ),
    "zip": frozenset(
        {"lateness_p90_min", "jobs", "bookings_24h", "bookings_prior_24h", "surge_ratio"}
    ),
    "sku": frozenset({"lead_time_p95_days", "on_hand_min"}),
    "customers": frozenset(),
    "area": frozenset(),
}

#: The argument that names the target, per intervention kind.
TARGET_ARG: Final[Mapping[str, str]] = {
    "surge_pay_window": "zip",
    "nearby_job_offer": "tech_id",
    "surge_shift_offer": "tech_id",
    "routing_weight_boost": "zip",
    "apology_credit": "customer_ids",
    "locker_buffer": "sku",
    "master_tech_shadow": "tech_id",
    "recruiting_sms": "zip",
    "gamification_reward": "area_id",
}
_KIND_UNIT: Final[Mapping[str, str]] = {
    "surge_pay_window": "zip",
    "nearby_job_offer": "tech",
    "surge_shift_offer": "tech",
    "routing_weight_boost": "zip",
    "apology_credit": "customers",
    "locker_buffer": "sku",
    "master_tech_shadow": "tech",
    "recruiting_sms": "zip",
    "gamification_reward": "area",
}
_OPS: Final = tuple(COMPARISONS)


class _TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: Unit
    pick: Literal["lowest", "highest"] | None = None
    by: str | None = None
    where: dict[str, dict[str, float]] = Field(default_factory=dict)
    max_units: int = Field(default=5, ge=1, le=100)


class _OutcomeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kpi: str
    scope: Literal["unit", "area"]
    horizon: str


class _PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    risk_level: Literal["read", "suggest", "execute_low", "execute_high"]
    requires_approval: bool = False
    rate_limit: int | None = Field(default=None, ge=1)
    success_metric: str | None = None
    rollback_strategy: str | None = None
    audit_fields: list[str] = Field(default_factory=list)
    idempotent: bool = True
    approval_timeout: float | None = Field(default=None, gt=0)


class _LevelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    args: dict[str, Any] = Field(min_length=1)
    cost_usd: float | None = Field(default=None, ge=0)


class _EntrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    doc: str = ""
    trigger: list[str] = Field(min_length=1)
    group: str | None = None
    weight: float = Field(default=1.0, gt=0, le=1000)
    downstream: str = Field(min_length=1)
    tool: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    kind: str
    target: _TargetSpec
    args: dict[str, Any] = Field(default_factory=dict)
    policy: _PolicySpec
    cost_usd: float = Field(ge=0)
    cooldown: str
    weekly_budget_usd: float | None = Field(default=None, ge=0)
    weekly_max_actions: int | None = Field(default=None, ge=1)
    outcome: _OutcomeSpec | None = None
    levels: list[_LevelSpec] = Field(default_factory=list, max_length=8)


class _FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1]
    policy_version: str = Field(min_length=1, max_length=64)
    area_weekly_budget_usd: float | None = Field(default=None, ge=0)
    area_budget_pacing: Literal["daily", "none"] = "none"
    max_actions_per_area_hour: int = Field(default=2, ge=1, le=100)
    interventions: list[_EntrySpec] = Field(min_length=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """How an entry's target is chosen."""

    unit: Unit
    pick: Literal["lowest", "highest"] | None
    by: str | None
    where: Mapping[str, Mapping[str, float]]
    max_units: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Level:
    """An alternative argument level of an entry that the learning policy may choose."""

    args: Mapping[str, Any]
    cost_usd: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """The KPI an entry's outcome is measured on, and when."""

    kpi: str
    scope: Literal["unit", "area"]
    horizon: timedelta


@dataclass(frozen=True, kw_only=True, slots=True)
class Entry:
    """One catalogue entry (see ``catalogue.yaml`` for the meaning of each field)."""

    id: str
    doc: str
    trigger: tuple[str, ...]
    group: str
    weight: float
    downstream: str
    tool: str
    kind: str
    target: Target
    args: Mapping[str, Any]
    policy: Policy
    cost_usd: float
    cooldown: timedelta
    weekly_budget_usd: float | None
    weekly_max_actions: int | None
    outcome: Outcome | None
    source: str
    levels: tuple[Level, ...] = ()

    def level_args(self, level: int) -> Mapping[str, Any]:
        """The arguments at ``level`` (0: the entry's own; i: its i-th alternative level)."""
        if level == 0:
            return self.args
        return {**self.args, **self.levels[level - 1].args}

    def level_cost(self, level: int) -> float:
        """The estimated cost at ``level``."""
        return self.cost_usd if level == 0 else self.levels[level - 1].cost_usd


@dataclass(frozen=True, kw_only=True, slots=True)
class Catalogue:
    """A validated catalogue.

    Attributes:
        entries: the entries in file order.
        policy_version: recorded with every decision (the propensity's policy).
        area_weekly_budget_usd: total spend cap per area per ISO week (None: no cap).
        area_budget_pacing: ``daily``: by the end of the week's d-th day (Monday the first)
            an area may have spent at most d/7 of its weekly budget, so Monday's tails cannot
            leave Saturday's without money; ``none`` (default): the whole budget is available
            from Monday.
        max_actions_per_area_hour: at most this many interventions per area and tick.
        source: the file it came from.
        digest: SHA-256 of the file's text (changes when anyone edits it).
    """

    entries: tuple[Entry, ...]
    policy_version: str
    area_weekly_budget_usd: float | None
    max_actions_per_area_hour: int
    source: str
    area_budget_pacing: Literal["daily", "none"] = "none"
    digest: str

    def groups(self) -> dict[str, str]:
        """Entry id -> its group."""
        return {e.id: e.group for e in self.entries}

    def arm_info(self) -> dict[str, ArmInfo]:
        """Every acting arm (an entry at one of its levels) with its group, dose and cost.

        The dose of a level is the ratio of its first numeric argument that differs between
        the entry's levels to the entry's own value of it (the own level is dose 1; an entry
        whose levels differ in no numeric argument has every level at dose 1): what the
        learning policy's dose-response model reads the levels by.
        """
        out: dict[str, ArmInfo] = {}
        for e in self.entries:
            doses = _doses(e)
            for level, dose in enumerate(doses):
                out[arm_id(e.id, level)] = ArmInfo(
                    entry=e.id, group=e.group, dose=dose, cost_usd=e.level_cost(level)
                )
        return out

    def by_trigger(self) -> dict[str, list[Entry]]:
        """Entries per trigger name."""
        out: dict[str, list[Entry]] = {}
        for entry in self.entries:
            for name in entry.trigger:
                out.setdefault(name, []).append(entry)
        return out

    def entry(self, entry_id: str) -> Entry:
        """One entry by id (KeyError when absent)."""
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)

    def tools(self, handler_for: Callable[[Entry], Any]) -> list[Tool]:
        """One governed tool per distinct tool name (entries sharing a tool share a policy)."""
        seen: dict[str, Tool] = {}
        for entry in self.entries:
            if entry.tool in seen:
                continue
            seen[entry.tool] = Tool(
                name=entry.tool,
                description=f"{entry.doc} (downstream: {entry.downstream}; kind: {entry.kind})",
                parameters=_arg_schema(entry.kind),
                handler=handler_for(entry),
                policy=entry.policy,
            )
        return list(seen.values())

    def registry(self, handler_for: Callable[[Entry], Any]) -> ToolRegistry:
        """A tool registry of the catalogue's tools."""
        registry = ToolRegistry()
        for tool in self.tools(handler_for):
            registry.register(tool)
        return registry


def _arg_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a kind's arguments, derived from the simulator's request type."""
    import dataclasses
    import typing

    cls = INTERVENTION_TYPES[kind]
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if hint is str:
            props[f.name] = {"type": "string", "minLength": 1}
        elif hint is int:
            props[f.name] = {"type": "integer", "minimum": 0}
        elif hint is float:
            props[f.name] = {"type": "number", "minimum": 0}
        else:  # tuple[str, ...]
            props[f.name] = {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
            }
        if f.default is dataclasses.MISSING:
            required.append(f.name)
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def _known_rules() -> frozenset[str]:
    import re

    return frozenset(re.findall(r"- alert: (\w+)", BUILTIN_YAML))


def _entry(spec: _EntrySpec, path: Path_, lines: Lines, file: str, rules: frozenset[str]) -> Entry:
    def fail(key: str, reason: str) -> ConfigFileError:
        return ConfigFileError(file, lines.nearest((*path, key)), f"{spec.id}: {reason}")

    for name in spec.trigger:
        if name not in rules and name not in SIGNALS:
            raise fail("trigger", f"unknown trigger {name!r} (a rule name or one of {SIGNALS})")
    if spec.kind not in INTERVENTION_TYPES:
        raise fail("kind", f"unknown intervention kind {spec.kind!r}")
    expected = _KIND_UNIT[spec.kind]
    if spec.target.unit != expected:
        raise fail("target", f"{spec.kind} acts on a {expected}, not a {spec.target.unit}")
    for name in spec.trigger:
        signal = SIGNAL_SPECS.get(name)
        if signal is not None and signal.unit != spec.target.unit:
            raise fail(
                "trigger",
                f"signal {name!r} names a {signal.unit}, but {spec.kind} acts on a "
                f"{spec.target.unit}",
            )
    columns = UNIT_COLUMNS[spec.target.unit]
    if columns:
        if spec.target.pick is None or spec.target.by is None:
            raise fail("target", "a tech, zip or sku target needs `pick` and `by`")
        if spec.target.by not in columns:
            raise fail("target", f"unknown {spec.target.unit} column {spec.target.by!r}")
    for col, conds in spec.target.where.items():
        if col not in columns:
            raise fail("target", f"unknown {spec.target.unit} column {col!r} in where")
        for op in conds:
            if op not in _OPS:
                raise fail("target", f"unknown operator {op!r} in where (one of {_OPS})")
    target_arg = TARGET_ARG[spec.kind]
    if target_arg in spec.args:
        raise fail("args", f"{target_arg!r} is set from the target, not in args")
    schema = _arg_schema(spec.kind)
    for name in spec.args:
        if name not in schema["properties"]:
            raise fail("args", f"{spec.kind} has no argument {name!r}")
    for level in spec.levels:
        for name in level.args:
            if name not in schema["properties"] or name == target_arg:
                raise fail("levels", f"{spec.kind} has no level argument {name!r}")
    try:
        policy = Policy(**spec.policy.model_dump())
    except Exception as exc:
        raise fail("policy", str(getattr(exc, "message", exc))) from None
    try:
        cooldown = parse_duration(spec.cooldown)
        horizon = parse_duration(spec.outcome.horizon) if spec.outcome else None
    except ValueError as exc:
        raise fail("cooldown", str(exc)) from None
    outcome = None
    if spec.outcome is not None:
        assert horizon is not None
        if horizon <= timedelta(0):
            raise fail("outcome", "the outcome horizon must be positive")
        if spec.outcome.scope == "unit" and spec.outcome.kpi not in columns:
            raise fail("outcome", f"unknown {spec.target.unit} column {spec.outcome.kpi!r}")
        if spec.outcome.scope == "area":
            from tailguard.metrics.kpis import KPIS

            if spec.outcome.kpi not in KPIS:
                raise fail("outcome", f"unknown KPI {spec.outcome.kpi!r}")
        outcome = Outcome(kpi=spec.outcome.kpi, scope=spec.outcome.scope, horizon=horizon)
    line = lines.nearest(path)
    return Entry(
        id=spec.id,
        doc=spec.doc,
        trigger=tuple(spec.trigger),
        group=spec.group or spec.id,
        weight=spec.weight,
        downstream=spec.downstream,
        tool=spec.tool,
        kind=spec.kind,
        target=Target(
            unit=spec.target.unit,
            pick=spec.target.pick,
            by=spec.target.by,
            where=spec.target.where,
            max_units=spec.target.max_units,
        ),
        args=dict(spec.args),
        policy=policy,
        cost_usd=spec.cost_usd,
        cooldown=cooldown,
        weekly_budget_usd=spec.weekly_budget_usd,
        weekly_max_actions=spec.weekly_max_actions,
        outcome=outcome,
        source=f"{file}:{line}" if line else file,
        levels=tuple(
            Level(
                args=dict(level.args),
                cost_usd=spec.cost_usd if level.cost_usd is None else level.cost_usd,
            )
            for level in spec.levels
        ),
    )


def parse_catalogue(
    text: str, *, source: str = "<catalogue>", rules: Iterable[str] | None = None
) -> Catalogue:
    """Parse and validate a catalogue's YAML.

    Args:
        text: the YAML.
        source: the file name used in error messages.
        rules: the rule names a trigger may name (default: the built-in rule set).

    Raises:
        ConfigFileError: naming the file, line and reason of the first problem.
    """
    data, lines = parse_yaml(text, source, what="catalogue")
    if not isinstance(data, dict):
        raise ConfigFileError(source, lines.nearest(()), "a catalogue must be a mapping")
    try:
        spec = _FileSpec.model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(exc, lines, source) from None
    known = frozenset(rules) if rules is not None else _known_rules()
    entries: list[Entry] = []
    ids: dict[str, str] = {}
    tools: dict[str, Entry] = {}
    for i, entry_spec in enumerate(spec.interventions):
        path: Path_ = ("interventions", i)
        entry = _entry(entry_spec, path, lines, source, known)
        if entry.id in ids:
            raise ConfigFileError(
                source, lines.nearest(path), f"duplicate id {entry.id!r} (first at {ids[entry.id]})"
            )
        ids[entry.id] = entry.source
        first = tools.get(entry.tool)
        if first is not None and (first.policy != entry.policy or first.kind != entry.kind):
            raise ConfigFileError(
                source,
                lines.nearest((*path, "tool")),
                f"{entry.id}: tool {entry.tool!r} is shared with {first.id} but its kind or "
                "policy differs",
            )
        tools.setdefault(entry.tool, entry)
        entries.append(entry)
    return Catalogue(
        entries=tuple(entries),
        policy_version=spec.policy_version,
        area_weekly_budget_usd=spec.area_weekly_budget_usd,
        area_budget_pacing=spec.area_budget_pacing,
        max_actions_per_area_hour=spec.max_actions_per_area_hour,
        source=source,
        digest=hashlib.sha256(text.encode()).hexdigest(),
    )


def load_catalogue(path: str | Path, *, rules: Iterable[str] | None = None) -> Catalogue:
    """Load a catalogue file.

    Raises:
        ConfigFileError: the file cannot be read or is not a valid catalogue.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(name, None, f"cannot read the catalogue: {exc}") from None
    return parse_catalogue(text, source=name, rules=rules)


#: The default catalogue's text.
DEFAULT_CATALOGUE_TEXT: Final = (
    resources.files("tailguard.agents").joinpath("catalogue.yaml").read_text(encoding="utf-8")
)


def default_catalogue() -> Catalogue:
    """The catalogue shipped with tailguard."""
    return parse_catalogue(DEFAULT_CATALOGUE_TEXT, source="catalogue.yaml")


def _doses(entry: Entry) -> list[float]:
    """Each level's dose (see :meth:`Catalogue.arm_info`)."""
    levels = [entry.level_args(i) for i in range(len(entry.levels) + 1)]
    for key, own in entry.args.items():
        if isinstance(own, bool) or not isinstance(own, int | float) or own == 0:
            continue
        values = [a.get(key) for a in levels]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if numeric and len({float(v) for v in values}) > 1:  # type: ignore[arg-type]
            return [float(v) / float(own) for v in values]  # type: ignore[arg-type]
    return [1.0] * len(levels)
