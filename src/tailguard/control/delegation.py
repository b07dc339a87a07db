"""Deciding gates by delegated approval policy: versions in the ledger, a sweep, its counts.

An admin's policies (:mod:`.approval_policies`) are registered in the ledger, each version an
``approval_policy`` record; an unchanged rule keeps its version, a changed one gets the next.
:class:`PolicyDecider` then sweeps the pending gates of the tools the policies name. Each gate
is assessed once, across processes (a row keyed by the gate, and a ``gate_detail`` record with
the verdict and its reason, written in one transaction under the policy's lock so caps are
never overspent by two sweeps at once):

* ``approve``: the policy covers it; it is decided through :meth:`ControlPlane.decide_many`
  as ``policy:<name>@v<version>``, exactly as a person's decision is checked and recorded
  (the policy is never the requester, and only its own tools are its to decide);
* ``sample``: covered, but drawn for a person's review (the draw is a hash of the policy, the
  call's arguments, its area and day: reproducible, and a retried request draws the same);
* ``outside``: a limit or cap does not hold, or the spend or area is unreadable: a person
  decides, and the inbox shows why.

:class:`DelegatedApprovers` admits a policy's identity for its own tools and asks the people's
approvers about everyone else, so with no person configured only covered gates are decided.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tailguard.clock import format_ts
from tailguard.control.approval_policies import POLICY_PREFIX, ApprovalPolicy
from tailguard.control.gates import Approvers
from tailguard.control.results import DecisionRequest, PendingCall
from tailguard.control.store import gates, policy_reviews, rows_by_key, to_micros
from tailguard.control.tools import canonical_json
from tailguard.errors import ConflictError, PermissionDeniedError, TailguardError
from tailguard.ledger import Ledger

#: The ledger record kind of a policy version.
RECORD_KIND = "approval_policy"
_AREA_AGENT = "area-agent:"
#: A policy's verdicts on a gate it assessed.
_VERDICTS = ("approve", "sample", "outside")


@dataclass(frozen=True, kw_only=True, slots=True)
class ActivePolicy:
    """A policy with its version in the ledger."""

    policy: ApprovalPolicy
    version: int

    @property
    def identity(self) -> str:
        """Who its decisions are recorded as: ``policy:<name>@v<version>``."""
        return f"{POLICY_PREFIX}{self.policy.name}@v{self.version}"


def register_policies(
    ledger: Ledger, policies: Sequence[ApprovalPolicy], *, registered_by: str, source: str = ""
) -> list[ActivePolicy]:
    """Give each policy its version, recording a new version only when its rule changed.

    Args:
        ledger: the ledger.
        policies: the parsed policies.
        registered_by: who loaded them (recorded).
        source: where they came from (a file name; recorded).
    """
    active: list[ActivePolicy] = []
    # One transaction holding the chain head's lock from the first read: two processes
    # loading the same changed file (the service and an agents runner) cannot both read v1 and
    # both record a v2; the second waits, then finds the first's version unchanged.
    with ledger.transaction() as tx:
        tx.lock_head()
        for policy in policies:
            last = tx.latest(RECORD_KIND, policy.name)
            digest = policy.digest()
            if last is not None and last.fields.get("sha256") == digest:
                active.append(ActivePolicy(policy=policy, version=int(last.fields["version"])))
                continue
            version = 1 if last is None else int(last.fields["version"]) + 1
            item = ActivePolicy(policy=policy, version=version)
            active.append(item)
            tx.append(
                RECORD_KIND,
                {
                    "approval_policy_id": policy.name,
                    "version": version,
                    "identity": item.identity,
                    "sha256": digest,
                    "rule": policy.rule(),
                    "summary": policy.summary(),
                    "registered_by": registered_by,
                    "source": source,
                },
            )
    return active


def policy_versions(ledger: Any) -> list[dict[str, Any]]:
    """Every recorded policy version, oldest first (for an audit page or a report)."""
    return [
        {**r.fields, "recorded_at": format_ts(r.recorded_at)}
        for r in ledger.records(kind=RECORD_KIND)
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class DelegatedApprovers:
    """People's approvers, plus each active policy for the tools it names (only those)."""

    policies: tuple[ActivePolicy, ...]
    people: Approvers | None = None

    def can_decide(self, approver_id: str, *, tool_name: str, risk_level: str) -> bool:
        """A policy identity for its own tools; anyone else as the people's approvers say."""
        if approver_id.startswith(POLICY_PREFIX):
            return any(
                a.identity == approver_id and tool_name in a.policy.tools for a in self.policies
            )
        if self.people is None:
            return False
        return self.people.can_decide(approver_id, tool_name=tool_name, risk_level=risk_level)


