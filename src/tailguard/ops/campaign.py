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
4. interviews (:mod:`.campaign_interviews`): a replied candidate's interview is booked through
   ``schedule_interview`` (an approval gate, like a send) at a slot computed from the clock;
   once held, its outcome moves the candidacy (``interview``, then ``offer -> hired``,
   ``rejected``, or after the last no-show ``withdrawn``); a no-show is rebooked a bounded
   number of times;
5. outreach: the next due touch of each candidate (cadence, channel rotation) is queued and
   sent through ``send_message``, which waits at an approval gate; never past the daily cap,
   never past the budget (spent + committed);
6. finish: when the hires reach the objective (``objective_met``), when every candidate is
   done (``completed``), or when the budget cannot pay the next touch or interview
   (``budget_exhausted``), the campaign ends, its postmortem card goes to the compendium and
   the admin gets the exception summary.

Pause stops sends and resumptions; cancel ends the campaign and rejects what still waits.
Durability: the campaign's state and every send live in the database (:mod:`.campaign_store`);
a touch is queued once (primary key), and a queued touch left without its gate by a crash is
matched to the gate whose message carries its marker, so a restart never sends twice.

Replies and interview outcomes are simulated: deterministic draws from the campaign's seed, the
candidacy and the touch or attempt (35 % reply), standing in for the messaging provider's
webhook and the interviewer's report.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

from tailguard.clock import format_ts
from tailguard.compendium import Compendium, CompendiumWriter
from tailguard.control import ControlPlane, DecisionRequest, PendingCall, Run, StepOutcome
from tailguard.control import queries as control_queries
from tailguard.errors import ConflictError, PermissionDeniedError, TailguardError
from tailguard.ops import campaign_interviews as iv
from tailguard.ops.campaign_postmortem import CARDS_FILE, render
from tailguard.ops.campaign_spec import CampaignProfile, CampaignSpec, parse_spec
from tailguard.ops.campaign_store import CampaignRow, CampaignStore, SendRow

REPLY_RATE: Final = 0.35
TERMINAL: Final = ("completed", "cancelled", "budget_exhausted", "objective_met")
__all__ = [
    "CARDS_FILE",
    "REPLY_RATE",
    "TERMINAL",
    "Autopilot",
    "CampaignProfile",
    "CampaignSpec",
    "parse_spec",
    "replied",
]


def replied(seed: str, interest_id: str, touch: int) -> bool:
    """The simulated candidate's answer to one touch (deterministic)."""
    return iv.draw(seed, interest_id, touch, "reply") < REPLY_RATE


def _seed(row: CampaignRow) -> str:
    """What the campaign's simulated outcomes are drawn from (its seed)."""
    seed = row.spec.get("seed")
    return row.campaign_id if seed is None else f"seed-{seed}"


def _profile(row: CampaignRow) -> CampaignProfile:
    """The stored profile, with the defaults of fields added since it was stored."""
    return CampaignProfile.model_validate(row.spec["profile"])


def _marker(campaign_id: str, touch: int) -> str:
    return f"[{campaign_id} t{touch}]"


