"""The peer replay library: top technicians' job recordings, recommended where others are weak.

A technician at or above the network's P90 TechPower who has opted in may publish a replay of
a job: its job code and appliance model, what was done, the outcome, and a reference to the
recording (the media stays where the field app keeps it; the library holds only the address).
Each week the programme stores every scored tech's weakest job codes (lowest net-fix z-score
within the code, :meth:`~tailguard.gamification.techpower.TechPowerBook.code_scores`); the
library recommends, for a tech, the replays of those codes by other technicians, weakest code
first, and records who viewed what. A technician who opts out has their replays withdrawn at
once (kept, with the time, for the record; never shown again). Publishing and withdrawal are
``gamification`` ledger records.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Final

import polars as pl
import sqlalchemy as sa

from tailguard.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from tailguard.gamification.store import GameStore, ensure_tables
from tailguard.ledger import access

metadata = sa.MetaData()
_F = sa.Float(precision=53)
#: How many weakest codes of each tech are kept per week.
WEAKEST: Final = 3

replays = sa.Table(
    "tailguard_gami_replays",
    metadata,
    sa.Column("replay_id", sa.String(64), primary_key=True),
    sa.Column("tech_id", sa.String(64), nullable=False, index=True),
    sa.Column("area_id", sa.String(64), nullable=True),
    sa.Column("job_code", sa.String(64), nullable=False, index=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(64), nullable=False),
    sa.Column("media_ref", sa.String(500), nullable=False),
    sa.Column("published_at", _F, nullable=False),
    sa.Column("withdrawn_at", _F, nullable=True),
)

views = sa.Table(
    "tailguard_gami_replay_views",
    metadata,
    sa.Column("replay_id", sa.String(64), primary_key=True),
    sa.Column("viewer_id", sa.String(64), primary_key=True),
    sa.Column("viewed_at", _F, primary_key=True),
)

weak = sa.Table(
    "tailguard_gami_weak",
    metadata,
    sa.Column("week", sa.Date, primary_key=True),
    sa.Column("tech_id", sa.String(64), primary_key=True),
    sa.Column("job_code", sa.String(64), primary_key=True),
    sa.Column("fix_z", _F, nullable=False),
    sa.Column("jobs", sa.Integer, nullable=False),
)

_MEDIA_SCHEMES: Final = ("https://", "s3://", "gs://", "fieldapp://")


class ReplayLibrary:
    """The library on the store's database (tables created if absent)."""

    def __init__(self, store: GameStore) -> None:
        self.store = store
        self.engine = store.engine
        ensure_tables(self.engine, metadata, "the replay tables")

    def put_weak(self, week: date, code_scores: pl.DataFrame) -> int:
        """Keep each tech's :data:`WEAKEST` weakest job codes of ``week``."""
        rows = [
            {"week": week, "tech_id": t, "job_code": c, "fix_z": float(z), "jobs": int(n)}
            for t, c, z, n in code_scores.filter(pl.col("fix_z").is_not_null())
            .sort("tech_id", "fix_z", "job_code")
            .group_by("tech_id", maintain_order=True)
            .head(WEAKEST)
            .select("tech_id", "job_code", "fix_z", "jobs")
            .iter_rows()
        ]

        return self.store.replace_week(weak, week, rows, "write the weakest job codes")

    def publish(
        self,
        tech_id: str,
        *,
        job_code: str,
        model: str,
        summary: str,
        outcome: str,
        media_ref: str,
        now: datetime,
    ) -> str:
        """Publish a replay; returns its id.

        Raises:
            PermissionDeniedError: the tech has not opted in or is below the network's P90.
            InvalidInputError: an empty field, or a media reference that is not an address
                (``https://``, ``s3://``, ``gs://`` or ``fieldapp://``).
        """
        for name, value, limit in (("job_code", job_code, 64), ("model", model, 128),
                                   ("summary", summary, 2000), ("outcome", outcome, 64)):  # fmt: skip
            if not value or len(value) > limit:
                raise InvalidInputError(f"{name} must be 1 to {limit} characters")
        if (
            not media_ref.startswith(_MEDIA_SCHEMES)
            or len(media_ref) > 500
            or {" ", "\x00"} & set(media_ref)
        ):
            raise InvalidInputError(
                "media_ref must be the recording's address (https://, s3://, gs:// or "
                "fieldapp://), not the media itself"
            )
        if tech_id not in self.store.opted_in():
            raise PermissionDeniedError(f"{tech_id} has not opted in to share replays")
        scores = self.store.scores()
        mine = scores.filter(pl.col("tech_id") == tech_id)
        if mine.is_empty() or mine["techpower"][0] < mine["network_p90"][0]:
            raise PermissionDeniedError(
                f"{tech_id} is not at the network's P90 TechPower this week; replays come from "
                "the top tenth"
            )
        replay_id = f"rp-{uuid.uuid4().hex[:16]}"
        row = {"replay_id": replay_id, "tech_id": tech_id, "area_id": mine["area_id"][0],
               "job_code": job_code, "model": model, "summary": summary, "outcome": outcome,
               "media_ref": media_ref, "published_at": now.timestamp(), "withdrawn_at": None}  # fmt: skip
        access.write(self.engine, lambda c: c.execute(replays.insert(), [row]), "publish a replay")
        self.store.ledger.append(
            "gamification",
            {"gamification_id": replay_id, "action": "replay_published", "tech_id": tech_id,
             "job_code": job_code},
        )  # fmt: skip
        return replay_id

    def withdraw(self, tech_id: str, now: datetime) -> int:
        """Withdraw every shown replay of ``tech_id`` (opt-out); returns how many."""
        query = (
            replays.update()
            .where((replays.c.tech_id == tech_id) & replays.c.withdrawn_at.is_(None))
            .values(withdrawn_at=now.timestamp())
        )
        count = int(access.write(self.engine, lambda c: c.execute(query).rowcount, "withdraw"))
        if count:
            self.store.ledger.append(
                "gamification",
                {"gamification_id": f"withdraw:{tech_id}:{int(now.timestamp())}",
                 "action": "replays_withdrawn", "tech_id": tech_id, "count": count},
            )  # fmt: skip
        return count

    def recommend(self, tech_id: str, *, limit: int = 5) -> list[dict[str, Any]]:
        """Replays of the tech's weakest codes by others, weakest code first, newest first."""
        with access.read(self.engine, "replay library") as conn:
            latest = conn.execute(
                sa.select(sa.func.max(weak.c.week)).where(weak.c.tech_id == tech_id)
            ).scalar()
            if latest is None:
                return []
            codes = [
                (r.job_code, r.fix_z)
                for r in conn.execute(
                    sa.select(weak.c.job_code, weak.c.fix_z)
                    .where((weak.c.tech_id == tech_id) & (weak.c.week == latest))
                    .order_by(weak.c.fix_z)
                )
            ]
            out: list[dict[str, Any]] = []
            for code, z in codes:
                for r in conn.execute(
                    sa.select(replays)
                    .where(
                        (replays.c.job_code == code)
                        & replays.c.withdrawn_at.is_(None)
                        & (replays.c.tech_id != tech_id)
                    )
                    .order_by(replays.c.published_at.desc())
                    .limit(limit)
                ):
                    out.append({**dict(r._mapping), "your_fix_z": round(float(z), 3)})
        return out[:limit]

    def view(self, replay_id: str, viewer_id: str, now: datetime) -> None:
        """Record that ``viewer_id`` watched a replay.

        Raises:
            NotFoundError: no such replay, or it was withdrawn.
        """
        with access.read(self.engine, "replay library") as conn:
            shown = conn.execute(
                sa.select(replays.c.replay_id).where(
                    (replays.c.replay_id == replay_id) & replays.c.withdrawn_at.is_(None)
                )
            ).first()
        if shown is None:
            raise NotFoundError(f"no replay {replay_id!r} is shown")
        row = {"replay_id": replay_id, "viewer_id": viewer_id, "viewed_at": now.timestamp()}
        access.write(self.engine, lambda c: c.execute(views.insert(), [row]), "record a view")

    def counts(self) -> dict[str, int]:
        """Replays shown and withdrawn, and views."""
        with access.read(self.engine, "replay library") as conn:
            shown = conn.execute(
                sa.select(sa.func.count()).where(replays.c.withdrawn_at.is_(None))
            ).scalar_one()
            total = conn.execute(sa.select(sa.func.count()).select_from(replays)).scalar_one()
            seen = conn.execute(sa.select(sa.func.count()).select_from(views)).scalar_one()
        return {"shown": int(shown), "withdrawn": int(total) - int(shown), "views": int(seen)}
