"""The approval-policy file: what it accepts, and refusals that name file, line and reason."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.control.approval_policies import (
    Limit,
    load_approval_policies,
    parse_approval_policies,
)
from tailguard.errors import ConfigFileError

GOOD = """\
approval_policies:
  - name: apology-credits
    description: Small apology credits are routine.
    tools: [send_apology_credit]
    limits:
      - {arg: amount_usd, max: 25}
      - {arg: customer_ids, max_items: 5}
    spend: {arg: amount_usd, per_item_of: customer_ids}
    caps: {area_day_usd: 500}
    sample_pct: 5
"""

TOOLS = {
    "send_apology_credit": {
        "type": "object",
        "properties": {"customer_ids": {"type": "array"}, "amount_usd": {"type": "number"}},
    }
}


def test_a_good_file_parses_into_its_rule() -> None:
    """The documented example gives one policy with its limits, spend, cap and sample."""
    (policy,) = parse_approval_policies(GOOD, "p.yaml", tools=TOOLS)
    assert policy.name == "apology-credits"
    assert policy.tools == ("send_apology_credit",)
    assert policy.limits == (
        Limit(arg="amount_usd", max=25.0),
        Limit(arg="customer_ids", max_items=5),
    )
    assert policy.spend({"amount_usd": 25, "customer_ids": ["a", "b"]}) == 50.0
    assert (policy.area_day_usd, policy.sample_pct) == (500.0, 5.0)
    assert "$500 per area-day" in policy.summary()


def test_the_digest_changes_with_the_rule_and_only_with_it() -> None:
    """Reformatting the file keeps the digest; changing a limit changes it."""
    (a,) = parse_approval_policies(GOOD)
    (b,) = parse_approval_policies(
        GOOD.replace("{arg: amount_usd, max: 25}", "{max: 25, arg: amount_usd}")
    )
    (c,) = parse_approval_policies(GOOD.replace("max: 25", "max: 30"))
    assert a.digest() == b.digest() != c.digest()


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (GOOD.replace("max: 25}", "max: 25, max_items: 3}"), 6, "exactly one of"),
        (GOOD.replace("apology-credits", "Apology Credits"), 2, "lower-case"),
        (GOOD.replace("sample_pct: 5", "sample_pct: 150"), 10, "sample_pct"),
        (GOOD.replace("sample_pct: 5", "sample_pct: 5\n    colour: blue"), 11, "unknown field"),
        (
            GOOD.replace("    spend: {arg: amount_usd, per_item_of: customer_ids}\n", ""),
            8,
            "caps need a spend",
        ),
        (
            GOOD.replace("send_apology_credit]", "send_apology_credit, send_apology_credit]"),
            4,
            "distinct",
        ),
        (GOOD + GOOD.split("\n", 1)[1], 11, "defined twice"),
        (GOOD.replace("tools: [send_apology_credit]", "tools: [refund]"), 4, "not a gated tool"),
        (GOOD.replace("arg: amount_usd, max", "arg: amount, max"), 4, "no argument 'amount'"),
        ("approval_policies: [\n", 2, "invalid YAML"),
        ("- just a list\n", 1, "must be a mapping"),
    ],
)
def test_a_bad_file_is_refused_with_its_line_and_reason(text: str, line: int, reason: str) -> None:
    """Each mistake is named with the file, the line it is on and why."""
    with pytest.raises(ConfigFileError) as caught:
        parse_approval_policies(text, "p.yaml", tools=TOOLS)
    assert caught.value.path == "p.yaml"
    assert caught.value.line == line, caught.value.message
    assert reason in caught.value.reason


def test_a_tool_is_covered_by_one_policy_only() -> None:
    """Two policies naming the same tool are refused at the second one's tool."""
    second = GOOD.split("\n", 1)[1].replace("apology-credits", "more-credits")
    with pytest.raises(ConfigFileError, match="already covered by apology-credits") as caught:
        parse_approval_policies(GOOD + second, "p.yaml")
    assert caught.value.line == 13


def test_an_unreadable_file_is_refused_with_its_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A missing file is a ConfigFileError naming it."""
    with pytest.raises(ConfigFileError, match="cannot read"):
        load_approval_policies(tmp_path / "nope.yaml")


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    ["name", "tools", "limits", "spend", "caps", "sample_pct", "description", "arg", "max"]
)


@st.composite
def _policy_docs(draw: st.DrawFn) -> str:
    """YAML that is often close to valid: real keys with arbitrary values."""
    import yaml

    policy: dict[str, Any] = {
        "name": draw(st.sampled_from(["ok-name", "Bad Name", "", "x" * 70])),
        "tools": draw(st.sampled_from([["send_apology_credit"], [], ["a", "a"], "oops"])),
    }
    for key in draw(st.lists(_keys, max_size=4)):
        policy[key] = draw(_values)
    if draw(st.booleans()):
        policy["limits"] = [
            draw(
                st.dictionaries(
                    st.sampled_from(["arg", "max", "max_items", "one_of"]), _values, max_size=3
                )
            )
        ]
    return yaml.safe_dump({"approval_policies": [policy]}, allow_unicode=True)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_policy_docs(), st.text(max_size=200)))
def test_the_parser_accepts_or_refuses_with_a_line_never_crashes(text: str) -> None:
    """Whatever the text, the parser returns policies or raises ConfigFileError with a reason."""
    refusal: ConfigFileError | None = None
    try:
        policies = parse_approval_policies(text, "fuzz.yaml", tools=TOOLS)
    except ConfigFileError as exc:
        refusal = exc
        policies = []
    if refusal is not None:
        assert refusal.path == "fuzz.yaml"
        assert refusal.reason
        return
    names = [p.name for p in policies]
    assert len(set(names)) == len(names)
    for p in policies:
        assert 0.0 <= p.sample_pct <= 100.0
        assert set(p.tools) <= set(TOOLS)
        assert all(len(lim.arg) > 0 for lim in p.limits)
        assert len(p.digest()) == 64
