"""The recruiter autopilot: a durable outreach campaign over the recruiting domain.

A recruiter creates a campaign with an objective and a policy profile (channels, cadence,
touches per candidate, daily send cap, budget) and approves the profile; from then on each
:meth:`Autopilot.advance` (a scheduler's tick, or ``tailguard ops campaign advance``) does, as
the recruiter's governed run:

1. orchestrate (once): the recruiter's leads (``get_pipeline``) and the carriers' market
   context (``get_market_intel``, the cross-role signal);
2. reconcile: sends whose gate a person decided (batch approval in the inbox) are run, each
   exactly once (the gate's claim); rejected and timed-out sends are recorded as exceptions;
3. pipeline: each sent touch's outcome moves the candidacy (``update_candidate_status``:
   ``lead -> contacted`` on the first touch, ``contacted -> screening`` on a reply);
4. outreach: the next due touch of each candidate (cadence, channel rotation) is queued and
   sent through ``send_message``, which waits at an approval gate; never past the daily cap,
   never past the budget (spent + committed);
5. finish: when every candidate replied or had all touches, or the budget cannot pay the next
   touch, the campaign ends, its postmortem card goes to the compendium and the admin gets the
   exception summary.

Pause stops sends and resumptions; cancel ends the campaign and rejects what still waits.
Durability: the campaign's state and every send live in the database (:mod:`.campaign_store`);
a touch is queued once (primary key), and a queued touch left without its gate by a crash is
matched to the gate whose message carries its marker, so a restart never sends twice.

Replies are simulated: a reply is a deterministic draw from the campaign, candidacy and touch
(35 %), standing in for the messaging provider's webhook.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import uuid
from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tailguard.clock import format_ts
from tailguard.compendium import Compendium, CompendiumWriter
from tailguard.compendium.cards import Card, Effect, parse_cards, render_cards
from tailguard.control import ControlPlane, DecisionRequest, Run, StepOutcome
from tailguard.control import queries as control_queries
from tailguard.errors import ConflictError, InvalidInputError, PermissionDeniedError, TailguardError
from tailguard.ops.campaign_store import CampaignRow, CampaignStore, SendRow

REPLY_RATE: Final = 0.35
TERMINAL: Final = ("completed", "cancelled", "budget_exhausted")
CARDS_FILE: Final = "recruiting/patterns/campaigns.md"


class CampaignProfile(BaseModel):
    """The policy profile a recruiter approves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: list[Literal["sms", "email", "in_app"]] = Field(min_length=1, max_length=3)
    cadence_hours: int = Field(ge=1, le=336)
    touches: int = Field(ge=1, le=6)
    daily_send_cap: int = Field(ge=1, le=10_000)
    budget_usd: float = Field(gt=0, le=1_000_000)
    cost_per_send_usd: float = Field(default=1.0, ge=0, le=1000)


