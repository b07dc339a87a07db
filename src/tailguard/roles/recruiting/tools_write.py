"""Handlers of the recruiting tools that change things (execute_low and execute_high).

Every write uses the call's idempotency key as (part of) its row id, so a call retried or
resumed after a restart finds its earlier effect instead of doing it twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from tailguard.clock import format_ts, parse_ts
from tailguard.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.env import CallEnv


def _key(env: CallEnv, prefix: str) -> str:
    raw = env.idempotency_key or f"{env.user.user_id}:{env.store.clock.now().isoformat()}"
    return f"{prefix}-{hashlib.sha256(raw.encode()).hexdigest()[:16]}"


def _find_existing(env: CallEnv, table: sa.Table, column: str, value: str) -> dict[str, Any] | None:
    rows = env.store.rows(sa.select(table).where(table.c[column] == value))
    return rows[0] if rows else None


def resolve_candidacy(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's candidacy named by ``interestId`` or by the driver's name (``candidate``)."""
    p, d = t.pipeline, t.drivers
    query = sa.select(p, d.c.first_name, d.c.last_name).join(d, d.c.driver_id == p.c.driver_id)
    if env.user.role == "recruiter":
        query = query.where(p.c.recruiter_id == env.subject("recruiter"))
    elif env.user.role != "admin":
        raise PermissionDeniedError("only recruiters and admins manage candidacies")
    if args.get("interestId"):
        rows = env.store.rows(query.where(p.c.interest_id == args["interestId"]))
        if not rows:
            raise NotFoundError(f"candidacy {args['interestId']} not found in your pipeline")
        return rows[0]
    name = str(args.get("candidate") or "").strip().lower()
    if not name:
        raise InvalidInputError("name the candidacy with interestId or candidate")
    rows = [
        r
        for r in env.store.rows(query.where(p.c.status.notin_(t.TERMINAL)))
        if name
        in (
            r["first_name"].lower(),
            f"{r['first_name']} {r['last_name']}".lower(),
            r["driver_id"].lower(),
        )
    ]
    if not rows:
        raise NotFoundError(f"no active candidate named {args['candidate']!r} in your pipeline")
    if len(rows) > 1:
        ids = ", ".join(f"{r['interest_id']} ({r['first_name']} {r['last_name']})" for r in rows)
        raise InvalidInputError(f"{args['candidate']!r} is ambiguous: {ids}; give interestId")
    return rows[0]


def _change_status(
    env: CallEnv, interest: Mapping[str, Any], *, expected: str, new: str, reason: str, key: str
) -> None:
    p, h = t.pipeline, t.status_history
    now = format_ts(env.store.clock.now())
    with env.store.begin() as conn:
        changed = conn.execute(
            p.update()
            .where(p.c.interest_id == interest["interest_id"], p.c.status == expected)
            .values(status=new, updated_at=now)
        ).rowcount
        if changed != 1:
            raise ConflictError(f"{interest['interest_id']} is no longer {expected!r}; not changed")
        seq = conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(h.c.seq), 0)).where(
                h.c.interest_id == interest["interest_id"]
            )
        ).scalar_one()
        conn.execute(
            h.insert().values(
                interest_id=interest["interest_id"],
                seq=seq + 1,
                from_status=expected,
                to_status=new,
                changed_by=env.user.user_id,
                reason=reason[:200],
                changed_at=now,
                request_key=key,
            )
        )


def _replayed(env: CallEnv, key: str) -> dict[str, Any] | None:
    return _find_existing(env, t.status_history, "request_key", key)


