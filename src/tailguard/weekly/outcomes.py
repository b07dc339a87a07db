"""What each OKR lever moved, against its forecast, and the lever priors it updates.

A week after an OKR is committed the area agent has carried its levers out
(:mod:`tailguard.agents.levers`, one ``okr_lever`` ledger record per lever: calls, cost,
``applied``) and the weekly cycle scores it. Per lever:

* ``forecast``: the simulated effect on the key result's KPI, mean and 80 % interval
  (``p10``, ``p90``), in the KPI's unit (the playbook's draws);
* ``outcome``: what the KPI did, ``realised - baseline`` (this week's scorecard against the
  value the OKR was written on): a before/after change, which also holds the hourly
  interventions and the network's own drift;
* ``outcome_vs_others``: the same change minus the median change of that KPI over the areas
  whose OKR did not aim at it that week (a difference in differences: the network's drift is
  taken out). This is the observation that updates the lever's prior;
* ``inside_80``: whether the outcome fell inside the forecast's 80 % interval.

:func:`lever_priors` turns every applied lever's ``outcome_vs_others`` of past weeks into a
normal-normal update of the lever's effect on that KPI (:func:`~.playbook.posterior`), on top
of what the self-learn store taught; the playbook then simulates with the updated effect, and
the OKR and pack show prior and posterior.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from tailguard.ledger import Ledger
from tailguard.weekly.library import LeverLibrary
from tailguard.weekly.playbook import LearnedEffect, posterior

LEVER_KIND = "okr_lever"


def lever_records(ledger: Ledger, week_of: str) -> dict[str, list[dict[str, Any]]]:
    """The ``okr_lever`` records of a week, by area (the latest record per lever)."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in ledger.records(kind=LEVER_KIND):
        if rec.fields.get("week_of") == week_of:
            latest[rec.record_id] = dict(rec.fields)
    out: dict[str, list[dict[str, Any]]] = {}
    for fields in latest.values():
        out.setdefault(str(fields["area_id"]), []).append(fields)
    return out


def kpi_changes(
    this: Mapping[str, Mapping[str, Any]], last: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, float]]:
    """``{area: {kpi: this - last}}`` for every KPI both weeks have a value of."""
    out: dict[str, dict[str, float]] = {}
    for area, row in this.items():
        before = last.get(area)
        if before is None:
            continue
        for kpi, value in row.items():
            old = before.get(kpi)
            if kpi == "area_id" or not isinstance(value, int | float):
                continue
            if not isinstance(old, int | float) or not _num(value) or not _num(old):
                continue
            out.setdefault(area, {})[kpi] = float(value) - float(old)
    return out


def score_levers(
    okr: Mapping[str, Any],
    score: Mapping[str, Any],
    records: Iterable[Mapping[str, Any]],
    others: Mapping[str, float],
) -> list[dict[str, Any]]:
    """Forecast against outcome for each lever of one scored OKR (see the module docstring).

    Args:
        okr: the committed OKR.
        score: its score (:func:`~.okr.score_okr`).
        records: the area's ``okr_lever`` records of that week (none: the levers did not run).
        others: per KPI, the median change over the areas whose OKR did not aim at it.
    """
    ran = {str(r["lever_id"]): r for r in records}
    realised = {str(k.get("kr_id")): k for k in score.get("key_results", [])}
    out: list[dict[str, Any]] = []
    for kr in okr.get("key_results", []):
        lever_id = str(kr.get("lever_id"))
        lever: Mapping[str, Any] = next(
            (lv for lv in okr.get("levers", []) if lv.get("lever_id") == lever_id), {}
        )
        kpi = kr.get("kpi")
        forecast = _forecast(kr, lever)
        got = realised.get(str(kr.get("kr_id")), {})
        base, value = kr.get("baseline"), got.get("realised")
        outcome = None if base is None or value is None else round(float(value) - base, 4)
        drift = others.get(str(kpi)) if kpi else None
        record = ran.get(lever_id)
        out.append(
            {
                "lever_id": lever_id,
                "category": lever.get("category", kr.get("category")),
                "kpi": kpi,
                "applied": bool(record and record.get("applied")),
                "ran": record is not None,
                "calls": (record or {}).get("counts", {}),
                "cost_usd": (record or {}).get("cost_usd"),
                "forecast_cost_usd": (lever.get("cost") or {}).get("mean"),
                "forecast": forecast,
                "outcome": outcome,
                "outcome_vs_others": (
                    None if outcome is None or drift is None else round(outcome - drift, 4)
                ),
                "inside_80": (
                    None
                    if outcome is None or forecast is None
                    else forecast["p10"] <= outcome <= forecast["p90"]
                ),
            }
        )
    return out