@dataclass(slots=True)
class PolicySweep:
    """What one sweep did."""

    assessed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_VERDICTS, 0))
    approved: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # gate -> why the decision failed


def area_of(call: PendingCall) -> str | None:
    """The planning area a gated call acts for: its ``area_id`` argument, or its area agent."""
    area = call.args.get("area_id")
    if isinstance(area, str) and area:
        return area
    if call.initiator_id.startswith(_AREA_AGENT):
        return call.initiator_id[len(_AREA_AGENT) :] or None
    return None


def sampled(policy: ApprovalPolicy, call: PendingCall, area: str | None, day: str) -> bool:
    """Whether the call is drawn for review: a hash of policy, tool, arguments, area and day."""
    if policy.sample_pct <= 0:
        return False
    key = "|".join((policy.name, call.tool_name, canonical_json(call.args), area or "", day))
    draw = int(hashlib.sha256(key.encode()).hexdigest()[:15], 16) / float(16**15)
    return draw < policy.sample_pct / 100.0


class PolicyDecider:
    """Decide the gates the active policies cover (see the module docstring).

    Args:
        control: the control plane (its approvers must admit the policies' identities:
            :class:`DelegatedApprovers`).
        policies: the active policies (:func:`register_policies`).
    """

    def __init__(self, control: Any, policies: Sequence[ActivePolicy]) -> None:
        self.control = control
        self.policies = tuple(policies)
        self._by_tool = {t: a for a in self.policies for t in a.policy.tools}

    def sweep(self, now: datetime | None = None) -> PolicySweep:
        """Assess the gates not yet assessed, then decide the covered ones still pending."""
        now = now or self.control.clock.now()
        report = PolicySweep()
        pending = [
            c
            for c in self.control.pending_gates()
            if c.tool_name in self._by_tool and (c.expires_at is None or now < c.expires_at)
        ]
        if not pending:
            return report
        ids = [c.gate_id for c in pending]
        with self.control.ledger.transaction() as tx:
            conn = tx.conn
            for name in sorted({self._by_tool[c.tool_name].policy.name for c in pending}):
                self.control.store.lock(conn, f"approval_policy:{name}")
            known = rows_by_key(conn, policy_reviews.c.gate_id, ids)
            fresh = sorted(
                (c for c in pending if c.gate_id not in known),
                key=lambda c: (c.presented_at, c.gate_id),
            )
            rows, records = self._assess_all(conn, fresh, now)
            if rows:
                conn.execute(sa.insert(policy_reviews), rows)
                tx.append_many(records)
        verdicts = {gid: (r.verdict, r.policy, r.version, r.reason) for gid, r in known.items()}
        for row in rows:
            verdicts[row["gate_id"]] = (
                row["verdict"],
                row["policy"],
                row["version"],
                row["reason"],
            )
            report.assessed[row["verdict"]] += 1
        requests = [
            DecisionRequest(gid, "approve", f"{POLICY_PREFIX}{name}@v{version}", None, reason)
            for gid in ids
            for verdict, name, version, reason in [verdicts[gid]]
            if verdict == "approve"
        ]
        if not requests:
            return report
        for request, outcome in zip(requests, self.control.decide_many(requests), strict=True):
            if isinstance(outcome, TailguardError):
                if not isinstance(outcome, ConflictError | PermissionDeniedError):
                    raise outcome
                report.refused[request.gate_id] = outcome.message
            else:
                report.approved.append(request.gate_id)
        return report

    def _assess_all(
        self, conn: sa.Connection, fresh: Sequence[PendingCall], now: datetime
    ) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]:
        days = sorted({format_ts(c.presented_at)[:10] for c in fresh})
        names = sorted({self._by_tool[c.tool_name].policy.name for c in fresh})
        spent: dict[tuple[str, str | None, str], int] = {}
        if fresh:
            c = policy_reviews.c
            for name, area, day, micros in conn.execute(
                sa.select(c.policy, c.area_id, c.day, sa.func.sum(c.spend_micros))
                .where(c.verdict == "approve", c.policy.in_(names), c.day.in_(days))
                .group_by(c.policy, c.area_id, c.day)
            ):
                spent[(name, area, day)] = int(micros or 0)
        rows: list[dict[str, Any]] = []
        records: list[tuple[str, dict[str, Any]]] = []
        for call in fresh:
            active = self._by_tool[call.tool_name]
            day = format_ts(call.presented_at)[:10]
            area = area_of(call)
            verdict, reason, micros = self._assess(active.policy, call, area, day, spent)
            if verdict == "approve":
                spent[(active.policy.name, area, day)] = (
                    spent.get((active.policy.name, area, day), 0) + micros
                )
            rows.append(
                {
                    "gate_id": call.gate_id,
                    "policy": active.policy.name,
                    "version": active.version,
                    "verdict": verdict,
                    "reason": reason,
                    "area_id": area,
                    "day": day,
                    "spend_micros": micros,
                    "assessed_at": now.timestamp(),
                }
            )
            records.append(
                (
                    "gate_detail",
                    {
                        "gate_detail_id": call.gate_id,
                        "run_id": call.run_id,
                        "policy_id": active.identity,
                        "policy_verdict": verdict,
                        "policy_reason": reason,
                    },
                )
            )
        return rows, records

    @staticmethod
    def _assess(
        policy: ApprovalPolicy,
        call: PendingCall,
        area: str | None,
        day: str,
        spent: dict[tuple[str, str | None, str], int],
    ) -> tuple[str, str, int]:
        """``(verdict, reason in plain words, spend in micro-dollars)``."""
        label = policy.name
        for limit in policy.limits:
            why = limit.breach(call.args)
            if why is not None:
                return "outside", f"outside {label}: {why}", 0
        usd = policy.spend(call.args)
        if usd is None:
            return "outside", f"outside {label}: its spend cannot be read", 0
        micros = to_micros(usd)
        if policy.area_day_usd is not None:
            if area is None:
                return "outside", f"outside {label}: the call names no area", 0
            before = spent.get((policy.name, area, day), 0)
            cap = to_micros(policy.area_day_usd)
            if before + micros > cap:
                return (
                    "outside",
                    f"outside {label}: ${usd:,.2f} would bring area {area} to "
                    f"${(before + micros) / 1e6:,.2f} on {day}, over ${policy.area_day_usd:,.0f}",
                    micros,
                )
        if policy.day_usd is not None:
            total = sum(m for (n, _a, d), m in spent.items() if n == policy.name and d == day)
            if total + micros > to_micros(policy.day_usd):
                return (
                    "outside",
                    f"outside {label}: the day's policy-approved spend would pass "
                    f"${policy.day_usd:,.0f}",
                    micros,
                )
        if sampled(policy, call, area, day):
            return (
                "sample",
                f"within {label}, sampled ({policy.sample_pct:g} %) for a person's review",
                micros,
            )
        spend = f" (${usd:,.2f})" if policy.spend_arg is not None else ""
        return "approve", f"within approval policy {label}{spend}", micros


