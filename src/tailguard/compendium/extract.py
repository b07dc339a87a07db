"""Deterministic extraction: from the ledger and the self-learn store to pattern cards and flags.

Cards (all numbers from the records, none from a model):

* **role x tool** (department = the role's): runs of a role that executed a tool, and the
  ``quality_score`` of their outcomes (0-100). The reference is the product document's bar
  of 60: *proven* when at least ``min_n`` runs and the 95 % interval lies wholly above or
  wholly below 60, else *suspected*. Evidence: the ``outcome`` record ids.
* **intervention kind x outcome KPI** (department ``ops-<kind>``): executed decisions with a
  measured outcome; the effect is the signed change of the target KPI between decision and
  horizon (better is positive: :data:`tailguard.learning.arms.LOWER_IS_BETTER` flips the
  sign). *Proven* when at least ``min_n`` decisions and the interval excludes 0. Evidence: the
  decisions' ``step`` record ids. This is the measured change after acting, not a causal
  effect against holding (the learning loop's off-policy evaluation is that).
* **cluster x kind x KPI** (department ``cluster-<area type>``): the same within one area type.

Any card whose newest evidence is older than ``retire_days`` is *retired*.

The 95 % interval is the normal one: mean +/- 1.96 x sample SD / sqrt(n) (n = 1: the point).

Regressions: a role whose outcomes over the last ``window_days`` average below 50
(``role_quality``, at least ``min_flag_n`` outcomes); an intervention kind whose mean measured
effect on a KPI was >= 0 before the window and is < 0 inside it (``effect_negative``, at least
``min_flag_n`` decisions on each side).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from tailguard.clock import format_ts, parse_ts
from tailguard.compendium.cards import Card, Effect
from tailguard.compendium.tree import cluster_department, ops_department
from tailguard.learning import SelfLearnStore
from tailguard.learning.arms import LOWER_IS_BETTER
from tailguard.ledger import Ledger

QUALITY_BAR: Final = 60.0
REGRESSION_QUALITY: Final = 50.0
EVIDENCE_LISTED: Final = 5
RECRUITING_ROLES: Final = ("recruiter", "carrier", "driver", "admin")
CURATOR_ROLE: Final = "curator"


@dataclass(frozen=True, kw_only=True, slots=True)
class CuratorSettings:
    """How the curator judges.

    Attributes:
        min_n: observations before a card can be proven.
        retire_days: a card whose newest evidence is older is retired.
        window_days: the rolling window of the regression flags.
        min_flag_n: observations a flag needs on each side.
        every_runs: the automatic trigger: curate after this many finished runs (0: off).
        nightly: the automatic trigger: curate once per simulated or real night.
    """

    min_n: int = 10
    retire_days: float = 28.0
    window_days: float = 7.0
    min_flag_n: int = 3
    every_runs: int = 0
    nightly: bool = False


def interval(values: Sequence[float], measure: str) -> Effect:
    """Mean and normal 95 % interval of ``values`` (see the module docstring)."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return Effect(measure=measure, mean=mean, lo=mean, hi=mean, n=n)
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = 1.96 * math.sqrt(var / n)
    return Effect(measure=measure, mean=mean, lo=mean - half, hi=mean + half, n=n)


def _status(effect: Effect, ref: float, newest: datetime, now: datetime, s: CuratorSettings) -> str:
    if now - newest > timedelta(days=s.retire_days):
        return "retired"
    if effect.n >= s.min_n and (effect.lo > ref or effect.hi < ref):
        return "proven"
    return "suspected"


@dataclass(frozen=True, kw_only=True, slots=True)
class Draft:
    """A card as computed, before it meets the file: its department and its card."""

    department: str
    topic: str
    card: Card


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFact:
    """A finished run with its evaluated outcome."""

    run_id: str
    role: str
    outcome_id: str
    quality: float
    evaluated_at: datetime
    tools: tuple[str, ...]


