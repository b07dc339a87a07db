"""A technician's badges, read from what the programme already recorded (no table of their own).

A badge is earned, never bought, and each one names the record it comes from:

* ``top_tenth``: a week the tech's TechPower was at or above the network's P90 (the scores);
* ``kit_streak``: parts-kit streaks completed (the streaks; each earned a bonus kit);
* ``team_goal``: a week the tech's area met its co-op goal and the team bonus was paid (the
  programme's executed ``award_team_bonus`` actions for the area);
* ``mission``: a sprint mission completed (the programme's executed ``grant_xp`` actions);
* ``replay_author``: replays the tech published that are still shown (the replay library).

:func:`replays_viewed` lists the replays a technician watched, for their page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tailguard.gamification.replays import ReplayLibrary, replays, views
from tailguard.gamification.store import GameStore, actions, scores, streaks
from tailguard.ledger import access


def badges(store: GameStore, tech_id: str) -> list[dict[str, Any]]:
    """The technician's badges, each ``{"badge", "title", "count", "detail"}``, in the order of
    the module docstring; a badge not earned is absent."""
    ReplayLibrary(store)  # the replay tables exist
    out: list[dict[str, Any]] = []
    with access.read(store.engine, "badges") as conn:
        top = conn.execute(
            sa.select(scores.c.week, scores.c.area_id)
            .where(
                (scores.c.tech_id == tech_id)
                & scores.c.network_p90.is_not(None)
                & (scores.c.techpower >= scores.c.network_p90)
            )
            .order_by(scores.c.week)
        ).all()
        streak = conn.execute(sa.select(streaks).where(streaks.c.tech_id == tech_id)).first()
        area = conn.execute(
            sa.select(scores.c.area_id)
            .where(scores.c.tech_id == tech_id)
            .order_by(scores.c.week.desc())
            .limit(1)
        ).scalar()
        area = area or (streak.area_id if streak else None)
        teams = (
            conn.execute(
                sa.select(actions.c.at, actions.c.detail)
                .where(
                    (actions.c.kind == "award_team_bonus")
                    & (actions.c.status == "executed")
                    & (actions.c.area_id == area)
                )
                .order_by(actions.c.at)
            ).all()
            if area
            else []
        )
        missions = conn.execute(
            sa.select(sa.func.count()).where(
                (actions.c.kind == "grant_xp")
                & (actions.c.status == "executed")
                & (actions.c.tech_id == tech_id)
            )
        ).scalar_one()
        authored = conn.execute(
            sa.select(sa.func.count()).where(
                (replays.c.tech_id == tech_id) & replays.c.withdrawn_at.is_(None)
            )
        ).scalar_one()
    if top:
        out.append(
            {
                "badge": "top_tenth",
                "title": "Top tenth",
                "count": len(top),
                "detail": f"TechPower at the network's P90 in the week of {top[-1].week}",
            }
        )
    if streak is not None and streak.awarded > 0:
        out.append(
            {
                "badge": "kit_streak",
                "title": "Kit streak",
                "count": int(streak.awarded),
                "detail": f"{streak.length} jobs in a row with the pre-staged parts fully used",
            }
        )
    if teams:
        out.append(
            {
                "badge": "team_goal",
                "title": "Team goal",
                "count": len(teams),
                "detail": teams[-1].detail or f"{area} met its co-op goal",
            }
        )
    if missions:
        out.append(
            {
                "badge": "mission",
                "title": "Mission complete",
                "count": int(missions),
                "detail": "sprint missions completed",
            }
        )
    if authored:
        out.append(
            {
                "badge": "replay_author",
                "title": "Replay author",
                "count": int(authored),
                "detail": "replays of your jobs shown to peers",
            }
        )
    return out


def replays_viewed(store: GameStore, tech_id: str, *, limit: int = 10) -> list[dict[str, Any]]:
    """The replays ``tech_id`` watched, newest view first (withdrawn ones included, marked)."""
    ReplayLibrary(store)
    with access.read(store.engine, "replays viewed") as conn:
        rows = conn.execute(
            sa.select(
                views.c.replay_id,
                views.c.viewed_at,
                replays.c.tech_id,
                replays.c.job_code,
                replays.c.model,
                replays.c.outcome,
                replays.c.withdrawn_at,
            )
            .join(replays, replays.c.replay_id == views.c.replay_id)
            .where(views.c.viewer_id == tech_id)
            .order_by(views.c.viewed_at.desc())
            .limit(limit)
        ).all()
    return [
        {
            "replay_id": r.replay_id,
            "viewed_at": datetime.fromtimestamp(r.viewed_at, UTC).isoformat(),
            "author": r.tech_id,
            "job_code": r.job_code,
            "model": r.model,
            "outcome": r.outcome,
            "withdrawn": r.withdrawn_at is not None,
        }
        for r in rows
    ]
