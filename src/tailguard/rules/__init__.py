"""Tail rules: YAML rule files, the built-in set, guard-bands and the stateful evaluator."""

from tailguard.rules.engine import Alert, RuleEngine
from tailguard.rules.guardbands import GUARD_BANDS, GuardBand, guardband_status
from tailguard.rules.loader import builtin_rules, load_rules, parse_rules
from tailguard.rules.model import Rule, RuleSet, parse_duration

__all__ = [
    "GUARD_BANDS",
    "Alert",
    "GuardBand",
    "Rule",
    "RuleEngine",
    "RuleSet",
    "builtin_rules",
    "guardband_status",
    "load_rules",
    "parse_duration",
    "parse_rules",
]