def run_facts(ledger: Ledger) -> list[RunFact]:
    """Every run with an outcome: its role, latest quality score and executed tools."""
    roles: dict[str, str] = {}
    for r in ledger.records(kind="run"):
        roles[r.record_id] = str(r.fields["role"])
    # The curator's own runs are not knowledge about the agents.
    mine = {run_id for run_id, role in roles.items() if role == CURATOR_ROLE}
    tools: dict[str, set[str]] = defaultdict(set)
    for r in ledger.records(kind="step"):
        if r.fields.get("status") == "executed":
            tools[str(r.fields["run_id"])].add(str(r.fields["tool_name"]))
    outcomes: dict[str, tuple[str, float, datetime]] = {}
    for r in ledger.records(kind="outcome"):
        f = r.fields
        outcomes[str(f["run_id"])] = (
            r.record_id,
            float(f["quality_score"]),
            parse_ts(str(f["evaluated_at"])),
        )
    return [
        RunFact(
            run_id=run_id,
            role=roles.get(run_id, "unknown"),
            outcome_id=oid,
            quality=q,
            evaluated_at=when,
            tools=tuple(sorted(tools.get(run_id, ()))),
        )
        for run_id, (oid, q, when) in sorted(outcomes.items(), key=lambda kv: (kv[1][2], kv[0]))
        if run_id not in mine
    ]


def role_department(role: str) -> str:
    """Where a role's cards go: its own department for the recruiting roles, else ``admin``."""
    return role if role in RECRUITING_ROLES else "admin"


def role_cards(facts: Iterable[RunFact], now: datetime, s: CuratorSettings) -> list[Draft]:
    """One card per (role, executed tool)."""
    groups: dict[tuple[str, str], list[RunFact]] = defaultdict(list)
    for f in facts:
        for tool in f.tools:
            groups[(f.role, tool)].append(f)
    out = []
    for (role, tool), runs in sorted(groups.items()):
        effect = interval([r.quality for r in runs], "quality_score")
        newest = max(r.evaluated_at for r in runs)
        status = _status(effect, QUALITY_BAR, newest, now, s)
        verdict = "scores at or above 60" if effect.mean >= QUALITY_BAR else "scores below 60"
        recent = sorted(runs, key=lambda r: (r.evaluated_at, r.outcome_id))[-EVIDENCE_LISTED:]
        out.append(
            Draft(
                department=role_department(role),
                topic="tool-outcomes",
                card=Card(
                    card_id=f"role-{role}/{tool}",
                    title=f"{tool} in {role} runs {verdict}",
                    status=status,
                    context=f"{role} runs that executed {tool}; quality score of the run's outcome",
                    effect=effect,
                    evidence=tuple(r.outcome_id for r in recent),
                    evidence_total=len(runs),
                    last_updated=format_ts(now),
                ),
            )
        )
    return out


@dataclass(frozen=True, kw_only=True, slots=True)
class DecisionFact:
    """An executed decision with a measured outcome."""

    decision_id: str
    kind: str
    cluster: str
    kpi: str
    delta: float
    step_id: str
    measured_at: datetime


def decision_facts(store: SelfLearnStore) -> list[DecisionFact]:
    """Executed decisions with a measured outcome, signed so that better is positive."""
    out = []
    after = None
    while True:
        rows = store.list_interventions(status="executed", limit=10_000, after=after)
        for row in rows:
            if row["outcome_value"] is None or row["baseline_value"] is None:
                continue
            if not row["outcome_kpi"] or not row["step_id"] or not row["measured_at"]:
                continue
            kpi = str(row["outcome_kpi"])
            sign = -1.0 if kpi in LOWER_IS_BETTER else 1.0
            bucket = str((row["context"] or {}).get("bucket") or "unknown|-")
            out.append(
                DecisionFact(
                    decision_id=row["decision_id"],
                    kind=row["kind"],
                    cluster=bucket.split("|", 1)[0] or "unknown",
                    kpi=kpi,
                    delta=sign * (float(row["outcome_value"]) - float(row["baseline_value"])),
                    step_id=row["step_id"],
                    measured_at=parse_ts(row["measured_at"]),
                )
            )
        if len(rows) < 10_000:
            return out
        after = rows[-1]["seq"]


