"""Revision 0001's tables of the ledger, control plane, self-learn store, policy versions, crowd,
gamification, API keys and voice calls, as that release defined them."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

Creator = Callable[..., None]


def create(_table: Creator, _index: Creator) -> None:
    """Create the tables through ``_table`` and their indexes through ``_index``."""
    _table(
        "tailguard_api_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("revoked_at", sa.Float(precision=53), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )
    _index("ix_tailguard_api_keys_name", "tailguard_api_keys", ["name"], unique=False)
    _table(
        "tailguard_control_claims",
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", sa.Float(precision=53), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("gate_id"),
    )
    _table(
        "tailguard_control_daily_runs",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day"),
    )
    _table(
        "tailguard_control_gates",
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("tool_name", sa.String(length=255), nullable=False),
        sa.Column("args_json", sa.Text(), nullable=False),
        sa.Column("risk_level", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requester_id", sa.String(length=255), nullable=False),
        sa.Column("initiator_id", sa.String(length=255), nullable=False),
        sa.Column("presented_at", sa.Float(precision=53), nullable=False),
        sa.Column("expires_at", sa.Float(precision=53), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", sa.Float(precision=53), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("edited", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("gate_id"),
        sa.UniqueConstraint("step_id"),
    )
    _index(
        "ix_tailguard_control_gates_decision",
        "tailguard_control_gates",
        ["decision"],
        unique=False,
    )
    _index(
        "ix_tailguard_control_gates_run_id",
        "tailguard_control_gates",
        ["run_id"],
        unique=False,
    )
    _table(
        "tailguard_control_locks",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    _table(
        "tailguard_control_policy_reviews",
        sa.Column("gate_id", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("area_id", sa.String(length=255), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("spend_micros", sa.BigInteger(), nullable=False),
        sa.Column("assessed_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("gate_id"),
    )
    _index(
        "ix_policy_reviews_cap", "tailguard_control_policy_reviews", ["policy", "day"], unique=False
    )
    _table(
        "tailguard_control_rate_hits",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _index(
        "ix_tailguard_control_rate_hits_key_at",
        "tailguard_control_rate_hits",
        ["key", "at"],
        unique=False,
    )
    _table(
        "tailguard_control_reservations",
        sa.Column("reservation_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("reservation_id"),
    )
    _table(
        "tailguard_control_rollbacks",
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("step_id"),
    )
    _table(
        "tailguard_control_runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=255), nullable=False),
        sa.Column("initiator_id", sa.String(length=255), nullable=False),
        sa.Column("goal_text", sa.Text(), nullable=True),
        sa.Column("conversation_id", sa.String(length=255), nullable=True),
        sa.Column("started_at", sa.Float(precision=53), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("max_tokens", sa.BigInteger(), nullable=True),
        sa.Column("max_cost_micros", sa.BigInteger(), nullable=True),
        sa.Column("max_seconds", sa.Float(precision=53), nullable=True),
        sa.Column("alert_cost_micros", sa.BigInteger(), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("reserved_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reserved_cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.Column("area_id", sa.String(length=255), nullable=True),
        sa.Column("hour", sa.Float(precision=53), nullable=True),
        sa.PrimaryKeyConstraint("run_id"),
    )
    _index(
        "ix_tailguard_control_runs_area_hour",
        "tailguard_control_runs",
        ["area_id", "hour"],
        unique=False,
    )
    _table(
        "tailguard_control_step_payloads",
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("tool_name", sa.String(length=255), nullable=False),
        sa.Column("args_json", sa.Text(), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("step_id"),
    )
    _table(
        "tailguard_crowd_areas",
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("area_type", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("area_id"),
    )
    _table(
        "tailguard_crowd_kpis",
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("kpi", sa.String(length=64), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("area_id", "kpi", "period"),
    )
    _table(
        "tailguard_crowd_tactics",
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("tactic", sa.String(length=255), nullable=False),
        sa.Column("kpi", sa.String(length=64), nullable=False),
        sa.Column("tactic_id", sa.String(length=64), nullable=False),
        sa.Column("adopted_period", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("decisions", sa.Integer(), nullable=False),
        sa.Column("outcome_n", sa.Integer(), nullable=False),
        sa.Column("outcome_mean_delta", sa.Float(precision=53), nullable=True),
        sa.Column("published_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("area_id", "tactic", "kpi"),
        sa.UniqueConstraint("tactic_id"),
    )
    _table(
        "tailguard_crowd_tests",
        sa.Column("test_id", sa.String(length=64), nullable=False),
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("tactic", sa.String(length=255), nullable=False),
        sa.Column("kpi", sa.String(length=64), nullable=False),
        sa.Column("cluster", sa.String(length=32), nullable=False),
        sa.Column("source_areas", sa.Integer(), nullable=False),
        sa.Column("started_period", sa.Integer(), nullable=False),
        sa.Column("b_share", sa.Float(precision=53), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("units_a", sa.Integer(), nullable=False),
        sa.Column("units_b", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("decided_period", sa.Integer(), nullable=True),
        sa.Column("lift", sa.Float(precision=53), nullable=True),
        sa.Column("lift_lo", sa.Float(precision=53), nullable=True),
        sa.Column("lift_hi", sa.Float(precision=53), nullable=True),
        sa.Column("srm_p", sa.Float(precision=53), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("test_id"),
    )
    _index("ix_tailguard_crowd_tests_area_id", "tailguard_crowd_tests", ["area_id"], unique=False)
    _table(
        "tailguard_gami_actions",
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(precision=53), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("area_id", sa.String(length=64), nullable=True),
        sa.Column("tech_id", sa.String(length=64), nullable=True),
        sa.Column("usd", sa.Float(precision=53), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("action_id"),
    )
    _index(
        "ix_tailguard_gami_actions_tech_id",
        "tailguard_gami_actions",
        ["tech_id"],
        unique=False,
    )
    _table(
        "tailguard_gami_arms",
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("ftf_bonus_usd", sa.Float(precision=53), nullable=False),
        sa.Column("kit_value_usd", sa.Float(precision=53), nullable=False),
        sa.Column("propensity", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("area_id"),
    )
    _table(
        "tailguard_gami_optin",
        sa.Column("tech_id", sa.String(length=64), nullable=False),
        sa.Column("opted_in", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.Float(precision=53), nullable=False),
        sa.Column("changed_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("tech_id"),
    )
    _table(
        "tailguard_gami_replay_views",
        sa.Column("replay_id", sa.String(length=64), nullable=False),
        sa.Column("viewer_id", sa.String(length=64), nullable=False),
        sa.Column("viewed_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("replay_id", "viewer_id", "viewed_at"),
    )
    _table(
        "tailguard_gami_replays",
        sa.Column("replay_id", sa.String(length=64), nullable=False),
        sa.Column("tech_id", sa.String(length=64), nullable=False),
        sa.Column("area_id", sa.String(length=64), nullable=True),
        sa.Column("job_code", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("media_ref", sa.String(length=500), nullable=False),
        sa.Column("published_at", sa.Float(precision=53), nullable=False),
        sa.Column("withdrawn_at", sa.Float(precision=53), nullable=True),
        sa.PrimaryKeyConstraint("replay_id"),
    )
    _index(
        "ix_tailguard_gami_replays_job_code",
        "tailguard_gami_replays",
        ["job_code"],
        unique=False,
    )
    _index(
        "ix_tailguard_gami_replays_tech_id",
        "tailguard_gami_replays",
        ["tech_id"],
        unique=False,
    )
    _table(
        "tailguard_gami_scores",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("tech_id", sa.String(length=64), nullable=False),
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.Column("techpower", sa.Float(precision=53), nullable=True),
        sa.Column("revenue_z", sa.Float(precision=53), nullable=True),
        sa.Column("fix_z", sa.Float(precision=53), nullable=True),
        sa.Column("nps_z", sa.Float(precision=53), nullable=True),
        sa.Column("net_fix_pct", sa.Float(precision=53), nullable=True),
        sa.Column("area_rank", sa.Integer(), nullable=False),
        sa.Column("area_size", sa.Integer(), nullable=False),
        sa.Column("network_p50", sa.Float(precision=53), nullable=True),
        sa.Column("network_p90", sa.Float(precision=53), nullable=True),
        sa.PrimaryKeyConstraint("week", "tech_id"),
    )
    _index("ix_tailguard_gami_scores_area_id", "tailguard_gami_scores", ["area_id"], unique=False)
    _table(
        "tailguard_gami_streaks",
        sa.Column("tech_id", sa.String(length=64), nullable=False),
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("current", sa.Integer(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("awarded", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tech_id"),
    )
    _table(
        "tailguard_gami_weak",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("tech_id", sa.String(length=64), nullable=False),
        sa.Column("job_code", sa.String(length=64), nullable=False),
        sa.Column("fix_z", sa.Float(precision=53), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("week", "tech_id", "job_code"),
    )
    _table(
        "tailguard_ledger",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=True),
        sa.Column("recorded_at_us", sa.BigInteger(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
        sa.UniqueConstraint("prev_hash"),
    )
    _index(
        "ix_tailguard_ledger_entity", "tailguard_ledger", ["kind", "record_id", "seq"], unique=False
    )
    _index("ix_tailguard_ledger_run", "tailguard_ledger", ["run_id", "seq"], unique=False)
    _index("ix_tailguard_ledger_time", "tailguard_ledger", ["recorded_at_us"], unique=False)
    _table(
        "tailguard_ledger_head",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    _table(
        "tailguard_policy_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("active", sa.String(length=64), nullable=True),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    _table(
        "tailguard_policy_versions",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("previous", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("decisions_used", sa.Integer(), nullable=False),
        sa.Column("data_digest", sa.String(length=64), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("version_id"),
    )
    _table(
        "tailguard_selflearn_interventions",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("decision_id", sa.String(length=64), nullable=False),
        sa.Column("area_id", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("tool_name", sa.String(length=128), nullable=False),
        sa.Column("trigger", sa.String(length=128), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("propensity", sa.Float(precision=53), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("decided_at", sa.Float(precision=53), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("step_id", sa.String(length=64), nullable=True),
        sa.Column("gate_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("cost_usd", sa.Float(precision=53), nullable=False),
        sa.Column("executed_at", sa.Float(precision=53), nullable=True),
        sa.Column("horizon_at", sa.Float(precision=53), nullable=True),
        sa.Column("outcome_kpi", sa.String(length=64), nullable=True),
        sa.Column("baseline_value", sa.Float(precision=53), nullable=True),
        sa.Column("outcome_value", sa.Float(precision=53), nullable=True),
        sa.Column("outcome_delta", sa.Float(precision=53), nullable=True),
        sa.Column("measured_at", sa.Float(precision=53), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("decision_id"),
    )
    _index(
        "ix_tailguard_selflearn_interventions_area_id",
        "tailguard_selflearn_interventions",
        ["area_id"],
        unique=False,
    )
    _index(
        "ix_tailguard_selflearn_interventions_decided_at",
        "tailguard_selflearn_interventions",
        ["decided_at"],
        unique=False,
    )
    _table(
        "voice_calls",
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("assistant", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("fragments", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("call_id"),
    )
    _table(
        "voice_tool_calls",
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("tool_call_id", sa.String(length=128), nullable=False),
        sa.Column("tool_name", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("gate_id", sa.String(length=64), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("call_id", "tool_call_id"),
    )