def review_counts(control: Any) -> dict[str, Any]:
    """Counts of the policies' assessments and of how people decided the sampled gates.

    ``sampled_override_rate`` is the share of sampled gates a person decided (approved or
    rejected) that they rejected or approved with edits: how often the policy's "approve"
    would have been wrong. None while no sampled gate is decided.
    """
    r, g = policy_reviews.c, gates.c
    with control.store.read() as conn:
        verdicts = dict(
            conn.execute(sa.select(r.verdict, sa.func.count()).group_by(r.verdict)).all()
        )
        sampled_rows = conn.execute(
            sa.select(g.decision, g.edited)
            .select_from(policy_reviews.join(gates, gates.c.gate_id == r.gate_id))
            .where(r.verdict == "sample")
        ).all()
    decided = [row for row in sampled_rows if row.decision in ("approved", "rejected")]
    overridden = sum(1 for row in decided if row.decision == "rejected" or row.edited)
    return {
        "assessed": {v: int(verdicts.get(v, 0)) for v in _VERDICTS},
        "sampled_decided": len(decided),
        "sampled_overridden": overridden,
        "sampled_override_rate": None if not decided else round(overridden / len(decided), 4),
    }


def review_notes(control: Any, gate_ids: Sequence[str]) -> dict[str, str]:
    """gate id -> the policy's note on it, for an inbox ("sampled for review by ...")."""
    if not gate_ids:
        return {}
    with control.store.read() as conn:
        rows = rows_by_key(conn, policy_reviews.c.gate_id, gate_ids)
    return {gid: f"{row.reason} (v{row.version})" for gid, row in rows.items()}
