"""Seeded people side of the recruiting dataset: drivers, recruiters, the pipeline and users.

Part of :func:`tailguard.roles.recruiting.seed.generate`; each function draws from the shared
``rng`` in a fixed order, so the dataset stays the same for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tailguard.clock import format_ts
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.geo import ZIPS
from tailguard.roles.recruiting.seed_data import (
    DROP_REASONS,
    FIRST,
    FUNNEL_ADVANCE,
    LAST,
    Dataset,
    ago,
    clip,
    weighted,
)


def add_drivers(
    rng: random.Random, data: Dataset, now: datetime, count: int
) -> list[dict[str, Any]]:
    """Drivers. D-0001 lives in Addison (75001); D-0008 is John Davis, R-001's candidate."""
    zips = sorted(ZIPS)
    for i in range(count):
        years = (
            rng.uniform(0.1, 1.0) if rng.random() < 0.15 else min(35.0, rng.gammavariate(2.0, 4.0))
        )
        equipment = weighted(rng, t.EQUIPMENT, (0.55, 0.20, 0.15, 0.10))
        endorsements = [
            e
            for e, p in zip(t.ENDORSEMENTS, (0.18, 0.15, 0.12, 0.08, 0.02), strict=True)
            if rng.random() < p
        ]
        if equipment == "tanker" and "N" not in endorsements:
            endorsements.append("N")
        row = {
            "driver_id": f"D-{i + 1:04d}",
            "first_name": rng.choice(FIRST),
            "last_name": rng.choice(LAST),
            "home_zip": rng.choice(zips),
            "cdl_class": "A" if rng.random() < 0.9 else "B",
            "endorsements": sorted(endorsements),
            "experience_years": round(years, 1),
            "desired_cpm": round(
                clip(0.48 + 0.006 * min(years, 20) + rng.gauss(0, 0.03), 0.45, 0.80), 2
            ),
            "equipment": equipment,
            "phone": f"214-555-{i % 10000:04d}",
            "created_at": format_ts(ago(rng, now, 0, 365)),
        }
        if i == 0:
            row.update(home_zip="75001", cdl_class="A", desired_cpm=0.55, equipment="dry_van")
        if i == 7:
            row.update(
                first_name="John",
                last_name="Davis",
                home_zip="75061",
                cdl_class="A",
                experience_years=6.0,
                desired_cpm=0.58,
                equipment="dry_van",
            )
        data.add("rc_drivers", row)
    return data.rows["rc_drivers"]


def add_recruiters(data: Dataset, carrier_rows: list[dict[str, Any]]) -> dict[str, str]:
    """Eight recruiters, the i-th working for the i-th carrier; returns carrier id -> recruiter id."""
    recruiter_names = (
        "Dana Whitfield",
        "Luis Ortega",
        "Priya Raman",
        "Tom Becker",
        "Alicia Moore",
        "Greg Hanson",
        "Monique Ellis",
        "Sean O'Neal",
    )
    for i, name in enumerate(recruiter_names):
        data.add(
            "rc_recruiters",
            {
                "recruiter_id": f"R-{i + 1:03d}",
                "name": name,
                "email": name.lower().replace(" ", ".").replace("'", "") + "@example.com",
                "carrier_id": carrier_rows[i]["carrier_id"],
            },
        )
    return {r["carrier_id"]: r["recruiter_id"] for r in data.rows["rc_recruiters"]}


