"""Revision 0001's tables of the chat roles (conversations, the recruiting reference dataset) and
the MCP server's acting users, as that release defined them."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

Creator = Callable[..., None]


def create(_table: Creator, _index: Creator) -> None:
    """Create the tables through ``_table`` and their indexes through ``_index``."""
    _table(
        "agent_conversations",
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id"),
    )
    _table(
        "agent_run_states",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("model_turns", sa.Integer(), nullable=False),
        sa.Column("active_seconds", sa.Float(), nullable=False),
        sa.Column("pending", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    _table(
        "agent_turns",
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("model", sa.String(length=80), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "seq"),
    )
    _table(
        "mcp_acting",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    _table(
        "rc_applications",
        sa.Column("application_id", sa.String(length=24), nullable=False),
        sa.Column("driver_id", sa.String(length=40), nullable=False),
        sa.Column("posting_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("submitted_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("application_id"),
        sa.UniqueConstraint("driver_id", "posting_id", name="uq_rc_applications_driver_posting"),
    )
    _table(
        "rc_calls",
        sa.Column("call_id", sa.String(length=24), nullable=False),
        sa.Column("recruiter_id", sa.String(length=40), nullable=False),
        sa.Column("driver_id", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("logged_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("call_id"),
    )
    _table(
        "rc_carriers",
        sa.Column("carrier_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("dot_number", sa.Integer(), nullable=False),
        sa.Column("mc_number", sa.Integer(), nullable=False),
        sa.Column("safety_rating", sa.String(length=40), nullable=False),
        sa.Column("driver_oos_rate", sa.Float(), nullable=False),
        sa.Column("vehicle_oos_rate", sa.Float(), nullable=False),
        sa.Column("power_units", sa.Integer(), nullable=False),
        sa.Column("drivers_count", sa.Integer(), nullable=False),
        sa.Column("crashes_24mo", sa.Integer(), nullable=False),
        sa.Column("home_zip", sa.String(length=5), nullable=False),
        sa.PrimaryKeyConstraint("carrier_id"),
        sa.UniqueConstraint("dot_number"),
        sa.UniqueConstraint("mc_number"),
    )
    _table(
        "rc_drivers",
        sa.Column("driver_id", sa.String(length=40), nullable=False),
        sa.Column("first_name", sa.String(length=60), nullable=False),
        sa.Column("last_name", sa.String(length=60), nullable=False),
        sa.Column("home_zip", sa.String(length=5), nullable=False),
        sa.Column("cdl_class", sa.String(length=1), nullable=False),
        sa.Column("endorsements", sa.JSON(), nullable=False),
        sa.Column("experience_years", sa.Float(), nullable=False),
        sa.Column("desired_cpm", sa.Float(), nullable=False),
        sa.Column("equipment", sa.String(length=40), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("driver_id"),
    )
    _table(
        "rc_messages",
        sa.Column("message_id", sa.String(length=24), nullable=False),
        sa.Column("interest_id", sa.String(length=40), nullable=True),
        sa.Column("sender_id", sa.String(length=40), nullable=False),
        sa.Column("receiver_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    _table(
        "rc_parking",
        sa.Column("location_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("zip", sa.String(length=5), nullable=False),
        sa.Column("route", sa.String(length=40), nullable=False),
        sa.Column("spaces_total", sa.Integer(), nullable=False),
        sa.Column("spaces_available", sa.Integer(), nullable=False),
        sa.Column("amenities", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("location_id"),
    )
    _table(
        "rc_prompts",
        sa.Column("prompt_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("prompt_id", "version"),
    )
    _table(
        "rc_road_conditions",
        sa.Column("condition_id", sa.String(length=24), nullable=False),
        sa.Column("route", sa.String(length=40), nullable=False),
        sa.Column("zip", sa.String(length=5), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("severity", sa.String(length=40), nullable=False),
        sa.Column("delay_min", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=240), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("condition_id"),
    )
    _table(
        "rc_status_history",
        sa.Column("interest_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=40), nullable=True),
        sa.Column("to_status", sa.String(length=40), nullable=False),
        sa.Column("changed_by", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("changed_at", sa.String(length=32), nullable=False),
        sa.Column("request_key", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("interest_id", "seq"),
        sa.UniqueConstraint("request_key"),
    )
    _table(
        "rc_users",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=True),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    _table(
        "rc_accounts",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("carrier_id", sa.String(length=40), nullable=True),
        sa.Column("tier", sa.String(length=40), nullable=False),
        sa.Column("annual_contract_usd", sa.Integer(), nullable=False),
        sa.Column("health_score", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("renewal_date", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["carrier_id"],
            ["rc_carriers.carrier_id"],
        ),
        sa.PrimaryKeyConstraint("account_id"),
    )
    _table(
        "rc_postings",
        sa.Column("posting_id", sa.String(length=40), nullable=False),
        sa.Column("carrier_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=160), nullable=False),
        sa.Column("equipment", sa.String(length=40), nullable=False),
        sa.Column("route_type", sa.String(length=40), nullable=False),
        sa.Column("origin_zip", sa.String(length=5), nullable=False),
        sa.Column("dest_zip", sa.String(length=5), nullable=False),
        sa.Column("lane", sa.String(length=40), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("cpm_loaded", sa.Float(), nullable=False),
        sa.Column("cpm_empty", sa.Float(), nullable=False),
        sa.Column("weekly_miles", sa.Integer(), nullable=False),
        sa.Column("sign_on_bonus", sa.Integer(), nullable=False),
        sa.Column("home_time", sa.String(length=40), nullable=False),
        sa.Column("hiring_zips", sa.JSON(), nullable=False),
        sa.Column("min_experience_years", sa.Float(), nullable=False),
        sa.Column("cdl_class", sa.String(length=1), nullable=False),
        sa.Column("required_endorsements", sa.JSON(), nullable=False),
        sa.Column("openings", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("posted_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["carrier_id"],
            ["rc_carriers.carrier_id"],
        ),
        sa.PrimaryKeyConstraint("posting_id"),
    )
    _table(
        "rc_recruiters",
        sa.Column("recruiter_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("email", sa.String(length=160), nullable=False),
        sa.Column("carrier_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["carrier_id"],
            ["rc_carriers.carrier_id"],
        ),
        sa.PrimaryKeyConstraint("recruiter_id"),
    )
    _table(
        "rc_opportunities",
        sa.Column("opportunity_id", sa.String(length=24), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=160), nullable=False),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("value_usd", sa.Integer(), nullable=False),
        sa.Column("drivers_needed", sa.Integer(), nullable=False),
        sa.Column("close_date", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["rc_accounts.account_id"],
        ),
        sa.PrimaryKeyConstraint("opportunity_id"),
    )
    _table(
        "rc_pipeline",
        sa.Column("interest_id", sa.String(length=40), nullable=False),
        sa.Column("driver_id", sa.String(length=40), nullable=False),
        sa.Column("posting_id", sa.String(length=40), nullable=False),
        sa.Column("recruiter_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("drop_off_reason", sa.String(length=60), nullable=True),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"],
            ["rc_drivers.driver_id"],
        ),
        sa.ForeignKeyConstraint(
            ["posting_id"],
            ["rc_postings.posting_id"],
        ),
        sa.ForeignKeyConstraint(
            ["recruiter_id"],
            ["rc_recruiters.recruiter_id"],
        ),
        sa.PrimaryKeyConstraint("interest_id"),
        sa.UniqueConstraint("driver_id", "posting_id", name="uq_rc_pipeline_driver_posting"),
    )
    _table(
        "rc_signals",
        sa.Column("signal_id", sa.String(length=24), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("lane", sa.String(length=40), nullable=True),
        sa.Column("equipment", sa.String(length=40), nullable=True),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.String(length=240), nullable=False),
        sa.Column("observed_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["rc_accounts.account_id"],
        ),
        sa.PrimaryKeyConstraint("signal_id"),
    )
    _table(
        "rc_interviews",
        sa.Column("interview_id", sa.String(length=24), nullable=False),
        sa.Column("interest_id", sa.String(length=40), nullable=False),
        sa.Column("recruiter_id", sa.String(length=40), nullable=False),
        sa.Column("scheduled_for", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["interest_id"],
            ["rc_pipeline.interest_id"],
        ),
        sa.PrimaryKeyConstraint("interview_id"),
    )
