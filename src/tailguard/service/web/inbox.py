"""What the approvals inbox shows of a gate, in an approver's words, and its edit form.

The inbox is a dense table built for volume: each gated call is described in plain words with
its money and target ("$25 apology credit to 5 customers"), its area, what triggered it (the
area agent's tail rule and the KPI value), what the week's budget has left, how long it has
waited and when it times out. Filters narrow it by area, tool, risk and amount. The edit form
is generated from the tool's JSON Schema (:func:`form_fields`) and read back with
:func:`args_of_form`; the control plane validates the result again before anything runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tailguard.errors import InvalidInputError

#: Money arguments, and whether they are paid once per item of another argument.
_MONEY = {
    "amount_usd": "customer_ids",
    "bonus_usd": None,
    "premium_usd": None,
    "cost_usd": None,
    "sign_on_usd": None,
}
#: How many a per-item payment is multiplied by: ``bonus_usd`` of a job offer is per job.
_PER_COUNT = {"bonus_usd": "jobs"}


def _usd(value: float) -> str:
    return f"${value:,.0f}" if float(value).is_integer() else f"${value:,.2f}"


def amount_of(args: Mapping[str, Any]) -> float | None:
    """Dollars the call commits at most (None: it names no money)."""
    total: float | None = None
    for name, per_item in _MONEY.items():
        value = args.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        times = 1
        if per_item is not None and isinstance(args.get(per_item), list | tuple):
            times = len(args[per_item]) or 1
        count = args.get(_PER_COUNT.get(name, ""))
        if isinstance(count, int) and not isinstance(count, bool) and count > 0:
            times = count
        total = (total or 0.0) + float(value) * times
    return total


def describe(tool_name: str, args: Mapping[str, Any]) -> str:
    """The call in plain words with its amount and target."""
    a = args

    def n(key: str) -> str:
        return _usd(float(a[key])) if isinstance(a.get(key), int | float) else "?"

    customers = a.get("customer_ids")
    if tool_name == "send_apology_credit" and isinstance(customers, list):
        who = f"{len(customers)} customer" + ("s" if len(customers) != 1 else "")
        return f"{n('amount_usd')} apology credit to {who}"
    if tool_name == "open_surge_pay_window":
        return f"{n('bonus_usd')} a job surge pay in zip {a.get('zip')} for {a.get('hours')} h"
    if tool_name == "offer_nearby_jobs":
        return f"Offer tech {a.get('tech_id')} {a.get('jobs')} nearby jobs at {n('bonus_usd')} each"
    if tool_name == "offer_surge_shift":
        return f"{n('premium_usd')} surge shift offer to tech {a.get('tech_id')}"
    if tool_name == "schedule_master_shadow":
        return f"{n('cost_usd')} master-tech shadow for tech {a.get('tech_id')}"
    if tool_name == "send_recruiting_sms":
        return (
            f"Text up to {a.get('max_messages')} dormant techs in zip {a.get('zip')} "
            f"({n('sign_on_usd')} sign-on)"
        )
    # Any other tool: its money, its name in words, and its target (the first ``*_id``).
    money = amount_of(a)
    words = tool_name.replace("_", " ")
    text = f"{_usd(money)} {words}" if money is not None else words[:1].upper() + words[1:]
    target = next(
        ((k, v) for k, v in a.items() if k.endswith("_id") and isinstance(v, str | int)), None
    )
    if target is not None:
        text += f" for {target[0][:-3].replace('_', ' ')} {target[1]}"
    return text


def _short(value: Any) -> str:
    if isinstance(value, list | tuple):
        return f"{len(value)} items"
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"


def trigger_text(decision: Mapping[str, Any] | None) -> str | None:
    """The tail rule (and the KPI value it saw) that made an area agent ask."""
    if not decision:
        return None
    trigger = str(decision.get("trigger") or "")
    ctx = decision.get("context") or {}
    kpis = ctx.get("kpis") if isinstance(ctx, Mapping) else None
    kpi = decision.get("outcome_kpi")
    value = None
    if isinstance(kpis, Mapping) and kpi in kpis:
        value = kpis[kpi]
    elif decision.get("baseline_value") is not None:
        value = decision["baseline_value"]
    if isinstance(value, int | float) and math.isfinite(value) and kpi:
        return f"{trigger} ({kpi} {value:.3g})"
    return trigger or None


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of ``now``'s ISO week (what weekly budgets count from)."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, kw_only=True, slots=True)
class InboxFilter:
    """The inbox's filters (each None: no filter)."""

    area: str | None = None
    tool: str | None = None
    risk: str | None = None
    min_usd: float | None = None
    max_usd: float | None = None

    @classmethod
    def of_query(cls, query: Mapping[str, str]) -> InboxFilter:
        """From the page's query string; a bad amount is a 422 with the field named."""

        def text(key: str) -> str | None:
            value = (query.get(key) or "").strip()
            return value or None

        def money(key: str) -> float | None:
            value = text(key)
            if value is None:
                return None
            try:
                out = float(value.lstrip("$").replace(",", ""))
            except ValueError:
                raise InvalidInputError(
                    f"{key} must be a number of dollars, not {value!r}", details={"field": key}
                ) from None
            if not math.isfinite(out) or out < 0:
                raise InvalidInputError(f"{key} must be >= 0", details={"field": key})
            return out

        return cls(
            area=text("area"),
            tool=text("tool"),
            risk=text("risk"),
            min_usd=money("min_usd"),
            max_usd=money("max_usd"),
        )

    def keeps(self, *, area: str | None, tool: str, risk: str, amount: float | None) -> bool:
        """Whether a row passes every filter (a call with no money fails an amount filter)."""
        if self.area is not None and area != self.area:
            return False
        if self.tool is not None and tool != self.tool:
            return False
        if self.risk is not None and risk != self.risk:
            return False
        if self.min_usd is not None and (amount is None or amount < self.min_usd):
            return False
        return not (self.max_usd is not None and (amount is None or amount > self.max_usd))

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for links and the live feed)."""
        out = {
            "area": self.area,
            "tool": self.tool,
            "risk": self.risk,
            "min_usd": None if self.min_usd is None else f"{self.min_usd:g}",
            "max_usd": None if self.max_usd is None else f"{self.max_usd:g}",
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True, kw_only=True, slots=True)
class FormField:
    """One input of a gate's edit form, generated from the tool's JSON Schema."""

    name: str
    kind: str  # number, integer, text, list, boolean, choice, json
    value: str
    required: bool
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    choices: tuple[str, ...] = ()
    description: str = ""


def form_fields(schema: Mapping[str, Any] | None, args: Mapping[str, Any]) -> list[FormField]:
    """The edit form of a call: one field per argument of the schema, filled with its value."""
    if not schema or not isinstance(schema.get("properties"), Mapping):
        return []
    required = set(schema.get("required") or ())
    out: list[FormField] = []
    for name, prop in schema["properties"].items():
        prop = prop if isinstance(prop, Mapping) else {}
        value = args.get(name)
        kind = _kind(prop)
        if kind == "list":
            shown = "\n".join(str(v) for v in value) if isinstance(value, list) else ""
        elif kind == "boolean":
            shown = "true" if value is True else ""
        elif kind == "json":
            import json

            shown = "" if value is None else json.dumps(value)
        else:
            shown = (
                "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
            )
        raw_items = prop.get("items")
        items: Mapping[str, Any] = raw_items if isinstance(raw_items, Mapping) else {}
        out.append(
            FormField(
                name=name,
                kind=kind,
                value=shown,
                required=name in required,
                minimum=_num(prop.get("minimum")),
                maximum=_num(prop.get("maximum")),
                min_length=_int(prop.get("minLength") or items.get("minLength")),
                max_length=_int(prop.get("maxLength")),
                min_items=_int(prop.get("minItems")),
                choices=tuple(str(c) for c in prop.get("enum") or ()),
                description=str(prop.get("description") or ""),
            )
        )
    return out


def _kind(prop: Mapping[str, Any]) -> str:
    if prop.get("enum"):
        return "choice"
    t = prop.get("type")
    if t in ("number", "integer", "boolean"):
        return str(t)
    if t == "string":
        return "text"
    items = prop.get("items")
    if t == "array" and isinstance(items, Mapping) and items.get("type") in ("string", None):
        return "list"
    return "json"


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def args_of_form(schema: Mapping[str, Any], form: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments an edit form posted (fields ``arg.<name>``), typed by the schema.

    Raises:
        InvalidInputError: a field that is not of its type (the field is named).
    """
    import json

    out: dict[str, Any] = {}
    for field in form_fields(schema, {}):
        key = f"arg.{field.name}"
        if field.kind == "boolean":
            out[field.name] = key in form
            continue
        raw = str(form.get(key) or "").strip()
        if raw == "":
            if field.required:
                raise InvalidInputError(f"{field.name} is required", details={"field": field.name})
            continue
        try:
            if field.kind == "number":
                out[field.name] = float(raw)
            elif field.kind == "integer":
                out[field.name] = int(raw)
            elif field.kind == "list":
                out[field.name] = [
                    p.strip() for p in raw.replace(",", "\n").splitlines() if p.strip()
                ]
            elif field.kind == "json":
                out[field.name] = json.loads(raw)
            else:
                out[field.name] = raw
        except ValueError:
            raise InvalidInputError(
                f"{field.name}: {raw!r} is not a valid {field.kind}", details={"field": field.name}
            ) from None
    return out