def update_candidate_status(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Move a candidacy to another pipeline stage (rollback: revert_to_previous_status)."""
    new = str(args["newStatus"]).lower()
    if new not in t.STATUSES:
        raise InvalidInputError(f"unknown status {new!r}; one of {', '.join(t.STATUSES)}")
    key = _key(env, "st")
    done = _replayed(env, key)
    interest = resolve_candidacy(env, {**args, "interestId": done["interest_id"]} if done else args)
    name = f"{interest['first_name']} {interest['last_name']}"
    result = {"interestId": interest["interest_id"], "driverName": name, "newStatus": new}
    if done:
        return {
            **result,
            "previousStatus": done["from_status"],
            "replayed": True,
            "summary": f"{name}: {done['from_status']} -> {new} (already done)",
            "ledger_summary": f"{interest['interest_id']}: {done['from_status']} -> {new} (replayed)",
        }
    previous = interest["status"]
    if previous == new:
        raise ConflictError(f"{name} is already at {new!r}")
    _change_status(
        env,
        interest,
        expected=previous,
        new=new,
        reason=str(args.get("reason") or "agent"),
        key=key,
    )
    return {
        **result,
        "previousStatus": previous,
        "summary": f"{name}: {previous} -> {new}",
        "ledger_summary": f"{interest['interest_id']}: {previous} -> {new}",
    }


def revert_to_previous_status(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Undo a status change: put the candidacy back where it was (compensating tool)."""
    interest_id = args.get("interestId") or (env.compensating or {}).get("interestId")
    if not interest_id:
        raise InvalidInputError("revert_to_previous_status needs an interestId")
    interest = resolve_candidacy(env, {"interestId": interest_id})
    if env.compensating:
        expected, target = env.compensating["newStatus"], env.compensating["previousStatus"]
    else:
        last = env.store.rows(
            sa.select(t.status_history)
            .where(t.status_history.c.interest_id == interest["interest_id"])
            .order_by(t.status_history.c.seq.desc())
            .limit(1)
        )
        if not last or last[0]["from_status"] is None:
            raise ConflictError(f"{interest['interest_id']} has no earlier status to go back to")
        expected, target = last[0]["to_status"], last[0]["from_status"]
    key = _key(env, "rb")
    if _replayed(env, key) or (interest["status"] == target and env.compensating):
        return {
            "summary": f"{interest['interest_id']} already at {target}",
            "interestId": interest["interest_id"],
            "status": target,
            "replayed": True,
        }
    _change_status(env, interest, expected=expected, new=target, reason="rollback", key=key)
    return {
        "summary": f"{interest['interest_id']}: {expected} -> {target} (rolled back)",
        "interestId": interest["interest_id"],
        "status": target,
        "revertedFrom": expected,
    }


def log_call(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Record a phone call with a candidate."""
    interest = resolve_candidacy(env, args)
    call_id = _key(env, "CL")
    if not _find_existing(env, t.calls, "call_id", call_id):
        with env.store.begin() as conn:
            conn.execute(
                t.calls.insert().values(
                    call_id=call_id,
                    recruiter_id=interest["recruiter_id"],
                    driver_id=interest["driver_id"],
                    outcome=args["outcome"],
                    duration_s=int(args.get("durationSeconds", 0)),
                    notes=str(args.get("notes", ""))[:2000],
                    logged_at=format_ts(env.store.clock.now()),
                )
            )
    return {
        "summary": f"call logged ({args['outcome']})",
        "callId": call_id,
        "interestId": interest["interest_id"],
    }


def send_message(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Send an SMS, email or in-app message to a candidate (approval required)."""
    lookup = (
        {"interestId": args["interestId"]}
        if args.get("interestId")
        else {"candidate": args.get("candidate") or args.get("receiverId")}
    )
    interest = resolve_candidacy(env, lookup)
    if args.get("receiverId") and args["receiverId"] not in (
        interest["driver_id"],
        args.get("candidate"),
    ):
        raise InvalidInputError("receiverId does not match the candidate")
    message_id = _key(env, "M")
    if not _find_existing(env, t.messages, "message_id", message_id):
        with env.store.begin() as conn:
            conn.execute(
                t.messages.insert().values(
                    message_id=message_id,
                    interest_id=interest["interest_id"],
                    sender_id=interest["recruiter_id"] or env.user.user_id,
                    receiver_id=interest["driver_id"],
                    channel=args.get("channel", "sms"),
                    content=args["content"],
                    sent_at=format_ts(env.store.clock.now()),
                )
            )
    return {
        "summary": f"message sent to {interest['first_name']} {interest['last_name'][:1]}.",
        "ledger_summary": f"message {message_id} sent to {interest['driver_id']}",
        "messageId": message_id,
        "receiverId": interest["driver_id"],
        "channel": args.get("channel", "sms"),
    }


def schedule_interview(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Book an interview for a candidacy (approval required)."""
    interest = resolve_candidacy(env, args)
    try:
        when = parse_ts(str(args["scheduledFor"]))
    except ValueError:
        raise InvalidInputError(
            f"scheduledFor is not a timestamp: {args['scheduledFor']!r}"
        ) from None
    if when <= env.store.clock.now():
        raise InvalidInputError("an interview must be scheduled in the future")
    interview_id = _key(env, "IV")
    if not _find_existing(env, t.interviews, "interview_id", interview_id):
        with env.store.begin() as conn:
            conn.execute(
                t.interviews.insert().values(
                    interview_id=interview_id,
                    interest_id=interest["interest_id"],
                    recruiter_id=interest["recruiter_id"] or env.user.user_id,
                    scheduled_for=format_ts(when),
                    kind=args.get("kind", "phone"),
                    status="scheduled",
                )
            )
    return {
        "summary": f"{args.get('kind', 'phone')} interview on {format_ts(when)}",
        "interviewId": interview_id,
        "interestId": interest["interest_id"],
    }


def manage_prompts(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Create or update a role's system-prompt text (approval required); versions are kept."""
    prompt_id, action = args["promptId"], args["action"]
    rows = env.store.rows(
        sa.select(t.prompts)
        .where(t.prompts.c.prompt_id == prompt_id)
        .order_by(t.prompts.c.version.desc())
    )
    if action == "create" and rows:
        raise ConflictError(f"prompt {prompt_id!r} exists; use action=update")
    if action == "update" and not rows:
        raise NotFoundError(f"prompt {prompt_id!r} does not exist; use action=create")
    version = rows[0]["version"] + 1 if rows else 1
    with env.store.begin() as conn:
        conn.execute(
            t.prompts.insert().values(
                prompt_id=prompt_id,
                version=version,
                role=args.get("role") or (rows[0]["role"] if rows else "recruiter"),
                text=args["text"],
                updated_by=env.user.user_id,
                updated_at=format_ts(env.store.clock.now()),
            )
        )
    return {
        "summary": f"prompt {prompt_id} v{version} saved",
        "promptId": prompt_id,
        "version": version,
    }


def submit_application(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Apply the driver to a posting; opens a lead in the carrier recruiter's pipeline."""
    driver_id = env.subject("driver")
    posting = env.store.row(
        sa.select(t.postings).where(t.postings.c.posting_id == args["postingId"]),
        what=f"posting {args['postingId']}",
    )
    if posting["status"] != "open":
        raise ConflictError(f"posting {posting['posting_id']} is {posting['status']}")
    existing = env.store.rows(
        sa.select(t.applications).where(
            t.applications.c.driver_id == driver_id,
            t.applications.c.posting_id == posting["posting_id"],
        )
    )
    if existing:
        return {
            "summary": f"already applied to {posting['posting_id']}",
            "applicationId": existing[0]["application_id"],
            "replayed": True,
        }
    recruiter = env.store.rows(
        sa.select(t.recruiters.c.recruiter_id).where(
            t.recruiters.c.carrier_id == posting["carrier_id"]
        )
    )
    now = format_ts(env.store.clock.now())
    application_id = _key(env, "AP")
    with env.store.begin() as conn:
        conn.execute(
            t.applications.insert().values(
                application_id=application_id,
                driver_id=driver_id,
                posting_id=posting["posting_id"],
                status="submitted",
                submitted_at=now,
            )
        )
        in_pipeline = conn.execute(
            sa.select(t.pipeline.c.interest_id).where(
                t.pipeline.c.driver_id == driver_id,
                t.pipeline.c.posting_id == posting["posting_id"],
            )
        ).first()
        if in_pipeline is None:
            interest_id = "I-" + application_id[3:]
            conn.execute(
                t.pipeline.insert().values(
                    interest_id=interest_id,
                    driver_id=driver_id,
                    posting_id=posting["posting_id"],
                    recruiter_id=recruiter[0]["recruiter_id"] if recruiter else None,
                    status="lead",
                    drop_off_reason=None,
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                t.status_history.insert().values(
                    interest_id=interest_id,
                    seq=1,
                    from_status=None,
                    to_status="lead",
                    changed_by=env.user.user_id,
                    reason="application",
                    changed_at=now,
                )
            )
    return {
        "summary": f"applied to {posting['title']}",
        "applicationId": application_id,
        "postingId": posting["posting_id"],
    }
