"""Numbers and tables of the demo report: formatting (also the template's filters) and the
control-plane KPI tables. Split from :mod:`.report`, which assembles the sections."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from tailguard.metrics.kpis import KPIS

_UNIT_DIGITS: Final = {"jobs/week": 0}


# --- formatting (also the template's filters) ----------------------------------------------


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_num(value: Any, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals; "n/a" when missing."""
    return "n/a" if is_missing(value) else f"{float(value):,.{digits}f}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A percentage already in percent: ``63.4 %``."""
    return "n/a" if is_missing(value) else f"{float(value):.{digits}f} %"


def fmt_rate(value: Any) -> str:
    """A ratio in [0, 1] as a percentage."""
    return "n/a" if is_missing(value) else fmt_pct(100.0 * float(value))


def fmt_pp(value: Any) -> str:
    """A difference of percentages, in percentage points: ``+12.3 pp``."""
    return "n/a" if is_missing(value) else f"{float(value):+.1f} pp"


def fmt_ci(interval: Any) -> str:
    """A 95 % interval in percentage points: ``+0.4 to +1.3 pp``."""
    if (
        not isinstance(interval, (list, tuple))
        or len(interval) != 2
        or any(is_missing(v) for v in interval)
    ):
        return "n/a"
    return f"{float(interval[0]):+.1f} to {float(interval[1]):+.1f} pp"


def fmt_better_worse(paired: Mapping[str, Any]) -> str:
    """Areas better / worse with the agents on, of the areas compared: ``212 / 101 of 400``."""
    if not paired.get("areas"):
        return "n/a"
    return f"{paired['areas_better']:,} / {paired['areas_worse']:,} of {paired['areas']:,}"


def fmt_usd(value: Any) -> str:
    """Money: cents below $1,000 (``$12.50``), whole dollars above (``$12,346``)."""
    if is_missing(value):
        return "n/a"
    v = float(value)
    text = f"${abs(v):,.2f}" if abs(v) < 1000 else f"${abs(v):,.0f}"
    return f"-{text}" if v < 0 else text


def fmt_ms(value: Any) -> str:
    """A duration in milliseconds, in ms below 10 s and in seconds above."""
    if is_missing(value):
        return "n/a"
    v = float(value)
    return f"{v:,.0f} ms" if v < 10_000 else f"{v / 1000:,.1f} s"


def fmt_kpi(value: Any, kpi_id: str) -> str:
    """A KPI value with its unit, to the precision the unit deserves."""
    unit = KPIS[kpi_id].unit if kpi_id in KPIS else ""
    if unit == "USD/week":
        return "n/a" if is_missing(value) else f"${float(value):,.0f}"
    text = fmt_num(value, _UNIT_DIGITS.get(unit, 1))
    return text if text == "n/a" or unit in ("", "score") else f"{text} {unit}"


def dig(mapping: Any, *path: str) -> Any:
    """``mapping[path[0]][path[1]]...``, or None where a level is missing."""
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


_OVERALL: Final = (
    ("runs", "runs", "num", "runs that started in the window"),
    ("runs_finished", "runs finished", "num", "completed, failed or aborted"),
    ("time_to_first_action_ms.median", "time to first action (median)", "ms",
     "first executed step minus the run's start"),
    ("time_to_first_action_ms.p90", "time to first action (P90)", "ms", "inverted CDF"),
    ("workflow_success_rate", "workflow success rate", "rate", "completed / finished runs"),
    ("objective_met_rate", "objective met", "rate", "outcomes with objective met / evaluated"),
    ("rollback_rate", "rollback rate", "rate", "steps rolled back / steps that ran"),
    ("human_override_rate", "human override rate", "rate", "gates rejected / gates decided"),
    ("approval_bypass_count", "approval bypasses", "num",
     "steps that ran without an approved gate although approval was required; must be 0"),
    ("steps_ran", "steps that ran", "num", "steps ever executed"),
    ("gates", "approval gates", "num", "gates opened"),
    ("total_cost_usd", "total cost", "usd", "sum of the runs' cost"),
    ("cost_per_run_usd", "cost per run", "usd", "mean cost of a run"),
    ("total_tokens", "tokens", "num", "sum of the runs' LLM tokens"),
    ("tokens_per_productive_step", "tokens per productive step", "num1",
     "tokens / steps executed and not rolled back"),
)  # fmt: skip
_ROLE_COLUMNS: Final = ("runs", "workflow_success_rate", "time_to_first_action_ms.median",
                        "human_override_rate", "approval_bypass_count", "cost_per_run_usd",
                        "tokens_per_productive_step")  # fmt: skip
_TOOL_COLUMNS: Final = ("steps_ran", "rollback_rate", "gates", "gates_decided",
                        "human_override_rate", "approval_bypass_count")  # fmt: skip
_FORMATS: Final[dict[str, Callable[[Any], str]]] = {
    "num": fmt_num,
    "ms": fmt_ms,
    "rate": fmt_rate,
    "usd": fmt_usd,
    "num1": lambda v: fmt_num(v, 1),
}
_KIND_OF: Final = {key: kind for key, _, kind, _ in _OVERALL} | {"gates_decided": "num"}
#: Short column titles for the per-role and per-tool tables.
_SHORT: Final = {
    "runs": "runs",
    "workflow_success_rate": "success",
    "time_to_first_action_ms.median": "first action (median)",
    "human_override_rate": "overridden",
    "approval_bypass_count": "bypasses",
    "cost_per_run_usd": "cost / run",
    "tokens_per_productive_step": "tokens / step",
    "steps_ran": "steps ran",
    "rollback_rate": "rolled back",
    "gates": "gates",
    "gates_decided": "decided",
}


def _cell(kpis: Any, key: str) -> str:
    return str(_FORMATS[_KIND_OF[key]](dig(kpis, *key.split("."))))


def control_section(control: Mapping[str, Any]) -> dict[str, Any]:
    """The control-plane KPIs as the report's tables (overall, per role, per tool, alerts)."""
    overall = dig(control, "overall") or {}
    bypass_detail = dig(overall, "bypasses") or {}
    detail = ", ".join(f"{k} {v}" for k, v in bypass_detail.items() if v)
    per_role = dig(control, "per_role") or {}
    per_tool = dig(control, "per_tool") or {}
    return {
        "overall": [
            {
                "id": key.replace(".", "-").replace("_", "-"),
                "title": title,
                "value": _cell(overall, key)
                + (f" ({detail})" if key == "approval_bypass_count" and detail else ""),
                "doc": doc,
            }
            for key, title, _, doc in _OVERALL
        ],
        "role_columns": [_SHORT[c] for c in _ROLE_COLUMNS],
        "roles": [(role, [_cell(k, c) for c in _ROLE_COLUMNS]) for role, k in per_role.items()],
        "tool_columns": [_SHORT[c] for c in _TOOL_COLUMNS],
        "tools": [(tool, [_cell(k, c) for c in _TOOL_COLUMNS]) for tool, k in per_tool.items()],
        "alerts": [str(dig(a, "message") or a) for a in dig(control, "alerts") or ()],
        "since": str(dig(control, "since") or "the start"),
        "until": str(dig(control, "until") or "the end"),
    }
