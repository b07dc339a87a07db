"""The demo's OKR levers: applied by the area agents each week, scored against their forecast.

At each week's end the demo closes the levers of the week now ending (``okr_lever`` records),
runs the weekly cycle (which scores last week's OKR and its levers, and commits next week's),
waits for the commitment and has the area agents apply the new levers from the first hour of
the next week (:class:`tailguard.agents.levers.LeverActions`). The levers committed at the last
week's end would run in a week the demo does not simulate: they are not in ``okr_levers``.

``summary.json``'s ``okr_levers`` lists every lever that was due to run, with ``week`` the demo
week it ran in (2 for the levers of week 1's OKR), ``applied`` (at least one of its calls
executed), ``forecast`` (mean and 80 % interval of the change of its key result's KPI) and
``outcome`` (that KPI's change over the week; null when unscored), plus ``kpi``,
``outcome_vs_others``, ``inside_80``, ``cost_usd`` and ``calls``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from tailguard.agents.levers import RECORD_KIND, LeverActions
from tailguard.agents.simdownstream import SimulatorDownstream
from tailguard.agents.world import AgentWorld
from tailguard.ledger import Ledger


class DemoLevers:
    """The agents-on arm's lever actions (see the module docstring)."""

    def __init__(self, world: AgentWorld) -> None:
        agent = SimulatorDownstream(world.sim)
        self.actions = LeverActions(
            control=world.control,
            ledger=world.ledger,
            catalogue=world.agents.catalogue,
            scorecard=world.agents.scorecard,
            signals=world.agents.signals,
            downstream=lambda: agent,
            clock=world.clock,
        )
        self.calls = 0

    def hour(self) -> None:
        """After the hour's approvals: resume approved lever calls."""
        self.actions.reconcile()

    def close_week(self) -> None:
        """Before the week's cycle: record what the week's levers did."""
        self.actions.close_week()

    def apply(self, as_of: datetime) -> None:
        """After the week's cycle has committed: carry out next week's levers."""
        self.calls += self.actions.apply_week(as_of.date().isoformat())


def okr_levers(ledger: Ledger, start: datetime) -> list[dict[str, Any]]:
    """``summary.json``'s ``okr_levers``: every lever record with its score (module docstring)."""
    scored: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in ledger.records(kind="okr"):
        f = rec.fields
        if f.get("status") != "scored":
            continue
        for lv in f.get("levers", []) or []:
            scored[(str(f["okr_id"]), str(lv["lever_id"]))] = dict(lv)
    out: list[dict[str, Any]] = []
    latest: dict[str, dict[str, Any]] = {}
    for rec in ledger.records(kind=RECORD_KIND):
        latest[rec.record_id] = dict(rec.fields)
    for f in sorted(latest.values(), key=lambda r: (r["week_of"], r["area_id"], r["lever_id"])):
        s = scored.get((str(f["okr_id"]), str(f["lever_id"])), {})
        out.append(
            {
                "area_id": f["area_id"],
                "week": week_number(start, f["week_of"]),
                "week_of": f["week_of"],
                "lever_id": f["lever_id"],
                "category": f.get("category"),
                "kpi": f.get("kpi"),
                "applied": bool(f.get("applied")),
                "forecast": s.get("forecast"),
                "outcome": s.get("outcome"),
                "outcome_vs_others": s.get("outcome_vs_others"),
                "inside_80": s.get("inside_80"),
                "cost_usd": f.get("cost_usd"),
                "forecast_cost_usd": f.get("forecast_cost_usd"),
                "calls": f.get("counts", {}),
            }
        )
    return out


def week_number(start: datetime, week_of: str) -> int:
    """The demo week (1-based) a lever committed on ``week_of`` runs in."""
    days = (date.fromisoformat(week_of) - start.date()).days
    return max(1, round(days / 7)) + 1


def lever_overview(levers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts for the summary and the report: levers, applied share, calibration, cost."""
    n = len(levers)
    applied = [lv for lv in levers if lv.get("applied")]
    scored = [lv for lv in applied if lv.get("outcome") is not None and lv.get("forecast")]
    inside = [lv for lv in scored if lv.get("inside_80")]
    return {
        "levers": n,
        "applied": len(applied),
        "applied_pct": None if n == 0 else round(100.0 * len(applied) / n, 1),
        "scored": len(scored),
        "inside_80_pct": None if not scored else round(100.0 * len(inside) / len(scored), 1),
        "cost_usd": round(sum(float(lv.get("cost_usd") or 0.0) for lv in levers), 2),
        "forecast_cost_usd": round(
            sum(float(lv.get("forecast_cost_usd") or 0.0) for lv in applied), 2
        ),
    }


def by_lever(levers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per lever id: runs, applied, mean forecast and mean outcome of the applied ones."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for lv in levers:
        groups.setdefault(str(lv["lever_id"]), []).append(lv)
    rows: list[dict[str, Any]] = []
    for lever_id, items in sorted(groups.items()):
        done = [i for i in items if i.get("applied") and i.get("outcome") is not None]
        fc = [float(i["forecast"]["mean"]) for i in done if i.get("forecast")]
        rows.append(
            {
                "lever_id": lever_id,
                "kpi": items[0].get("kpi"),
                "runs": len(items),
                "applied": sum(bool(i.get("applied")) for i in items),
                "cost_usd": round(sum(float(i.get("cost_usd") or 0.0) for i in items), 2),
                "forecast_mean": _mean(fc),
                "outcome_mean": _mean([float(i["outcome"]) for i in done]),
                "vs_others_mean": _mean(
                    [
                        float(i["outcome_vs_others"])
                        for i in done
                        if i.get("outcome_vs_others") is not None
                    ]
                ),
                "inside_80": sum(bool(i.get("inside_80")) for i in done),
                "scored": len(done),
            }
        )
    return rows


def _mean(xs: Sequence[float]) -> float | None:
    return None if not xs else round(sum(xs) / len(xs), 3)