class Autopilot:
    """Campaigns on one control plane whose registry holds the recruiting tools.

    Args:
        control: the control plane (recruiting tools registered; approvers decide the gates).
        compendium: where postmortems go (None: no postmortem card).
        withdraw_as: the approver in whose name the autopilot rejects the gates still waiting
            when a campaign stops by itself (its objective met); None: they are cancelled in
            the campaign (never run by its passes) and listed as exceptions, for a person to
            reject in the inbox.
    """

    def __init__(
        self,
        control: ControlPlane,
        *,
        compendium: Compendium | None = None,
        withdraw_as: str | None = None,
    ) -> None:
        self.control = control
        self.clock = control.clock
        self.store = CampaignStore(control.ledger.engine)
        self.compendium = compendium
        self.withdraw_as = withdraw_as

    # ------------------------------------------------------------- lifecycle

    def create(self, spec: CampaignSpec) -> CampaignRow:
        """Store a new campaign (``draft`` until its recruiter approves the profile); without
        a seed, one is drawn so that its simulated outcomes are fixed from now on."""
        campaign_id = f"cmp-{uuid.uuid4().hex[:12]}"
        stored = spec.model_dump(mode="json")
        if stored.get("seed") is None:
            stored["seed"] = int(campaign_id[4:11], 16)
        row = self.store.create(campaign_id, spec.recruiter_id, stored, now=self.clock.now())
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
        """End the campaign: waiting sends and interviews are rejected (when ``by`` may decide
        them) and never run; the postmortem and the exception summary are written."""
        row = self._switch(campaign_id, "cancelled", ("draft", "active", "paused"))
        self._withdraw(campaign_id, by, reason="campaign cancelled")
        self._finish(self.store.get(campaign_id))
        return row

    def _withdraw(self, campaign_id: str, by: str | None, *, reason: str) -> None:
        """Cancel every queued or waiting row; reject its gate in ``by``'s name when given."""
        left: list[str] = []
        for send in self.store.sends(campaign_id):
            if send.status not in ("queued", "pending"):
                continue
            if send.gate_id and by is not None:
                with contextlib.suppress(TailguardError):
                    self.control.decide(send.gate_id, "reject", by, reason=reason)
                with contextlib.suppress(TailguardError):
                    self.control.cancel_approved(send.gate_id, by, reason=reason)
            elif send.gate_id:
                left.append(f"{_label(send)}: gate {send.gate_id} still waits ({reason})")
            self.store.set_send(campaign_id, send.interest_id, send.touch, status="cancelled")
        if left:
            self._add_exceptions(campaign_id, left)

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
        busy, short = self._interviews(row, run)
        if self._objective_met(row) or self._outreach(row, run, busy=busy, short=short):
            self._finish(self.store.get(campaign_id))
        return self.store.get(campaign_id)

    def _call(self, row: CampaignRow, run: Run, tool: str, args: dict[str, Any]) -> Any:
        result = self.control.execute(run, tool, args, requester_id=row.recruiter_id)
        if result.outcome is not StepOutcome.EXECUTED:
            raise ConflictError(f"{tool}: {result.outcome.value}: {result.reason}")
        return result.value

    def _move(self, row: CampaignRow, run: Run, interest_id: str, new: str) -> None:
        """One pipeline move; a refusal becomes an exception of the campaign."""
        try:
            self._call(
                row,
                run,
                "update_candidate_status",
                {"interestId": interest_id, "newStatus": new, "reason": row.campaign_id},
            )
        except TailguardError as exc:
            self._add_exceptions(row.campaign_id, [f"{interest_id} -> {new}: {exc}"])

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
        """Run approved sends and interviews (once each); record rejections and timeouts."""
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
                exceptions.append(f"{_label(s)}: {status}")
            self.store.set_send(row.campaign_id, s.interest_id, s.touch, status=status, now=now)
        if exceptions:
            self._add_exceptions(row.campaign_id, exceptions)

    def _pipeline(self, row: CampaignRow, run: Run) -> None:
        """Apply each sent touch's outcome to the candidacy's pipeline stage (once)."""
        sends = [s for s in self.store.sends(row.campaign_id) if not iv.is_interview(s)]
        done_reply = {s.interest_id for s in sends if s.outcome == "replied"}
        seed = _seed(row)
        for s in sends:
            if s.status != "sent" or s.outcome is not None:
                continue
            moves = []
            if s.touch == 0:
                moves.append("contacted")
            answer = s.interest_id not in done_reply and replied(seed, s.interest_id, s.touch)
            if answer:
                moves.append("screening")
                done_reply.add(s.interest_id)
            for new in moves:
                self._move(row, run, s.interest_id, new)
            self.store.set_send(
                row.campaign_id,
                s.interest_id,
                s.touch,
                outcome="replied" if answer else "no_reply",
            )

    def _interviews(self, row: CampaignRow, run: Run) -> tuple[bool, bool]:
        """Apply booked and held interviews to the pipeline, then book the next ones.

        Returns (an interview is under way, the budget could not pay one).
        """
        profile = _profile(row)
        seed, now = _seed(row), self.clock.now()
        for s in self.store.sends(row.campaign_id):
            if not iv.is_interview(s) or s.status != "sent":
                continue
            if s.outcome is None:  # just booked: the candidacy reaches the interview stage
                if iv.attempt_of(s) == 0:
                    self._move(row, run, s.interest_id, "interview")
                self.store.set_send(row.campaign_id, s.interest_id, s.touch, outcome="booked")
            elif s.outcome == "booked" and iv.is_due(s, now, profile.interview_lead_hours):
                held = iv.outcome(seed, s, profile.max_reschedules)
                for new in held.moves:
                    self._move(row, run, s.interest_id, new)
                self.store.set_send(row.campaign_id, s.interest_id, s.touch, outcome=held.result)
        sends = self.store.sends(row.campaign_id)
        if iv.tally(sends).hires >= row.spec["target_hires"]:
            return False, False
        committed = sum(s.cost_usd for s in sends if s.status in ("queued", "pending", "sent"))
        repliers = {s.interest_id for s in sends if s.outcome == "replied"}
        busy = short = False
        for iid in row.state["candidates"]:
            if iid not in repliers:
                continue
            mine = [s for s in sends if s.interest_id == iid and iv.is_interview(s)]
            for send in (s for s in mine if s.status == "queued"):  # queued before a restart
                self._book(row, run, send, profile)
            if iv.under_way(mine):
                busy = True
                continue
            attempt = iv.next_attempt(mine, profile.max_reschedules)
            if attempt is None:
                continue
            cost = profile.cost_per_interview_usd
            if committed + cost > profile.budget_usd + 1e-9:
                short = True
                continue
            touch = iv.INTERVIEW_TOUCH + attempt
            if self.store.queue(
                row.campaign_id, iid, touch, channel=iv.INTERVIEW_CHANNEL, cost_usd=cost, now=now
            ):
                committed += cost
                busy = True
                fresh = next(
                    s
                    for s in self.store.sends(row.campaign_id)
                    if s.interest_id == iid and s.touch == touch
                )
                self._book(row, run, fresh, profile)
        return busy, short

    def _objective_met(self, row: CampaignRow) -> bool:
        """When the hires reach the objective: stop (waiting work withdrawn)."""
        hires = iv.tally(self.store.sends(row.campaign_id)).hires
        if hires < row.spec["target_hires"]:
            return False
        if not self.store.update(
            row.campaign_id,
            now=self.clock.now(),
            status="objective_met",
            expect_status=("active",),
        ):
            return False
        self._record(row.campaign_id, "objective_met", {"hires": hires})
        self._withdraw(row.campaign_id, self.withdraw_as, reason="campaign objective met")
        return True

    def _outreach(self, row: CampaignRow, run: Run, *, busy: bool, short: bool) -> bool:
        """Queue and send the due touches; True when the campaign has nothing left to do
        (``busy``: an interview is under way; ``short``: the budget could not pay one)."""
        profile = row.spec["profile"]
        cost = float(profile["cost_per_send_usd"])
        now = self.clock.now()
        every = self.store.sends(row.campaign_id)
        sends = [s for s in every if not iv.is_interview(s)]
        by_candidate: dict[str, list[SendRow]] = {}
        for s in sends:
            by_candidate.setdefault(s.interest_id, []).append(s)
        committed = sum(s.cost_usd for s in every if s.status in ("queued", "pending", "sent"))
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = sum(1 for s in sends if s.queued_at >= midnight)
        open_work = busy or any(s.status in ("queued", "pending") for s in sends)
        blocked_by_budget = short
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
        status = "budget_exhausted" if blocked_by_budget else "completed"
        self.store.update(row.campaign_id, now=now, status=status, expect_status=("active",))
        self._record(row.campaign_id, status, {})
        return True

    def _send(self, row: CampaignRow, run: Run, send: SendRow) -> None:
        """Send one queued touch through ``send_message`` (it waits at its gate)."""
        marker = _marker(row.campaign_id, send.touch)
        self._gated(
            row,
            run,
            send,
            "send_message",
            {
                "interestId": send.interest_id,
                "channel": send.channel,
                "content": f"{marker} {row.spec['objective']} Interested? Reply YES to talk.",
            },
            lambda g: str(g.args.get("content", "")).startswith(marker),
        )

    def _book(self, row: CampaignRow, run: Run, send: SendRow, profile: CampaignProfile) -> None:
        """Book one queued interview through ``schedule_interview`` (it waits at its gate)."""
        when = iv.slot_text(send, profile.interview_lead_hours)
        self._gated(
            row,
            run,
            send,
            "schedule_interview",
            {"interestId": send.interest_id, "scheduledFor": when, "kind": profile.interview_kind},
            lambda g: g.args.get("scheduledFor") == when,
        )

    def _gated(
        self,
        row: CampaignRow,
        run: Run,
        send: SendRow,
        tool: str,
        args: dict[str, Any],
        same: Callable[[PendingCall], bool],
    ) -> None:
        """Call a gated tool for one queued row, or adopt the gate a crash left unrecorded."""
        mine = [
            g
            for g in control_queries.gates_of_runs(self.control.ledger.engine, [run.run_id])
            if g.tool_name == tool and g.args.get("interestId") == send.interest_id and same(g)
        ]
        if mine:  # called before a crash, its gate not yet recorded: adopt it
            gate_id: str | None = mine[0].gate_id
        else:
            result = self.control.execute(run, tool, args, requester_id=row.recruiter_id)
            gate_id = result.gate_id
            if gate_id is None:
                self.store.set_send(row.campaign_id, send.interest_id, send.touch, status="failed")
                self._add_exceptions(row.campaign_id, [f"{_label(send)}: {result.reason}"])
                return
        self.store.set_send(
            row.campaign_id, send.interest_id, send.touch, status="pending", gate_id=gate_id
        )

    # --------------------------------------------------------------- reports

    def approve_batch(
        self, campaign_id: str, approver_id: str, *, decision: str = "approve"
    ) -> int:
        """Decide every waiting send and interview of a campaign at once (the inbox's batch
        approval)."""
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
        """Progress, the funnel (replies, interviews, no-shows, hires) and the exception
        summary (JSON-ready)."""
        row = self.store.get(campaign_id)
        every = self.store.sends(campaign_id)
        sends = [s for s in every if not iv.is_interview(s)]
        count = {
            k: sum(1 for s in sends if s.status == k)
            for k in ("queued", "pending", "sent", "rejected", "expired", "failed", "cancelled")
        }
        contacted = {s.interest_id for s in sends if s.status == "sent"}
        replies = {s.interest_id for s in sends if s.outcome == "replied"}
        interviews = iv.tally(every)
        return {
            "campaign_id": campaign_id,
            "status": row.status,
            "objective": row.spec["objective"],
            "recruiter_id": row.recruiter_id,
            "target_hires": row.spec["target_hires"],
            "seed": row.spec.get("seed"),
            "profile": _profile(row).model_dump(mode="json"),
            "candidates": len(row.state.get("candidates", [])),
            "sends": count,
            "contacted": len(contacted),
            "replied": len(replies),
            "interviews": interviews.as_dict(),
            "no_shows": interviews.no_shows,
            "hires": interviews.hires,
            "spend_usd": round(sum(s.cost_usd for s in every if s.status == "sent"), 2),
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
            "summary": {
                k: summary[k]
                for k in ("sends", "contacted", "replied", "interviews", "hires", "spend_usd")
            },
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
                    lambda current: render(current, row, summary),
                    reason=f"postmortem of {row.campaign_id}",
                )
            finally:
                writer.finish(f"postmortem of {row.campaign_id}")
            state["postmortem"] = f"{CARDS_FILE}#campaign/{row.campaign_id}"
        self.store.update(row.campaign_id, now=self.clock.now(), state=state)
        with contextlib.suppress(TailguardError):
            run = self.control.get_run(str(row.state["run_id"]))
            ok = row.status in ("completed", "objective_met")
            self.control.finish_run(run, "completed" if ok else "aborted")


def _label(send: SendRow) -> str:
    """How an exception names a row: ``I-1 touch 2`` or ``I-1 interview 1``."""
    if iv.is_interview(send):
        return f"{send.interest_id} interview {iv.attempt_of(send) + 1}"
    return f"{send.interest_id} touch {send.touch}"
