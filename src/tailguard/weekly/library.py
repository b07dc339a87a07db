"""The lever recipe library: improvement levers as JSON, validated on load.

A lever is a recipe an area can run for a week: a category (``customer``, ``technician``,
``operations``), the interventions it uses (kinds of :mod:`tailguard.sim.interventions`, with
arguments), preconditions saying when it is relevant (KPI percentile ranks or values),
expected effects on KPIs with their uncertainty (a normal mean and standard deviation per
KPI, in the KPI's unit), and its resource cost. ``value_model`` turns KPI changes into money:
per KPI, the revenue and GP change in percent of the area's weekly figures per unit of KPI
change. See ``docs/weekly.md`` for the format; ``levers.json`` beside this module is the
default library.

A broken file is refused with :class:`~tailguard.errors.ConfigFileError` naming the file, the
JSON path (``$.levers[3].effects[0].sd``) and the reason; a JSON syntax error names the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tailguard.errors import ConfigFileError, InvalidInputError
from tailguard.metrics.kpis import KPIS
from tailguard.sim.interventions import INTERVENTION_TYPES, parse_intervention

CATEGORIES: Final = ("customer", "technician", "operations")
DEFAULT_LIBRARY: Final = Path(__file__).with_name("levers.json")
Category = Literal["customer", "technician", "operations"]

# Fields that name the target unit: chosen each week from the pack, not fixed in a recipe.
_TARGET_FIELDS: Final = frozenset({"zip", "tech_id", "customer_ids", "locker_id", "sku", "area_id"})
_PLACEHOLDER: Final[dict[str, Any]] = {
    "zip": "00000",
    "tech_id": "T000000",
    "customer_ids": ("C000000000",),
    "locker_id": "L00000",
    "sku": "SKU",
    "area_id": "PA-0000",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class Learn(_Strict):
    """How measured outcomes of this intervention (self-learn store) inform the lever.

    Rows whose ``kind`` is the intervention's and whose ``outcome_kpi`` is this one count; each
    measured ``outcome_delta`` times ``scale`` is one observation of the effect on ``kpi``.
    """

    outcome_kpi: str = Field(min_length=1)
    kpi: str
    scale: float = Field(default=1.0, allow_inf_nan=False)


class LeverIntervention(_Strict):
    """One intervention a lever uses."""

    kind: str
    args: dict[str, Any] = Field(default_factory=dict)
    targets: str = Field(min_length=1, description="which units, in words")
    max_targets: int = Field(default=5, ge=1, le=1000)
    learn: Learn | None = None


class Condition(_Strict):
    """One precondition on a KPI: percentile rank below a bound, or value above/below one."""

    kpi: str
    percentile_below: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    above: float | None = Field(default=None, allow_inf_nan=False)
    below: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        set_ = [x for x in (self.percentile_below, self.above, self.below) if x is not None]
        if len(set_) != 1:
            raise ValueError("give exactly one of percentile_below, above, below")
        return self


class Preconditions(_Strict):
    """The lever is relevant when any of ``any`` holds (an empty list: always relevant)."""

    any: tuple[Condition, ...] = ()


class Effect(_Strict):
    """Expected change of one KPI, normal with this mean and standard deviation.

    In the KPI's unit, or with ``relative`` in percent of the area's current value.
    """

    kpi: str
    mean: float = Field(allow_inf_nan=False)
    sd: float = Field(ge=0, allow_inf_nan=False)
    relative: bool = False


class Cost(_Strict):
    """Weekly resource cost: money (normal, truncated at 0) and staff hours."""

    usd_mean: float = Field(ge=0, allow_inf_nan=False)
    usd_sd: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    hours: float = Field(default=0.0, ge=0, allow_inf_nan=False)


class Lever(_Strict):
    """One improvement lever (see the module docstring)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    category: Category
    title: str = Field(min_length=1, max_length=120)
    doc: str = Field(min_length=1)
    owner: str = Field(min_length=1, description="the downstream agent that carries it out")
    interventions: tuple[LeverIntervention, ...] = Field(min_length=1)
    preconditions: Preconditions = Preconditions()
    effects: tuple[Effect, ...] = Field(min_length=1)
    cost: Cost


class ValueOfKpi(_Strict):
    """Money per change of a KPI, both in percent of the area's weekly revenue.

    ``per``: ``unit`` (per unit of the KPI, e.g. per minute) or ``percent`` (per 1 % relative
    change of the KPI, e.g. jobs per week).
    """

    revenue_pct_per_unit: float = Field(allow_inf_nan=False)
    gp_pct_per_unit: float = Field(allow_inf_nan=False)
    per: Literal["unit", "percent"] = "unit"