class CampaignSpec(BaseModel):
    """A campaign as a recruiter asks for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objective: str = Field(min_length=1, max_length=400)
    recruiter_id: str = Field(pattern="^[A-Za-z0-9_-]{1,64}$")
    target_hires: int = Field(ge=1, le=1000)
    max_candidates: int = Field(default=20, ge=1, le=500)
    region: str | None = Field(default=None, max_length=64)
    profile: CampaignProfile


def parse_spec(data: Mapping[str, Any]) -> CampaignSpec:
    """Validate a campaign request.

    Raises:
        InvalidInputError: with the first problem's field and reason.
    """
    try:
        return CampaignSpec.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise InvalidInputError(
            f"campaign: {where}: {first['msg']}", details={"errors": exc.errors()}
        ) from None


def replied(campaign_id: str, interest_id: str, touch: int) -> bool:
    """The simulated candidate's answer to one touch (deterministic)."""
    digest = hashlib.sha256(f"{campaign_id}|{interest_id}|{touch}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < REPLY_RATE


def _marker(campaign_id: str, touch: int) -> str:
    return f"[{campaign_id} t{touch}]"


class Autopilot:
    """Campaigns on one control plane whose registry holds the recruiting tools.

    Args:
        control: the control plane (recruiting tools registered; approvers decide the gates).
        compendium: where postmortems go (None: no postmortem card).
    """

    def __init__(self, control: ControlPlane, *, compendium: Compendium | None = None) -> None:
        self.control = control
        self.clock = control.clock
        self.store = CampaignStore(control.ledger.engine)
        self.compendium = compendium

    # ------------------------------------------------------------- lifecycle

    def create(self, spec: CampaignSpec) -> CampaignRow:
        """Store a new campaign (``draft`` until its recruiter approves the profile)."""
        campaign_id = f"cmp-{uuid.uuid4().hex[:12]}"
        row = self.store.create(
            campaign_id, spec.recruiter_id, spec.model_dump(mode="json"), now=self.clock.now()
        )
        self._record(row.campaign_id, "draft", {})
        return row

    def approve_profile(self, campaign_id: str, by: str) -> CampaignRow:
        """The campaign's recruiter approves its policy profile: the campaign becomes active.

        Raises:
            PermissionDeniedError: someone else tries.
            ConflictError: the campaign is not a draft.
        """
        row = self.store.get(campaign_id)
        if by != row.recruiter_id:
            raise PermissionDeniedError(f"only {row.recruiter_id} approves this campaign's profile")
        run = self.control.start_run(
            "recruiter", row.recruiter_id, f"campaign {campaign_id}: {row.spec['objective']}"
        )
        state = {**row.state, "run_id": run.run_id, "profile_approved_by": by}
        if not self.store.update(
            campaign_id,
            now=self.clock.now(),
            status="active",
            state=state,
            expect_status=("draft",),
        ):
            self.control.finish_run(run, "aborted")
            raise ConflictError(f"campaign {campaign_id} is not a draft")
        self._record(campaign_id, "active", {"profile_approved_by": by})
        return self.store.get(campaign_id)

    def pause(self, campaign_id: str) -> CampaignRow:
        """Stop sending and resuming until :meth:`resume`."""
        return self._switch(campaign_id, "paused", ("active",))

    def resume(self, campaign_id: str) -> CampaignRow:
        """Carry on after :meth:`pause`."""
        return self._switch(campaign_id, "active", ("paused",))

    def cancel(self, campaign_id: str, by: str) -> CampaignRow:
        """End the campaign: waiting sends are rejected (when ``by`` may decide them) and never
        run; the postmortem and the exception summary are written."""
        row = self._switch(campaign_id, "cancelled", ("draft", "active", "paused"))
        for send in self.store.sends(campaign_id):
            if send.status not in ("queued", "pending"):
                continue
            if send.gate_id:
                with contextlib.suppress(TailguardError):
                    self.control.decide(send.gate_id, "reject", by, reason="campaign cancelled")
                with contextlib.suppress(TailguardError):
                    self.control.cancel_approved(send.gate_id, by, reason="campaign cancelled")
            self.store.set_send(campaign_id, send.interest_id, send.touch, status="cancelled")
        self._finish(self.store.get(campaign_id))
        return row

    def _switch(self, campaign_id: str, status: str, from_: tuple[str, ...]) -> CampaignRow:
        if not self.store.update(
            campaign_id, now=self.clock.now(), status=status, expect_status=from_
        ):
            raise ConflictError(
                f"campaign {campaign_id} is {self.store.get(campaign_id).status}, "
                f"not {' or '.join(from_)}"
            )
        self._record(campaign_id, status, {})
        return self.store.get(campaign_id)

    # --------------------------------------------------------------- advance

    def advance(self, campaign_id: str) -> CampaignRow:
        """One pass of the workflow at the clock's now (see the module docstring)."""
        row = self.store.get(campaign_id)
        if row.status != "active":
            return row
        run = self.control.get_run(str(row.state["run_id"]))
        if "candidates" not in row.state:
            row = self._orchestrate(row, run)
        self._reconcile(row)
        self._pipeline(row, run)
        if self._outreach(row, run):
            self._finish(self.store.get(campaign_id))
        return self.store.get(campaign_id)

    def _call(self, row: CampaignRow, run: Run, tool: str, args: dict[str, Any]) -> Any:
        result = self.control.execute(run, tool, args, requester_id=row.recruiter_id)
        if result.outcome is not StepOutcome.EXECUTED:
            raise ConflictError(f"{tool}: {result.outcome.value}: {result.reason}")
        return result.value

    def _orchestrate(self, row: CampaignRow, run: Run) -> CampaignRow:
        spec = row.spec
        pipeline = self._call(row, run, "get_pipeline", {"stage": "lead", "limit": 100})
        candidates = [c["interest_id"] for c in pipeline["candidates"]][: spec["max_candidates"]]
        intel_args = {"region": spec["region"]} if spec.get("region") else {}
        intel = self._call(row, run, "get_market_intel", intel_args)
        state = {
            **row.state,
            "candidates": candidates,
            "market": str(intel.get("summary", ""))[:400],
            "exceptions": [],
        }
        self.store.update(row.campaign_id, now=self.clock.now(), state=state)
        return self.store.get(row.campaign_id)

    def _reconcile(self, row: CampaignRow) -> None:
        """Run approved sends (once each); record rejections and timeouts."""
        waiting = [
            s for s in self.store.sends(row.campaign_id) if s.status == "pending" and s.gate_id
        ]
        if not waiting:
            return
        self.control.expire_gates(
            self.clock.now(), gate_ids=[s.gate_id for s in waiting if s.gate_id]
        )
        decisions = control_queries.gate_decisions(
            self.control.ledger.engine, [s.gate_id for s in waiting if s.gate_id]
        )
        approved = [s for s in waiting if decisions[str(s.gate_id)].decision == "approved"]
        results = self.control.resume_batch([str(s.gate_id) for s in approved]) if approved else {}
        now = self.clock.now()
        exceptions: list[str] = []
        for s in waiting:
            decision = decisions[str(s.gate_id)].decision
            if decision == "pending":
                continue
            if decision == "approved":
                result = results.get(str(s.gate_id))
                ok = (
                    not isinstance(result, TailguardError)
                    and result is not None
                    and (result.outcome is StepOutcome.EXECUTED)
                )
                status = "sent" if ok else "failed"
            else:
                status = "rejected" if decision == "rejected" else "expired"
            if status != "sent":
                exceptions.append(f"{s.interest_id} touch {s.touch}: {status}")
            self.store.set_send(row.campaign_id, s.interest_id, s.touch, status=status, now=now)
        if exceptions:
            self._add_exceptions(row.campaign_id, exceptions)

    def _pipeline(self, row: CampaignRow, run: Run) -> None:
        """Apply each sent touch's outcome to the candidacy's pipeline stage (once)."""
        sends = self.store.sends(row.campaign_id)
        done_reply = {s.interest_id for s in sends if s.outcome == "replied"}
        for s in sends:
            if s.status != "sent" or s.outcome is not None:
                continue
            moves = []
            if s.touch == 0:
                moves.append("contacted")
            answer = s.interest_id not in done_reply and replied(
                row.campaign_id, s.interest_id, s.touch
            )
            if answer:
                moves.append("screening")
                done_reply.add(s.interest_id)
            for new in moves:
                try:
                    self._call(
                        row,
                        run,
                        "update_candidate_status",
                        {"interestId": s.interest_id, "newStatus": new, "reason": row.campaign_id},
                    )
                except TailguardError as exc:
                    self._add_exceptions(row.campaign_id, [f"{s.interest_id} -> {new}: {exc}"])
            self.store.set_send(
                row.campaign_id,
                s.interest_id,
                s.touch,
                outcome="replied" if answer else "no_reply",
            )

    def _outreach(self, row: CampaignRow, run: Run) -> bool:
        """Queue and send the due touches; True when the campaign has nothing left to do."""
        profile = row.spec["profile"]
        cost = float(profile["cost_per_send_usd"])
        now = self.clock.now()
        sends = self.store.sends(row.campaign_id)
        by_candidate: dict[str, list[SendRow]] = {}
        for s in sends:
            by_candidate.setdefault(s.interest_id, []).append(s)
        committed = sum(s.cost_usd for s in sends if s.status in ("queued", "pending", "sent"))
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = sum(1 for s in sends if s.queued_at >= midnight)
        open_work = any(s.status in ("queued", "pending") for s in sends)
        blocked_by_budget = False
        for iid in row.state["candidates"]:
            mine = by_candidate.get(iid, [])
            queued = [s for s in mine if s.status == "queued"]
            for send in queued:  # queued before a restart: send (or adopt its gate) now
                self._send(row, run, send)
            if queued or any(s.status == "pending" for s in mine):
                open_work = True
                continue
            if any(s.outcome == "replied" for s in mine) or len(mine) >= profile["touches"]:
                continue
            if mine and mine[-1].status != "sent":
                continue  # a person rejected it, or it expired or failed: the sequence ends
            if mine and mine[-1].outcome is None:
                open_work = True
                continue
            if mine and mine[-1].sent_at is not None:
                due = mine[-1].sent_at.timestamp() + profile["cadence_hours"] * 3600
                if now.timestamp() < due:
                    open_work = True
                    continue
            if today >= profile["daily_send_cap"]:
                open_work = True
                continue
            if committed + cost > profile["budget_usd"] + 1e-9:
                blocked_by_budget = True
                continue
            touch = len(mine)
            channel = profile["channels"][touch % len(profile["channels"])]
            if self.store.queue(
                row.campaign_id, iid, touch, channel=channel, cost_usd=cost, now=now
            ):
                committed += cost
                today += 1
                open_work = True
                fresh = next(
                    s
                    for s in self.store.sends(row.campaign_id)
                    if s.interest_id == iid and s.touch == touch
                )
                self._send(row, run, fresh)
        if open_work:
            return False
        if blocked_by_budget:
            self.store.update(
                row.campaign_id, now=now, status="budget_exhausted", expect_status=("active",)
            )
            self._record(row.campaign_id, "budget_exhausted", {})
        else:
            self.store.update(
                row.campaign_id, now=now, status="completed", expect_status=("active",)
            )
            self._record(row.campaign_id, "completed", {})
        return True

    def _send(self, row: CampaignRow, run: Run, send: SendRow) -> None:
        """Send one queued touch through ``send_message`` (it waits at its gate)."""
        marker = _marker(row.campaign_id, send.touch)
        mine = [
            g
            for g in control_queries.gates_of_runs(self.control.ledger.engine, [run.run_id])
            if g.tool_name == "send_message"
            and g.args.get("interestId") == send.interest_id
            and str(g.args.get("content", "")).startswith(marker)
        ]
        if mine:  # sent before a crash, its gate not yet recorded: adopt it
            gate_id: str | None = mine[0].gate_id
        else:
            result = self.control.execute(
                run,
                "send_message",
                {
                    "interestId": send.interest_id,
                    "channel": send.channel,
                    "content": f"{marker} {row.spec['objective']} Interested? Reply YES to talk.",
                },
                requester_id=row.recruiter_id,
            )
            gate_id = result.gate_id
            if gate_id is None:
                self.store.set_send(row.campaign_id, send.interest_id, send.touch, status="failed")
                self._add_exceptions(
                    row.campaign_id, [f"{send.interest_id} touch {send.touch}: {result.reason}"]
                )
                return
        self.store.set_send(
            row.campaign_id, send.interest_id, send.touch, status="pending", gate_id=gate_id
        )

    # --------------------------------------------------------------- reports

    def approve_batch(
        self, campaign_id: str, approver_id: str, *, decision: str = "approve"
    ) -> int:
        """Decide every waiting send of a campaign at once (the inbox's batch approval)."""
        gates = [
            s.gate_id
            for s in self.store.sends(campaign_id)
            if s.status == "pending" and s.gate_id is not None
        ]
        results = self.control.decide_many(
            [DecisionRequest(gate_id=g, decision=decision, approver_id=approver_id) for g in gates]
        )
        return sum(1 for r in results if not isinstance(r, TailguardError))

    def summary(self, campaign_id: str) -> dict[str, Any]:
        """Progress and the exception summary (JSON-ready)."""
        row = self.store.get(campaign_id)
        sends = self.store.sends(campaign_id)
        count = {
            k: sum(1 for s in sends if s.status == k)
            for k in ("queued", "pending", "sent", "rejected", "expired", "failed", "cancelled")
        }
        contacted = {s.interest_id for s in sends if s.status == "sent"}
        replies = {s.interest_id for s in sends if s.outcome == "replied"}
        return {
            "campaign_id": campaign_id,
            "status": row.status,
            "objective": row.spec["objective"],
            "recruiter_id": row.recruiter_id,
            "profile": row.spec["profile"],
            "candidates": len(row.state.get("candidates", [])),
            "sends": count,
            "contacted": len(contacted),
            "replied": len(replies),
            "spend_usd": round(sum(s.cost_usd for s in sends if s.status == "sent"), 2),
            "budget_usd": row.spec["profile"]["budget_usd"],
            "market": row.state.get("market"),
            "exceptions": list(row.state.get("exceptions", [])),
            "postmortem": row.state.get("postmortem"),
        }

    def _add_exceptions(self, campaign_id: str, items: list[str]) -> None:
        row = self.store.get(campaign_id)
        state = {**row.state, "exceptions": [*row.state.get("exceptions", []), *items][-200:]}
        self.store.update(campaign_id, now=self.clock.now(), state=state)

    def _record(self, campaign_id: str, status: str, extra: Mapping[str, Any]) -> None:
        self.control.ledger.append(
            "campaign",
            {
                "campaign_id": campaign_id,
                "status": status,
                "at": format_ts(self.clock.now()),
                **extra,
            },
        )

    def _finish(self, row: CampaignRow) -> None:
        """Postmortem card, exception summary, and the run closed."""
        summary = self.summary(row.campaign_id)
        state = {
            **row.state,
            "summary": {k: summary[k] for k in ("sends", "contacted", "replied", "spend_usd")},
        }
        if self.compendium is not None:
            writer = CompendiumWriter(
                control=self.control,
                compendium=self.compendium,
                role="curator",
                initiator_id="recruiter-autopilot",
                goal=f"postmortem of {row.campaign_id}",
            )
            try:
                writer.write(
                    CARDS_FILE,
                    lambda current: _render(current, row, summary),
                    reason=f"postmortem of {row.campaign_id}",
                )
            finally:
                writer.finish(f"postmortem of {row.campaign_id}")
            state["postmortem"] = f"{CARDS_FILE}#campaign/{row.campaign_id}"
        self.store.update(row.campaign_id, now=self.clock.now(), state=state)
        with contextlib.suppress(TailguardError):
            run = self.control.get_run(str(row.state["run_id"]))
            self.control.finish_run(run, "completed" if row.status == "completed" else "aborted")


def _wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p, z = k / n, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (100 * (centre - half), 100 * (centre + half))


def _render(current: str | None, row: CampaignRow, summary: Mapping[str, Any]) -> str:
    cards = parse_cards(current, CARDS_FILE) if current else []
    card_id = f"campaign/{row.campaign_id}"
    n, k = int(summary["contacted"]), int(summary["replied"])
    lo, hi = _wilson(k, n)
    card = Card(
        card_id=card_id,
        title=f"Campaign {row.campaign_id}: {row.spec['objective'][:80]}",
        status="suspected",
        context=(
            f"{summary['status']} campaign of {row.recruiter_id}; channels "
            f"{', '.join(row.spec['profile']['channels'])}, {row.spec['profile']['touches']} "
            f"touches every {row.spec['profile']['cadence_hours']} h; spent "
            f"${summary['spend_usd']:.2f} of ${row.spec['profile']['budget_usd']:.2f}; "
            f"{len(summary['exceptions'])} exceptions"
        ),
        effect=Effect(measure="reply_rate_pct", mean=100 * k / n if n else 0.0, lo=lo, hi=hi, n=n),
        evidence=(row.campaign_id,),
        evidence_total=1,
        last_updated=format_ts(row.updated_at),
    )
    others = [c for c in cards if c.card_id != card_id]
    return render_cards(
        "Recruiting: campaign postmortems",
        "One card per finished campaign of the recruiter autopilot (docs/operations.md).",
        [*others, card],
    )
