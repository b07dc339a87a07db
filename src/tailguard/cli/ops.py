"""CLI commands: ``tailguard ops drill | incidents`` (INTERFACES.md section 6), thin over
:mod:`tailguard.ops`."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from tailguard.cli._common import FORMAT_OPTION, OutputFormat, emit_json, require_ledger

_DB = typer.Option(
    ...,
    "--db",
    envvar="TAILGUARD_DB",
    help="Ledger URL: sqlite:///path.db, a bare path, or postgresql://...",
)


class Fault(enum.StrEnum):
    """The faults a drill can inject."""

    hanging_downstream = "hanging_downstream"
    budget_burn = "budget_burn"
    harmful_policy = "harmful_policy"
    gate_backlog = "gate_backlog"


class Decision(enum.StrEnum):
    """What the drill's scripted approver answers at the remedy's gate."""

    approve = "approve"
    reject = "reject"


def drill(
    fault: Fault = typer.Option(..., "--fault", help="The fault to inject."),
    db: str = _DB,
    directory: Path | None = typer.Option(
        None,
        "--compendium-dir",
        file_okay=False,
        help="Where the incident card is written (default: beside a SQLite ledger).",
    ),
    decision: Decision = typer.Option(
        Decision.approve, "--decision", help="The scripted approver's answer at the remedy gate."
    ),
    seed: int = typer.Option(7, "--seed", min=0, help="The simulated deployment's seed."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Inject a fault into a small simulated deployment and run self-healing end to end.

    The reliability agent detects the fault from the deployment's signals, triages it against
    the compendium, proposes a governed remedy that waits at an approval gate, applies it once
    the scripted approver approves, verifies that the signal recovered and writes the incident
    to the compendium.
    """
    from tailguard.ops.drill import run_drill

    result = run_drill(
        fault.value, db, compendium_dir=directory, decision=decision.value, seed=seed
    )
    if fmt is OutputFormat.json:
        emit_json(result)
        return
    typer.echo(
        f"{result['fault']}: detected={result['detected']} remedy={result['remedy']} "
        f"gate={result['gate_id']} approved_by={result['approved_by']} "
        f"verified={result['verified']} status={result['status']}"
    )
    if result["compendium_entry"]:
        typer.echo(f"compendium: {result['compendium_entry']}")


