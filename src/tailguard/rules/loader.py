"""Load tail-rule YAML with line numbers, so every refusal names file, line and reason.

The YAML is composed into nodes (each carries its ``start_mark``), turned into plain Python
while remembering the line of every path, validated with pydantic, then checked for meaning
(known KPI, operator, durations, templates, unique names). Anything wrong raises
:class:`~tailguard.errors.ConfigFileError`, and nothing else escapes.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from pathlib import Path

from pydantic import ValidationError

from tailguard.errors import ConfigFileError
from tailguard.metrics.kpis import KPIS
from tailguard.rules.builtin import BUILTIN_YAML
from tailguard.rules.model import (
    OPS,
    SEVERITIES,
    Rule,
    RuleFileSpec,
    RuleSet,
    RuleSpec,
    parse_duration,
    template_problem,
)
from tailguard.yamlfile import Lines as _Lines
from tailguard.yamlfile import Path_, parse_yaml, pydantic_error

_EXPR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>|==|!=|=)\s*(\S+)\s*$")


def _duration(
    value: int | str, *, file: str, line: int | None, what: str, tick: timedelta
) -> tuple[timedelta, int | None]:
    if isinstance(value, int):
        if value < 0:
            raise ConfigFileError(file, line, f"{what} must not be negative, got {value}")
        return tick * value, value
    try:
        return parse_duration(value.strip()), None
    except ValueError as exc:
        raise ConfigFileError(file, line, f"{what}: {exc}") from None


def _rule(
    spec: RuleSpec, group: str, path: Path_, lines: _Lines, file: str, tick: timedelta
) -> Rule:
    line = lines.nearest(path)

    def at(key: str) -> int | None:
        return lines.nearest((*path, key))

    if spec.alert is not None and spec.name is not None and spec.alert != spec.name:
        raise ConfigFileError(file, line, "a rule has both 'alert' and 'name' and they differ")
    name = spec.alert if spec.alert is not None else spec.name
    if not name or not name.strip():
        raise ConfigFileError(file, line, "a rule needs a non-empty 'alert' (or 'name')")
    if spec.expr is not None:
        if spec.kpi is not None or spec.op is not None or spec.threshold is not None:
            raise ConfigFileError(
                file,
                at("expr"),
                f"rule {name!r}: give either 'expr' or 'kpi'/'op'/'threshold', not both",
            )
        match = _EXPR.match(spec.expr)
        if match is None:
            raise ConfigFileError(
                file,
                at("expr"),
                f"rule {name!r}: expr must read '<kpi> <op> <number>', got {spec.expr!r}",
            )
        kpi, op, raw = match.groups()
        try:
            threshold = float(raw)
        except ValueError:
            raise ConfigFileError(
                file, at("expr"), f"rule {name!r}: threshold {raw!r} is not a number"
            ) from None
        where_kpi = where_op = where_thr = at("expr")
    else:
        missing = [k for k in ("kpi", "op", "threshold") if getattr(spec, k) is None]
        if missing:
            raise ConfigFileError(
                file, line, f"rule {name!r}: missing {', '.join(missing)} (or give 'expr')"
            )
        assert spec.kpi is not None
        assert spec.op is not None
        assert spec.threshold is not None
        kpi, op, threshold = spec.kpi, spec.op.strip(), float(spec.threshold)
        where_kpi, where_op, where_thr = at("kpi"), at("op"), at("threshold")
    if kpi not in KPIS:
        raise ConfigFileError(
            file, where_kpi, f"rule {name!r}: unknown KPI id {kpi!r} (known: {', '.join(KPIS)})"
        )
    if op not in OPS:
        raise ConfigFileError(
            file, where_op, f"rule {name!r}: bad operator {op!r} (use <, <=, > or >=)"
        )
    if threshold != threshold or threshold in (float("inf"), float("-inf")):
        raise ConfigFileError(file, where_thr, f"rule {name!r}: threshold must be a finite number")
    for_, for_ticks = _duration(
        spec.for_, file=file, line=at("for"), what=f"rule {name!r}: 'for'", tick=tick
    )
    keep, keep_ticks = _duration(
        spec.keep_firing_for,
        file=file,
        line=at("keep_firing_for"),
        what=f"rule {name!r}: 'keep_firing_for'",
        tick=tick,
    )
    labels = dict(spec.labels)
    labels.setdefault("severity", "warning")
    if labels["severity"] not in SEVERITIES:
        raise ConfigFileError(
            file,
            lines.nearest((*path, "labels", "severity")),
            f"rule {name!r}: severity must be one of {', '.join(SEVERITIES)}",
        )
    for key, text in spec.annotations.items():
        problem = template_problem(text)
        if problem:
            raise ConfigFileError(
                file,
                lines.nearest((*path, "annotations", key)),
                f"rule {name!r}: annotation {key!r}: {problem}",
            )
    return Rule(
        name=name.strip(),
        group=group,
        kpi=kpi,
        op=op,  # type: ignore[arg-type]
        threshold=threshold,
        for_=for_,
        for_ticks=for_ticks,
        keep_firing_for=keep,
        keep_firing_ticks=keep_ticks,
        labels=labels,
        annotations=dict(spec.annotations),
        source=f"{file}:{line}" if line else file,
    )


def parse_rules(
    text: str, *, source: str = "<rules>", tick: timedelta = timedelta(hours=1)
) -> RuleSet:
    """Parse a rule file's text into a :class:`RuleSet` (applying ``extends: builtin``).

    Args:
        text: the YAML.
        source: the file name used in error messages.
        tick: the tick length a ``for``/``keep_firing_for`` count is multiplied by.

    Raises:
        ConfigFileError: naming the file, line and reason of the first problem.
    """
    data, lines = parse_yaml(text, source, what="rule file")
    if not isinstance(data, dict):
        raise ConfigFileError(
            source, lines.nearest(()), "a rule file must be a mapping with 'groups'"
        )
    try:
        spec = RuleFileSpec.model_validate(data)
    except ValidationError as exc:
        raise pydantic_error(exc, lines, source) from None
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for gi, group in enumerate(spec.groups):
        for ri, rule_spec in enumerate(group.rules):
            path: Path_ = ("groups", gi, "rules", ri)
            rule = _rule(rule_spec, group.name, path, lines, source, tick)
            if rule.name in seen:
                raise ConfigFileError(
                    source,
                    lines.nearest(path),
                    f"duplicate rule name {rule.name!r} (first at {seen[rule.name]})",
                )
            seen[rule.name] = rule.source
            rules.append(rule)
    if spec.extends == "builtin":
        own = {r.name for r in rules}
        rules = [r for r in builtin_rules(tick=tick).rules if r.name not in own] + rules
    return RuleSet(rules=tuple(rules), source=source)


def load_rules(path: str | Path, *, tick: timedelta = timedelta(hours=1)) -> RuleSet:
    """Load a rule file.

    Raises:
        ConfigFileError: if the file cannot be read or is not a valid rule file.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(
            name, None, f"cannot read the rule file: {type(exc).__name__}: {exc}"
        ) from None
    return parse_rules(text, source=name, tick=tick)


@functools.cache
def _builtin(tick: timedelta) -> RuleSet:
    return parse_rules(BUILTIN_YAML, source="builtin", tick=tick)


def builtin_rules(*, tick: timedelta = timedelta(hours=1)) -> RuleSet:
    """The built-in rules: INTERFACES.md section 4 (critical) plus the guard-bands (warning)."""
    return _builtin(tick)
