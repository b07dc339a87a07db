"""The intervention catalogue: the default loads; bad files are refused with file, line, reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.agents.catalogue import (
    DEFAULT_CATALOGUE_TEXT,
    Catalogue,
    default_catalogue,
    load_catalogue,
    parse_catalogue,
)
from tailguard.agents.signals import SIGNAL_SPECS
from tailguard.control.policy import RiskLevel
from tailguard.errors import ConfigFileError


def test_default_catalogue_covers_every_tail_of_the_product_document() -> None:
    cat = default_catalogue()
    kinds = {e.kind for e in cat.entries}
    assert kinds >= {
        "surge_shift_offer",
        "nearby_job_offer",
        "routing_weight_boost",
        "apology_credit",
        "locker_buffer",
        "master_tech_shadow",
        "surge_pay_window",
        "recruiting_sms",
    }
    for entry in cat.entries:
        money_or_message = entry.kind not in ("routing_weight_boost", "locker_buffer")
        if money_or_message:
            assert entry.policy.risk_level is RiskLevel.EXECUTE_HIGH
            assert entry.policy.requires_approval
    routing = next(e for e in cat.entries if e.kind == "routing_weight_boost")
    assert routing.policy.risk_level is RiskLevel.EXECUTE_LOW
    assert routing.args["weight"] == 0.15
    # Every tool is registered once with its policy.
    registry = cat.registry(lambda entry: lambda args, ctx: None)
    assert sorted(registry.names()) == sorted({e.tool for e in cat.entries})


def _with(old: str, new: str) -> str:
    assert old in DEFAULT_CATALOGUE_TEXT
    return DEFAULT_CATALOGUE_TEXT.replace(old, new, 1)


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("trigger: [demand_surge]", "trigger: [demand_surges]", "unknown trigger"),
        ("kind: surge_pay_window", "kind: teleport", "unknown intervention kind"),
        ("target: {unit: sku,", "target: {unit: tech,", "acts on a sku"),
        ("by: lead_time_p95_days}", "by: shoe_size}", "unknown sku column"),
        (
            "args: {bonus_usd: 10, hours: 6}",
            "args: {bonus_usd: 10, hours: 6, zip: '1'}",
            "from the",
        ),
        ("args: {units: 6, days: 14}", "args: {units: 6, color: red}", "no argument"),
        ("cooldown: 96h", "cooldown: soon", "bad duration"),
        ("cost_usd: 450\n    cooldown: 96h", "cost_usd: -1\n    cooldown: 96h", "cost_usd"),
        ('policy_version: "catalogue-1"', 'policy_version: ""', "policy_version"),
        ("area_budget_pacing: none", "area_budget_pacing: hourly", "area_budget_pacing"),
    ],
)
def test_a_bad_entry_is_refused_with_its_line(old: str, new: str, reason: str) -> None:
    text = _with(old, new)
    with pytest.raises(ConfigFileError) as err:
        parse_catalogue(text, source="mine.yaml")
    assert err.value.path == "mine.yaml"
    assert reason in err.value.reason
    assert err.value.line is not None
    # The line points into the broken entry (at or after its `- id:` line, before the next).
    assert err.value.line <= _line_of(text, new.split("\n")[0]) + 1


def test_high_risk_without_approval_is_refused() -> None:
    text = _with(
        "      audit_fields: [zip, bonus_usd, hours]\n      idempotent: true\n",
        "      audit_fields: [zip, bonus_usd, hours]\n      idempotent: true\n"
        "      requires_approval: false\n",
    )
    text = text.replace(
        "      requires_approval: true\n      audit_fields: [zip, bonus_usd",
        "      audit_fields: [zip, bonus_usd",
        1,
    )
    with pytest.raises(ConfigFileError, match="requires_approval"):
        parse_catalogue(text)


def test_entries_sharing_a_tool_must_share_its_policy() -> None:
    text = _with("      audit_fields: [tech_id, cost_usd]\n", "      audit_fields: [tech_id]\n")
    with pytest.raises(ConfigFileError, match="shared with"):
        parse_catalogue(text)


def test_duplicate_ids_and_unreadable_files(tmp_path: Path) -> None:
    text = _with("id: recall_tech_shadow", "id: low_earner_surge_shift")
    with pytest.raises(ConfigFileError, match="duplicate id"):
        parse_catalogue(text)
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_catalogue(tmp_path / "missing.yaml")
    path = tmp_path / "ok.yaml"
    path.write_text(DEFAULT_CATALOGUE_TEXT)
    assert load_catalogue(path).digest == default_catalogue().digest


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_any_text_is_a_catalogue_or_a_clear_refusal(text: str) -> None:
    try:
        cat = parse_catalogue(text, source="fuzz.yaml")
    except ConfigFileError as exc:
        assert exc.path == "fuzz.yaml"  # noqa: PT017
        assert exc.reason  # noqa: PT017
    else:
        assert isinstance(cat, Catalogue)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=DEFAULT_CATALOGUE_TEXT.count("\n") - 1),
    st.sampled_from(["", "  x: 1", "- ", "cooldown: -3h", "{", "weight: 0"]),
)
def test_a_mangled_default_is_loaded_or_refused_never_crashes(line: int, junk: str) -> None:
    lines = DEFAULT_CATALOGUE_TEXT.split("\n")
    lines[line] = junk
    try:
        parse_catalogue("\n".join(lines), source="m.yaml")
    except ConfigFileError as exc:
        assert exc.path == "m.yaml"  # noqa: PT017


_KIND_OF_UNIT = {
    "zip": ("demand_surge_pay_window", "kind: surge_pay_window"),
    "tech": ("detractor_cluster_shadow", "kind: master_tech_shadow"),
    "sku": ("parts_spike_locker_buffer", "kind: locker_buffer"),
}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(SIGNAL_SPECS)), st.sampled_from(sorted(_KIND_OF_UNIT)))
def test_a_signal_triggers_only_entries_that_target_its_unit(signal: str, unit: str) -> None:
    """A signal names units of one type; an entry it triggers must pick among those."""
    entry_id, _ = _KIND_OF_UNIT[unit]
    start = DEFAULT_CATALOGUE_TEXT.index(f"id: {entry_id}")
    line_start = DEFAULT_CATALOGUE_TEXT.index("trigger: [", start)
    line_end = DEFAULT_CATALOGUE_TEXT.index("\n", line_start)
    text = (
        DEFAULT_CATALOGUE_TEXT[:line_start]
        + f"trigger: [{signal}]"
        + DEFAULT_CATALOGUE_TEXT[line_end:]
    )
    if SIGNAL_SPECS[signal].unit == unit:
        entry = parse_catalogue(text).entry(entry_id)
        assert entry.trigger == (signal,)
    else:
        with pytest.raises(ConfigFileError, match=f"signal {signal!r} names a") as err:
            parse_catalogue(text, source="s.yaml")
        assert err.value.line == text[:line_start].count("\n") + 1


def test_the_default_catalogue_wires_every_signal() -> None:
    used = {t for e in default_catalogue().entries for t in e.trigger}
    assert set(SIGNAL_SPECS) <= used


def test_daily_pacing_releases_a_seventh_of_the_area_budget_a_day() -> None:
    from datetime import UTC, datetime

    from tailguard.agents.choose import paced

    monday, saturday = datetime(2026, 3, 2, 9, tzinfo=UTC), datetime(2026, 3, 7, 23, tzinfo=UTC)
    assert paced(7000.0, monday, "daily") == 1000.0
    assert paced(7000.0, saturday, "daily") == 6000.0
    assert paced(7000.0, monday, "none") == 7000.0
    paced_default = parse_catalogue(_with("area_budget_pacing: none", "area_budget_pacing: daily"))
    assert paced_default.area_budget_pacing == "daily"