def incidents(
    db: str = _DB,
    open_only: bool = typer.Option(False, "--open", help="Only incidents not closed."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The self-healing incidents recorded in a database, oldest first."""
    from tailguard.ledger import Ledger
    from tailguard.ops.store import OpsStore

    require_ledger(db)
    with Ledger.open(db, create=False) as ledger:
        rows = OpsStore(ledger.engine).incidents(open_only=open_only)
    payload = [
        {
            "incident_id": r.incident_id,
            "fault": r.fault,
            "status": r.status,
            "step": r.step,
            "opened_at": r.opened_at.isoformat(),
            "remedy": r.state.get("remedy"),
            "gate_id": r.state.get("gate_id"),
            "verified": r.state.get("verified"),
        }
        for r in rows
    ]
    if fmt is OutputFormat.json:
        emit_json({"incidents": payload})
        return
    for p in payload:
        typer.echo(f"{p['incident_id']} {p['fault']} {p['status']} remedy={p['remedy']}")


# ------------------------------------------------------------------ campaigns

_CAMPAIGN = typer.Argument(..., help="The campaign id (cmp-...).")


@contextmanager
def _autopilot(db: str, withdraw_as: str | None = None) -> Iterator[Any]:
    from tailguard.compendium import Compendium, default_dir
    from tailguard.ops.campaign import Autopilot
    from tailguard.roles.session import open_chat

    stack = open_chat(db)
    try:
        yield Autopilot(
            stack.control, compendium=Compendium(default_dir(db)), withdraw_as=withdraw_as
        )
    finally:
        stack.close()


_WITHDRAW_AS = typer.Option(
    None,
    "--withdraw-as",
    help=(
        "An approver in whose name the waiting gates are rejected when the campaign meets its "
        "objective (default: they stay in the inbox, listed as exceptions)."
    ),
)


def _show(payload: dict[str, Any], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        emit_json(payload)
        return
    sends, iv = payload["sends"], payload["interviews"]
    typer.echo(
        f"{payload['campaign_id']} [{payload['status']}] {payload['objective']}\n"
        f"  candidates {payload['candidates']}, contacted {payload['contacted']}, "
        f"replied {payload['replied']}; sends: {sends['sent']} sent, {sends['pending']} "
        f"waiting for approval, {sends['rejected']} rejected; "
        f"spend ${payload['spend_usd']:.2f} of ${payload['budget_usd']:.2f}\n"
        f"  interviews: {iv['booked']} booked, {iv['pending']} waiting for approval, "
        f"{iv['attended']} attended, {iv['no_shows']} no-shows ({iv['rescheduled']} "
        f"rescheduled); hires {payload['hires']} of {payload['target_hires']}"
    )
    for item in payload["exceptions"]:
        typer.echo(f"  exception: {item}")


def campaign_create(
    db: str = _DB,
    objective: str = typer.Option(..., "--objective", help="What the campaign is for."),
    recruiter: str = typer.Option(..., "--recruiter", help="The recruiter's user id (rec-001)."),
    target_hires: int = typer.Option(..., "--target-hires", help="Hires wanted."),
    channels: str = typer.Option("sms,email", "--channels", help="Comma list: sms, email, in_app."),
    cadence_hours: int = typer.Option(48, "--cadence-hours", help="Hours between touches."),
    touches: int = typer.Option(3, "--touches", help="Touches per candidate."),
    daily_cap: int = typer.Option(20, "--daily-cap", help="Sends per day at most."),
    budget: float = typer.Option(..., "--budget", help="Budget in USD."),
    cost_per_send: float = typer.Option(1.0, "--cost-per-send", help="USD per send."),
    max_candidates: int = typer.Option(20, "--max-candidates", help="Leads to work."),
    interview_kind: str = typer.Option("phone", "--interview-kind", help="phone, video or onsite."),
    interview_lead_hours: int = typer.Option(
        48, "--interview-lead-hours", help="Hours at least between booking and the slot."
    ),
    max_reschedules: int = typer.Option(
        1, "--max-reschedules", help="Interviews rebooked after a no-show, at most (0-3)."
    ),
    cost_per_interview: float = typer.Option(
        0.0, "--cost-per-interview", help="USD per interview booked."
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Seed of the simulated replies and interview outcomes."
    ),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Create a campaign (a draft until its recruiter approves the profile)."""
    from tailguard.ops.campaign import parse_spec

    spec = parse_spec(
        {
            "objective": objective,
            "recruiter_id": recruiter,
            "target_hires": target_hires,
            "max_candidates": max_candidates,
            "seed": seed,
            "profile": {
                "channels": [c.strip() for c in channels.split(",") if c.strip()],
                "cadence_hours": cadence_hours,
                "touches": touches,
                "daily_send_cap": daily_cap,
                "budget_usd": budget,
                "cost_per_send_usd": cost_per_send,
                "interview_kind": interview_kind,
                "interview_lead_hours": interview_lead_hours,
                "max_reschedules": max_reschedules,
                "cost_per_interview_usd": cost_per_interview,
            },
        }
    )
    with _autopilot(db) as pilot:
        row = pilot.create(spec)
        _show(pilot.summary(row.campaign_id), fmt)


def campaign_approve(
    campaign_id: str = _CAMPAIGN,
    db: str = _DB,
    by: str = typer.Option(..., "--as", help="The campaign's recruiter."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The recruiter approves the campaign's policy profile: the campaign starts."""
    with _autopilot(db) as pilot:
        pilot.approve_profile(campaign_id, by)
        _show(pilot.summary(campaign_id), fmt)


def campaign_advance(
    campaign_id: str = _CAMPAIGN,
    db: str = _DB,
    withdraw_as: str | None = _WITHDRAW_AS,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """One pass: run approved sends and interviews, update the pipeline, book the interviews
    replies call for, queue the due touches; stop at the objective or the budget."""
    with _autopilot(db, withdraw_as) as pilot:
        pilot.advance(campaign_id)
        _show(pilot.summary(campaign_id), fmt)


def campaign_decide(
    campaign_id: str = _CAMPAIGN,
    db: str = _DB,
    by: str = typer.Option(..., "--as", help="The approver (an admin)."),
    reject: bool = typer.Option(False, "--reject", help="Reject instead of approve."),
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Approve (or reject) every send and interview of the campaign waiting at its gate, as a
    batch."""
    with _autopilot(db) as pilot:
        n = pilot.approve_batch(campaign_id, by, decision="reject" if reject else "approve")
        payload = {**pilot.summary(campaign_id), "decided": n}
        _show(payload, fmt)


def _lifecycle(action: str) -> Any:
    def command(
        campaign_id: str = _CAMPAIGN,
        db: str = _DB,
        by: str = typer.Option("admin", "--as", help="Who acts (cancel rejects waiting sends)."),
        fmt: OutputFormat = FORMAT_OPTION,
    ) -> None:
        with _autopilot(db) as pilot:
            if action == "cancel":
                pilot.cancel(campaign_id, by)
            else:
                getattr(pilot, action)(campaign_id)
            _show(pilot.summary(campaign_id), fmt)

    command.__doc__ = {
        "pause": "Pause a campaign: no sends, no resumptions until resumed.",
        "resume": "Resume a paused campaign.",
        "cancel": "Cancel a campaign: waiting sends are rejected; the postmortem is written.",
    }[action]
    return command


def campaign_status(
    campaign_id: str = _CAMPAIGN, db: str = _DB, fmt: OutputFormat = FORMAT_OPTION
) -> None:
    """A campaign's progress and exception summary."""
    with _autopilot(db) as pilot:
        _show(pilot.summary(campaign_id), fmt)


def register(app: typer.Typer) -> None:
    """Add the ``ops`` command group to ``app``."""
    group = typer.Typer(
        name="ops",
        help=(
            "Autonomous operations: self-healing drills and incidents, recruiter campaigns, "
            "the dev swarm's change proposals."
        ),
        no_args_is_help=True,
    )
    group.command("drill")(drill)
    group.command("incidents")(incidents)
    campaign = typer.Typer(
        name="campaign",
        help="The recruiter autopilot: durable, approval-gated outreach campaigns.",
        no_args_is_help=True,
    )
    campaign.command("create")(campaign_create)
    campaign.command("approve")(campaign_approve)
    campaign.command("advance")(campaign_advance)
    campaign.command("decide")(campaign_decide)
    for action in ("pause", "resume", "cancel"):
        campaign.command(action)(_lifecycle(action))
    campaign.command("status")(campaign_status)
    group.add_typer(campaign, name="campaign")
    from tailguard.cli import ops_propose, ops_schedule

    ops_propose.register(group)
    group.command("schedule")(ops_schedule.schedule)
    app.add_typer(group, name="ops")
