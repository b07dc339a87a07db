"""The recruiter autopilot's tables: campaigns and their sends, on the ledger's engine.

``tailguard_ops_campaign_sends`` has the primary key (campaign, candidacy, touch): a touch is
queued once, whatever crashes and restarts happen, so the database itself forbids sending the
same touch of a sequence twice. A send row is written *before* its governed call, and its
gate is recorded after; a row left without a gate by a crash is matched to the gate of its
run that carries the same touch marker (:mod:`.campaign`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tailguard.errors import ConflictError, NotFoundError
from tailguard.migrations.stores import MigratedStore

metadata = sa.MetaData()
_Time = sa.Float(precision=53)

campaigns = sa.Table(
    "tailguard_ops_campaigns",
    metadata,
    sa.Column("campaign_id", sa.String(64), primary_key=True),
    sa.Column("recruiter_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("created_at", _Time, nullable=False),
    sa.Column("updated_at", _Time, nullable=False),
)

sends = sa.Table(
    "tailguard_ops_campaign_sends",
    metadata,
    sa.Column("campaign_id", sa.String(64), primary_key=True),
    sa.Column("interest_id", sa.String(64), primary_key=True),
    sa.Column("touch", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("cost_usd", sa.Float(precision=53), nullable=False),
    # queued -> pending (gate open) -> sent | rejected | expired | cancelled | failed
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("gate_id", sa.String(64), nullable=True),
    sa.Column("queued_at", _Time, nullable=False),
    sa.Column("sent_at", _Time, nullable=True),
    # Set once the pipeline step has applied the outcome: replied, no_reply.
    sa.Column("outcome", sa.String(16), nullable=True),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignRow:
    """A campaign as stored."""

    campaign_id: str
    recruiter_id: str
    status: str
    spec: dict[str, Any]
    state: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class SendRow:
    """One touch of one candidacy."""

    campaign_id: str
    interest_id: str
    touch: int
    channel: str
    cost_usd: float
    status: str
    gate_id: str | None
    queued_at: datetime
    sent_at: datetime | None
    outcome: str | None


def _ts(v: float | None) -> datetime | None:
    return None if v is None else datetime.fromtimestamp(v, UTC)


class CampaignStore(MigratedStore):
    """Campaigns and sends on one engine (tables created on first use)."""

    what = "campaign"

    def create(
        self, campaign_id: str, recruiter_id: str, spec: dict[str, Any], *, now: datetime
    ) -> CampaignRow:
        """Store a new campaign as ``draft``."""
        with self._begin() as conn:
            conn.execute(
                campaigns.insert().values(
                    campaign_id=campaign_id,
                    recruiter_id=recruiter_id,
                    status="draft",
                    spec=json.dumps(spec, sort_keys=True),
                    state="{}",
                    created_at=now.timestamp(),
                    updated_at=now.timestamp(),
                )
            )
        return self.get(campaign_id)

    def get(self, campaign_id: str) -> CampaignRow:
        """One campaign.

        Raises:
            NotFoundError: no such campaign.
        """
        with self._begin() as conn:
            r = conn.execute(
                sa.select(campaigns).where(campaigns.c.campaign_id == campaign_id)
            ).first()
        if r is None:
            raise NotFoundError(f"unknown campaign {campaign_id!r}")
        return CampaignRow(
            campaign_id=r.campaign_id,
            recruiter_id=r.recruiter_id,
            status=r.status,
            spec=json.loads(r.spec),
            state=json.loads(r.state),
            created_at=datetime.fromtimestamp(r.created_at, UTC),
            updated_at=datetime.fromtimestamp(r.updated_at, UTC),
        )

    def campaigns(self) -> list[CampaignRow]:
        """Every campaign, oldest first."""
        with self._begin() as conn:
            ids = conn.execute(
                sa.select(campaigns.c.campaign_id).order_by(
                    campaigns.c.created_at, campaigns.c.campaign_id
                )
            ).scalars()
            keys = list(ids)
        return [self.get(k) for k in keys]

    def update(
        self,
        campaign_id: str,
        *,
        now: datetime,
        status: str | None = None,
        state: dict[str, Any] | None = None,
        expect_status: tuple[str, ...] | None = None,
    ) -> bool:
        """Change status and/or state; with ``expect_status`` only from one of those (CAS)."""
        values: dict[str, Any] = {"updated_at": now.timestamp()}
        if status is not None:
            values["status"] = status
        if state is not None:
            values["state"] = json.dumps(state, sort_keys=True)
        stmt = campaigns.update().where(campaigns.c.campaign_id == campaign_id)
        if expect_status is not None:
            stmt = stmt.where(campaigns.c.status.in_(expect_status))
        with self._begin() as conn:
            return bool(conn.execute(stmt.values(**values)).rowcount == 1)

    # ------------------------------------------------------------------ sends

    def queue(
        self,
        campaign_id: str,
        interest_id: str,
        touch: int,
        *,
        channel: str,
        cost_usd: float,
        now: datetime,
    ) -> bool:
        """Queue a touch; False when it was queued before (never twice)."""
        try:
            with self._begin() as conn:
                conn.execute(
                    sends.insert().values(
                        campaign_id=campaign_id,
                        interest_id=interest_id,
                        touch=touch,
                        channel=channel,
                        cost_usd=cost_usd,
                        status="queued",
                        queued_at=now.timestamp(),
                    )
                )
        except ConflictError:
            return False
        return True

    def set_send(
        self,
        campaign_id: str,
        interest_id: str,
        touch: int,
        *,
        now: datetime | None = None,
        **values: Any,
    ) -> None:
        """Update one send's columns (``sent_at`` is set from ``now`` when status is sent)."""
        if values.get("status") == "sent" and now is not None:
            values["sent_at"] = now.timestamp()
        with self._begin() as conn:
            conn.execute(
                sends.update()
                .where(
                    sends.c.campaign_id == campaign_id,
                    sends.c.interest_id == interest_id,
                    sends.c.touch == touch,
                )
                .values(**values)
            )

    def sends(self, campaign_id: str) -> list[SendRow]:
        """Every send of a campaign, by candidacy and touch."""
        with self._begin() as conn:
            rows = conn.execute(
                sa.select(sends)
                .where(sends.c.campaign_id == campaign_id)
                .order_by(sends.c.interest_id, sends.c.touch)
            ).all()
        return [
            SendRow(
                campaign_id=r.campaign_id,
                interest_id=r.interest_id,
                touch=int(r.touch),
                channel=r.channel,
                cost_usd=float(r.cost_usd),
                status=r.status,
                gate_id=r.gate_id,
                queued_at=datetime.fromtimestamp(r.queued_at, UTC),
                sent_at=_ts(r.sent_at),
                outcome=r.outcome,
            )
            for r in rows
        ]
