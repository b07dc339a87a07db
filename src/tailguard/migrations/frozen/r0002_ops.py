"""Revision 0002's tables: autonomous operations (incidents, switches, recruiter campaigns and
their sends), as that release defined them."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

Creator = Callable[..., None]
_Time = sa.Float(precision=53)


def create(_table: Creator, _index: Creator) -> None:
    """Create the tables through ``_table`` (they have no secondary indexes)."""
    _table(
        "tailguard_ops_incidents",
        sa.Column("incident_id", sa.String(64), primary_key=True),
        sa.Column("fault", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("opened_at", _Time, nullable=False),
        sa.Column("updated_at", _Time, nullable=False),
    )
    _table(
        "tailguard_ops_switches",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", _Time, nullable=False),
    )
    _table(
        "tailguard_ops_campaigns",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("recruiter_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("updated_at", _Time, nullable=False),
    )
    _table(
        "tailguard_ops_campaign_sends",
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("interest_id", sa.String(64), primary_key=True),
        sa.Column("touch", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("cost_usd", sa.Float(precision=53), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("gate_id", sa.String(64), nullable=True),
        sa.Column("queued_at", _Time, nullable=False),
        sa.Column("sent_at", _Time, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
    )
