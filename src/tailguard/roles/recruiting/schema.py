"""The recruiting reference dataset's tables (SQLAlchemy Core, SQLite and PostgreSQL).

Timestamps are RFC 3339 UTC strings (``tailguard.clock.format_ts``) so they sort and compare
the same way on both databases. Lists (endorsements, hiring ZIPs) are JSON columns.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Pipeline stages in order; rejected and withdrawn end a candidacy at any stage.
STAGES: tuple[str, ...] = ("lead", "contacted", "screening", "interview", "offer", "hired")
TERMINAL: tuple[str, ...] = ("rejected", "withdrawn")
STATUSES: tuple[str, ...] = STAGES + TERMINAL
EQUIPMENT: tuple[str, ...] = ("dry_van", "reefer", "flatbed", "tanker")
ROUTE_TYPES: tuple[str, ...] = ("OTR", "regional", "local", "dedicated")
ENDORSEMENTS: tuple[str, ...] = ("H", "N", "T", "X", "P")

users = sa.Table(
    "rc_users",
    metadata,
    sa.Column("user_id", sa.String(40), primary_key=True),
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("subject_id", sa.String(40)),
    sa.Column("display_name", sa.String(120), nullable=False),
)

drivers = sa.Table(
    "rc_drivers",
    metadata,
    sa.Column("driver_id", sa.String(40), primary_key=True),
    sa.Column("first_name", sa.String(60), nullable=False),
    sa.Column("last_name", sa.String(60), nullable=False),
    sa.Column("home_zip", sa.String(5), nullable=False),
    sa.Column("cdl_class", sa.String(1), nullable=False),
    sa.Column("endorsements", sa.JSON, nullable=False),
    sa.Column("experience_years", sa.Float, nullable=False),
    sa.Column("desired_cpm", sa.Float, nullable=False),
    sa.Column("equipment", sa.String(40), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
)

carriers = sa.Table(
    "rc_carriers",
    metadata,
    sa.Column("carrier_id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("dot_number", sa.Integer, nullable=False, unique=True),
    sa.Column("mc_number", sa.Integer, nullable=False, unique=True),
    sa.Column("safety_rating", sa.String(40), nullable=False),
    sa.Column("driver_oos_rate", sa.Float, nullable=False),
    sa.Column("vehicle_oos_rate", sa.Float, nullable=False),
    sa.Column("power_units", sa.Integer, nullable=False),
    sa.Column("drivers_count", sa.Integer, nullable=False),
    sa.Column("crashes_24mo", sa.Integer, nullable=False),
    sa.Column("home_zip", sa.String(5), nullable=False),
)

postings = sa.Table(
    "rc_postings",
    metadata,
    sa.Column("posting_id", sa.String(40), primary_key=True),
    sa.Column("carrier_id", sa.String(40), sa.ForeignKey("rc_carriers.carrier_id"), nullable=False),
    sa.Column("title", sa.String(160), nullable=False),
    sa.Column("equipment", sa.String(40), nullable=False),
    sa.Column("route_type", sa.String(40), nullable=False),
    sa.Column("origin_zip", sa.String(5), nullable=False),
    sa.Column("dest_zip", sa.String(5), nullable=False),
    sa.Column("lane", sa.String(40), nullable=False),
    sa.Column("region", sa.String(40), nullable=False),
    sa.Column("cpm_loaded", sa.Float, nullable=False),
    sa.Column("cpm_empty", sa.Float, nullable=False),
    sa.Column("weekly_miles", sa.Integer, nullable=False),
    sa.Column("sign_on_bonus", sa.Integer, nullable=False),
    sa.Column("home_time", sa.String(40), nullable=False),
    sa.Column("hiring_zips", sa.JSON, nullable=False),
    sa.Column("min_experience_years", sa.Float, nullable=False),
    sa.Column("cdl_class", sa.String(1), nullable=False),
    sa.Column("required_endorsements", sa.JSON, nullable=False),
    sa.Column("openings", sa.Integer, nullable=False),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("posted_at", sa.String(32), nullable=False),
)

recruiters = sa.Table(
    "rc_recruiters",
    metadata,
    sa.Column("recruiter_id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("email", sa.String(160), nullable=False),
    sa.Column("carrier_id", sa.String(40), sa.ForeignKey("rc_carriers.carrier_id")),
)

pipeline = sa.Table(
    "rc_pipeline",
    metadata,
    sa.Column("interest_id", sa.String(40), primary_key=True),
    sa.Column("driver_id", sa.String(40), sa.ForeignKey("rc_drivers.driver_id"), nullable=False),
    sa.Column("posting_id", sa.String(40), sa.ForeignKey("rc_postings.posting_id"), nullable=False),
    sa.Column("recruiter_id", sa.String(40), sa.ForeignKey("rc_recruiters.recruiter_id")),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("drop_off_reason", sa.String(60)),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.UniqueConstraint("driver_id", "posting_id", name="uq_rc_pipeline_driver_posting"),
)

# Append-only history of status changes: the evidence for rollbacks and time to fill.
status_history = sa.Table(
    "rc_status_history",
    metadata,
    sa.Column("interest_id", sa.String(40), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("from_status", sa.String(40)),
    sa.Column("to_status", sa.String(40), nullable=False),
    sa.Column("changed_by", sa.String(40), nullable=False),
    sa.Column("reason", sa.String(200)),
    sa.Column("changed_at", sa.String(32), nullable=False),
    # The caller's idempotency key: a retried or resumed call finds its change, not a new one.
    sa.Column("request_key", sa.String(64), unique=True),
)

messages = sa.Table(
    "rc_messages",
    metadata,
    sa.Column("message_id", sa.String(24), primary_key=True),
    sa.Column("interest_id", sa.String(40)),
    sa.Column("sender_id", sa.String(40), nullable=False),
    sa.Column("receiver_id", sa.String(40), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("sent_at", sa.String(32), nullable=False),
)

interviews = sa.Table(
    "rc_interviews",
    metadata,
    sa.Column("interview_id", sa.String(24), primary_key=True),
    sa.Column(
        "interest_id", sa.String(40), sa.ForeignKey("rc_pipeline.interest_id"), nullable=False
    ),
    sa.Column("recruiter_id", sa.String(40), nullable=False),
    sa.Column("scheduled_for", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("status", sa.String(40), nullable=False),
)

calls = sa.Table(
    "rc_calls",
    metadata,
    sa.Column("call_id", sa.String(24), primary_key=True),
    sa.Column("recruiter_id", sa.String(40), nullable=False),
    sa.Column("driver_id", sa.String(40), nullable=False),
    sa.Column("outcome", sa.String(24), nullable=False),
    sa.Column("duration_s", sa.Integer, nullable=False),
    sa.Column("notes", sa.Text, nullable=False),
    sa.Column("logged_at", sa.String(32), nullable=False),
)

applications = sa.Table(
    "rc_applications",
    metadata,
    sa.Column("application_id", sa.String(24), primary_key=True),
    sa.Column("driver_id", sa.String(40), nullable=False),
    sa.Column("posting_id", sa.String(40), nullable=False),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("submitted_at", sa.String(32), nullable=False),
    sa.UniqueConstraint("driver_id", "posting_id", name="uq_rc_applications_driver_posting"),
)

accounts = sa.Table(
    "rc_accounts",
    metadata,
    sa.Column("account_id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("carrier_id", sa.String(40), sa.ForeignKey("rc_carriers.carrier_id")),
    sa.Column("tier", sa.String(40), nullable=False),
    sa.Column("annual_contract_usd", sa.Integer, nullable=False),
    sa.Column("health_score", sa.Integer, nullable=False),
    sa.Column("owner", sa.String(120), nullable=False),
    sa.Column("renewal_date", sa.String(32), nullable=False),
)

signals = sa.Table(
    "rc_signals",
    metadata,
    sa.Column("signal_id", sa.String(24), primary_key=True),
    sa.Column("account_id", sa.String(40), sa.ForeignKey("rc_accounts.account_id"), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("region", sa.String(40), nullable=False),
    sa.Column("lane", sa.String(40)),
    sa.Column("equipment", sa.String(40)),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("unit", sa.String(24), nullable=False),
    sa.Column("detail", sa.String(240), nullable=False),
    sa.Column("observed_at", sa.String(32), nullable=False),
)

opportunities = sa.Table(
    "rc_opportunities",
    metadata,
    sa.Column("opportunity_id", sa.String(24), primary_key=True),
    sa.Column("account_id", sa.String(40), sa.ForeignKey("rc_accounts.account_id"), nullable=False),
    sa.Column("title", sa.String(160), nullable=False),
    sa.Column("stage", sa.String(24), nullable=False),
    sa.Column("value_usd", sa.Integer, nullable=False),
    sa.Column("drivers_needed", sa.Integer, nullable=False),
    sa.Column("close_date", sa.String(32), nullable=False),
)

road_conditions = sa.Table(
    "rc_road_conditions",
    metadata,
    sa.Column("condition_id", sa.String(24), primary_key=True),
    sa.Column("route", sa.String(40), nullable=False),
    sa.Column("zip", sa.String(5), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("severity", sa.String(40), nullable=False),
    sa.Column("delay_min", sa.Integer, nullable=False),
    sa.Column("detail", sa.String(240), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)

parking = sa.Table(
    "rc_parking",
    metadata,
    sa.Column("location_id", sa.String(24), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("zip", sa.String(5), nullable=False),
    sa.Column("route", sa.String(40), nullable=False),
    sa.Column("spaces_total", sa.Integer, nullable=False),
    sa.Column("spaces_available", sa.Integer, nullable=False),
    sa.Column("amenities", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)

prompts = sa.Table(
    "rc_prompts",
    metadata,
    sa.Column("prompt_id", sa.String(40), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("updated_by", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)