class LibraryFile(_Strict):
    """The JSON document."""

    version: Literal[1]
    value_model: dict[str, ValueOfKpi] = Field(default_factory=dict)
    levers: tuple[Lever, ...] = ()


class LeverLibrary:
    """Levers by id plus the value model, merged from one or more files (later files win)."""

    def __init__(self, levers: Mapping[str, Lever], value_model: Mapping[str, ValueOfKpi]) -> None:
        self.levers = dict(levers)
        self.value_model = dict(value_model)

    def by_category(self, category: str) -> list[Lever]:
        """Levers of one category, sorted by id."""
        return sorted(
            (lv for lv in self.levers.values() if lv.category == category), key=lambda x: x.id
        )

    def to_json(self) -> dict[str, Any]:
        """The merged library as a JSON document (loads back to the same library)."""
        return {
            "version": 1,
            "value_model": {k: v.model_dump() for k, v in self.value_model.items()},
            "levers": [lv.model_dump(exclude_none=True) for lv in self.levers.values()],
        }


def _json_path(loc: Iterable[int | str]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _check_semantics(doc: LibraryFile, path: str) -> None:
    def bad(where: str, reason: str) -> ConfigFileError:
        return ConfigFileError(path, None, f"{where}: {reason}")

    for k in doc.value_model:
        if k not in KPIS:
            raise bad(f"$.value_model.{k}", f"unknown KPI {k!r}")
    seen: set[str] = set()
    for i, lever in enumerate(doc.levers):
        here = f"$.levers[{i}]"
        if lever.id in seen:
            raise bad(f"{here}.id", f"duplicate lever id {lever.id!r}")
        seen.add(lever.id)
        for j, cond in enumerate(lever.preconditions.any):
            if cond.kpi not in KPIS:
                raise bad(f"{here}.preconditions.any[{j}].kpi", f"unknown KPI {cond.kpi!r}")
        for j, eff in enumerate(lever.effects):
            if eff.kpi not in KPIS:
                raise bad(f"{here}.effects[{j}].kpi", f"unknown KPI {eff.kpi!r}")
        for j, iv in enumerate(lever.interventions):
            where = f"{here}.interventions[{j}]"
            cls = INTERVENTION_TYPES.get(iv.kind)
            if cls is None:
                known = ", ".join(sorted(INTERVENTION_TYPES))
                raise bad(
                    f"{where}.kind", f"unknown intervention kind {iv.kind!r} (known: {known})"
                )
            targets = sorted(_TARGET_FIELDS.intersection(iv.args))
            if targets:
                raise bad(f"{where}.args", f"{targets} name the target; the playbook picks it")
            names = {f.name for f in dc_fields(cls)}
            args = {n: v for n, v in _PLACEHOLDER.items() if n in names and n not in iv.args}
            try:
                parse_intervention(iv.kind, {**args, **iv.args})
            except InvalidInputError as exc:
                raise bad(f"{where}.args", str(exc)) from None
            if iv.learn is not None and iv.learn.kpi not in KPIS:
                raise bad(f"{where}.learn.kpi", f"unknown KPI {iv.learn.kpi!r}")


def parse_library(text: str, path: str = "<string>") -> LibraryFile:
    """Parse and validate one library document.

    Raises:
        ConfigFileError: bad JSON (with its line) or a value that breaks the format (with its
            JSON path).
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(path, exc.lineno, f"not valid JSON: {exc.msg}") from None
    try:
        doc = LibraryFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigFileError(path, None, f"{_json_path(err['loc'])}: {err['msg']}") from None
    _check_semantics(doc, path)
    return doc


def load_library(*extra: Path | str, include_default: bool = True) -> LeverLibrary:
    """The default library, then each extra file (a lever id seen again replaces the earlier).

    Raises:
        ConfigFileError: a file is missing, malformed, or leaves a category without a lever.
    """
    files = ([DEFAULT_LIBRARY] if include_default else []) + [Path(p) for p in extra]
    levers: dict[str, Lever] = {}
    value_model: dict[str, ValueOfKpi] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigFileError(str(file), None, f"cannot read: {exc.strerror}") from None
        doc = parse_library(text, str(file))
        value_model.update(doc.value_model)
        for lever in doc.levers:
            levers[lever.id] = lever
    missing = [c for c in CATEGORIES if not any(lv.category == c for lv in levers.values())]
    if missing:
        raise ConfigFileError(
            str(files[-1]) if files else "<none>", None, f"$.levers: no lever of category {missing}"
        )
    return LeverLibrary(levers, value_model)