def others_drift(
    okrs: Mapping[str, Mapping[str, Any]], changes: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """Per KPI, the median change over areas whose OKR had no key result on it."""
    aimed: dict[str, set[str]] = {}
    for area, okr in okrs.items():
        for kr in okr.get("key_results", []):
            if kr.get("kpi"):
                aimed.setdefault(str(kr["kpi"]), set()).add(area)
    kpis = {k for row in changes.values() for k in row}
    out: dict[str, float] = {}
    for kpi in kpis:
        vals = [
            row[kpi] for a, row in changes.items() if kpi in row and a not in aimed.get(kpi, ())
        ]
        if len(vals) >= 3:
            out[kpi] = float(statistics.median(vals))
    return out


def lever_priors(
    library: LeverLibrary,
    results: Iterable[Mapping[str, Any]],
    learned: Mapping[str, Mapping[str, LearnedEffect]],
) -> dict[str, dict[str, LearnedEffect]]:
    """Update the levers' effects by the measured outcomes of applied levers.

    Each applied lever's ``outcome_vs_others`` is one observation of its effect on its key
    result's KPI; the prior is the self-learn store's update when there is one, else the
    library's effect. Relative effects and levers no longer in the library are left alone.
    """
    obs: dict[tuple[str, str], list[float]] = {}
    for r in results:
        value = r.get("outcome_vs_others")
        if r.get("applied") and r.get("kpi") and isinstance(value, int | float) and _num(value):
            obs.setdefault((str(r["lever_id"]), str(r["kpi"])), []).append(float(value))
    out = {k: dict(v) for k, v in learned.items()}
    for (lever_id, kpi), xs in sorted(obs.items()):
        lever = library.levers.get(lever_id)
        effect = None if lever is None else next((e for e in lever.effects if e.kpi == kpi), None)
        if effect is None or effect.relative:
            continue
        before = out.get(lever_id, {}).get(kpi)
        mean, sd = (before.mean, before.sd) if before is not None else (effect.mean, effect.sd)
        post = posterior(mean, sd, xs)
        out.setdefault(lever_id, {})[kpi] = LearnedEffect(
            mean=post.mean,
            sd=post.sd,
            n=post.n + (before.n if before is not None else 0),
            prior_mean=effect.mean,
            prior_sd=effect.sd,
        )
    return out


def past_results(ledger: Ledger, before_week_of: str) -> list[dict[str, Any]]:
    """Every lever result stored with a scored OKR of a week before ``before_week_of``."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rec in ledger.records(kind="okr"):
        f = rec.fields
        if f.get("status") != "scored" or str(f.get("week_of")) >= before_week_of:
            continue
        if rec.record_id in seen:
            continue
        seen.add(rec.record_id)
        out.extend(dict(r) for r in f.get("levers", []) or [])
    return out


def _forecast(kr: Mapping[str, Any], lever: Mapping[str, Any]) -> dict[str, float] | None:
    kpi = kr.get("kpi")
    eff = (lever.get("kpi_effects") or {}).get(kpi) if kpi else None
    if isinstance(eff, Mapping) and all(_num(eff.get(k)) for k in ("mean", "p10", "p90")):
        return {k: round(float(eff[k]), 4) for k in ("mean", "p10", "p90")}
    base = kr.get("baseline")
    if base is None or kr.get("target") is None:
        return None
    return {
        "mean": round(float(kr["target"]) - base, 4),
        "p10": round(float(kr.get("target_p10", kr["target"])) - base, 4),
        "p90": round(float(kr.get("target_p90", kr["target"])) - base, 4),
    }


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