def _kind_card(
    card_id: str,
    title_of: str,
    context: str,
    facts: list[DecisionFact],
    now: datetime,
    s: CuratorSettings,
) -> Card:
    kpi = facts[0].kpi
    effect = interval([f.delta for f in facts], f"{kpi}_change")
    newest = max(f.measured_at for f in facts)
    verb = "improves" if effect.mean > 0 else ("worsens" if effect.mean < 0 else "leaves")
    recent = sorted(facts, key=lambda f: (f.measured_at, f.step_id))[-EVIDENCE_LISTED:]
    return Card(
        card_id=card_id,
        title=f"{title_of} {verb} {kpi}",
        status=_status(effect, 0.0, newest, now, s),
        context=context,
        effect=effect,
        evidence=tuple(f.step_id for f in recent),
        evidence_total=len(facts),
        last_updated=format_ts(now),
    )


def kind_cards(facts: Iterable[DecisionFact], now: datetime, s: CuratorSettings) -> list[Draft]:
    """One card per (kind, KPI) and one per (area type, kind, KPI)."""
    by_kind: dict[tuple[str, str], list[DecisionFact]] = defaultdict(list)
    by_cluster: dict[tuple[str, str, str], list[DecisionFact]] = defaultdict(list)
    for f in facts:
        by_kind[(f.kind, f.kpi)].append(f)
        by_cluster[(f.cluster, f.kind, f.kpi)].append(f)
    out = []
    for (kind, kpi), group in sorted(by_kind.items()):
        dept = ops_department(kind)
        context = f"executed {kind} decisions, change of {kpi} from decision to horizon"
        card = _kind_card(f"{dept}/{kpi}", kind, context, group, now, s)
        out.append(Draft(department=dept, topic="effects", card=card))
    for (cluster, kind, kpi), group in sorted(by_cluster.items()):
        dept = cluster_department(cluster)
        context = f"executed {kind} decisions in {cluster} areas, change of {kpi}"
        card = _kind_card(f"{dept}/{kind}/{kpi}", f"{kind} ({cluster})", context, group, now, s)
        out.append(Draft(department=dept, topic="kind-effects", card=card))
    return out


def regressions(
    runs: Sequence[RunFact], decisions: Sequence[DecisionFact], now: datetime, s: CuratorSettings
) -> list[dict[str, Any]]:
    """The regression flags of the module docstring, sorted."""
    start = now - timedelta(days=s.window_days)
    flags: list[dict[str, Any]] = []
    recent: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        if start < r.evaluated_at <= now:
            recent[r.role].append(r.quality)
    for role, scores in sorted(recent.items()):
        mean = math.fsum(scores) / len(scores)
        if len(scores) >= s.min_flag_n and mean < REGRESSION_QUALITY:
            flags.append(
                {
                    "type": "role_quality",
                    "department": role_department(role),
                    "subject": role,
                    "value": round(mean, 2),
                    "threshold": REGRESSION_QUALITY,
                    "n": len(scores),
                    "window_days": s.window_days,
                }
            )
    before: dict[tuple[str, str], list[float]] = defaultdict(list)
    inside: dict[tuple[str, str], list[float]] = defaultdict(list)
    for d in decisions:
        if d.measured_at > now:
            continue
        (inside if d.measured_at > start else before)[(d.kind, d.kpi)].append(d.delta)
    for key in sorted(set(before) & set(inside)):
        old, new = before[key], inside[key]
        if len(old) < s.min_flag_n or len(new) < s.min_flag_n:
            continue
        old_mean, new_mean = math.fsum(old) / len(old), math.fsum(new) / len(new)
        if old_mean >= 0 > new_mean:
            flags.append(
                {
                    "type": "effect_negative",
                    "department": ops_department(key[0]),
                    "subject": f"{key[0]} on {key[1]}",
                    "value": round(new_mean, 4),
                    "previous": round(old_mean, 4),
                    "threshold": 0.0,
                    "n": len(new),
                    "window_days": s.window_days,
                }
            )
    return flags