def add_pipeline(
    rng: random.Random,
    data: Dataset,
    now: datetime,
    driver_rows: list[dict[str, Any]],
    posting_rows: list[dict[str, Any]],
    recruiter_of: dict[str, str],
) -> None:
    """About 340 driver-posting interests walked down the hiring funnel, with their status
    history, messages, interviews and calls; John Davis (D-0008) is at screening with R-001.
    """
    seen: set[tuple[str, str]] = set()
    plans: list[tuple[dict[str, Any], dict[str, Any], str | None]] = [
        (driver_rows[7], posting_rows[0], "screening")  # John Davis, R-001, DFW anchor
    ]
    for _ in range(340):
        plans.append((rng.choice(driver_rows[8:]), rng.choice(posting_rows), None))
    n = 0
    for driver, posting, forced in plans:
        key = (driver["driver_id"], posting["posting_id"])
        if key in seen:
            continue
        seen.add(key)
        n += 1
        interest_id = f"I-{n:04d}"
        recruiter = recruiter_of.get(posting["carrier_id"]) or f"R-{rng.randint(1, 8):03d}"
        if forced:
            recruiter = "R-001"
        created = now - timedelta(days=rng.uniform(3, 90))
        status, reason, history = "lead", None, [("lead", created)]
        underpaid = posting["cpm_loaded"] + 0.03 < driver["desired_cpm"]
        when = created
        while forced is None and status in FUNNEL_ADVANCE:
            step_at = when + timedelta(days=rng.uniform(1, 7))
            if step_at > now:
                break
            advance = FUNNEL_ADVANCE[status] - (0.25 if underpaid else 0.0)
            roll = rng.random()
            if roll < advance:
                status = t.STAGES[t.STAGES.index(status) + 1]
            elif roll < advance + (1 - advance) * 0.6:
                status = "rejected" if rng.random() < 0.4 else "withdrawn"
                reason = (
                    "pay_below_expectation"
                    if underpaid and rng.random() < 0.7
                    else rng.choice(DROP_REASONS)
                )
            else:
                break
            when = step_at
            history.append((status, when))
        if forced:
            for stage in ("contacted", "screening"):
                when = when + timedelta(days=2)
                history.append((stage, when))
            status = forced
        data.add(
            "rc_pipeline",
            {
                "interest_id": interest_id,
                "driver_id": driver["driver_id"],
                "posting_id": posting["posting_id"],
                "recruiter_id": recruiter,
                "status": status,
                "drop_off_reason": reason,
                "created_at": format_ts(created),
                "updated_at": format_ts(when),
            },
        )
        previous: str | None = None
        for seq, (to_status, at) in enumerate(history, start=1):
            data.add(
                "rc_status_history",
                {
                    "interest_id": interest_id,
                    "seq": seq,
                    "from_status": previous,
                    "to_status": to_status,
                    "changed_by": recruiter,
                    "reason": "seed",
                    "changed_at": format_ts(at),
                },
            )
            previous = to_status
        reached = {s for s, _ in history}
        if reached & {"contacted", "screening", "interview", "offer", "hired"}:
            for k in range(rng.randint(1, 3)):
                data.add(
                    "rc_messages",
                    {
                        "message_id": f"M-{interest_id[2:]}-{k + 1}",
                        "interest_id": interest_id,
                        "sender_id": recruiter,
                        "receiver_id": driver["driver_id"],
                        "channel": rng.choice(("sms", "email", "in_app")),
                        "content": f"Hi {driver['first_name']}, following up on {posting['title']}.",
                        "sent_at": format_ts(created + timedelta(days=k + 1)),
                    },
                )
        if "interview" in reached:
            done = status != "interview"
            data.add(
                "rc_interviews",
                {
                    "interview_id": f"IV-{interest_id[2:]}",
                    "interest_id": interest_id,
                    "recruiter_id": recruiter,
                    "scheduled_for": format_ts(
                        when if done else now + timedelta(days=rng.randint(1, 6))
                    ),
                    "kind": rng.choice(("phone", "video", "onsite")),
                    "status": "completed" if done else "scheduled",
                },
            )
        if rng.random() < 0.5:
            data.add(
                "rc_calls",
                {
                    "call_id": f"CL-{interest_id[2:]}",
                    "recruiter_id": recruiter,
                    "driver_id": driver["driver_id"],
                    "outcome": rng.choice(
                        ("connected", "voicemail", "no_answer", "callback_requested")
                    ),
                    "duration_s": rng.randint(20, 900),
                    "notes": "seeded call",
                    "logged_at": format_ts(created + timedelta(hours=rng.uniform(1, 48))),
                },
            )


def add_users(data: Dataset) -> None:
    """A login per driver, recruiter and account, and two admins (the second approves)."""
    logins: list[tuple[list[dict[str, Any]], str, str, str, Callable[[dict[str, Any]], str]]] = [
        (data.rows["rc_drivers"], "driver_id", "driver", "drv-", _full_name),
        (data.rows["rc_recruiters"], "recruiter_id", "recruiter", "rec-", lambda r: r["name"]),
        (data.rows["rc_accounts"], "account_id", "carrier", "acct-", lambda a: f"{a['name']} ops"),
    ]
    for rows, id_key, role, prefix, display in logins:
        for row in rows:
            subject = row[id_key]
            data.add(
                "rc_users",
                {
                    # D-0001 -> drv-0001, R-001 -> rec-001, ACC-001 -> acct-001
                    "user_id": prefix + subject.split("-", 1)[1],
                    "role": role,
                    "subject_id": subject,
                    "display_name": display(row),
                },
            )
    data.add(
        "rc_users",
        {"user_id": "admin", "role": "admin", "subject_id": None, "display_name": "Platform admin"},
    )
    data.add(
        "rc_users",
        {
            "user_id": "admin-2",
            "role": "admin",
            "subject_id": None,
            "display_name": "Second admin (approver)",
        },
    )


def _full_name(driver: dict[str, Any]) -> str:
    return f"{driver['first_name']} {driver['last_name']}"
