"""Property tests: canonical JSON, the record hash and record validation."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tailguard.errors import InvalidInputError
from tailguard.ledger import canonical_json, check_record, record_hash

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    fields=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    seq=st.integers(min_value=1, max_value=2**62),
    kind=st.text(min_size=1, max_size=10),
    prev=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    at=st.integers(min_value=0, max_value=2**62),
)
def test_record_hash_equals_sha256_of_the_full_canonical_document(
    fields: dict[str, Any], seq: int, kind: str, prev: str, at: int
) -> None:
    """The text-assembled payload is byte-for-byte json.dumps of the whole record."""
    full = json.dumps(
        {"seq": seq, "kind": kind, "fields": fields, "prev_hash": prev, "recorded_at_us": at},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    expected = hashlib.sha256(full.encode()).hexdigest()
    assert (
        record_hash(
            seq=seq,
            kind=kind,
            fields_json=canonical_json(fields),
            prev_hash=prev,
            recorded_at_us=at,
        )
        == expected
    )


@given(fields=st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_canonical_json_round_trips_to_itself(fields: dict[str, Any]) -> None:
    """Parsing canonical JSON and writing it again gives the same text (stable hashes)."""
    text = canonical_json(fields)
    assert canonical_json(json.loads(text)) == text


@given(
    kind=st.text(max_size=12),
    fields=st.dictionaries(st.text(max_size=10), json_values | st.floats(), max_size=6),
)
def test_check_record_either_accepts_plain_json_or_raises_invalid_input(
    kind: str, fields: dict[str, Any]
) -> None:
    """Arbitrary input never crashes validation: it is refused with a clear error or normalised."""
    try:
        checked = check_record(kind, fields)
    except InvalidInputError:
        return
    assert checked.kind == kind
    assert checked.record_id == fields[f"{kind}_id"]
    assert json.loads(canonical_json(checked.fields)) == checked.fields


@given(
    status=st.text(max_size=12),
    score=st.one_of(st.integers(-50, 150), st.floats(allow_nan=True), st.booleans(), st.none()),
)
def test_outcome_enumerations_and_score_range_are_enforced(status: str, score: Any) -> None:
    """objective_met must be one of the four values and quality_score a number 0..100."""
    fields = {
        "outcome_id": "o1",
        "run_id": "r1",
        "objective_met": status,
        "quality_score": score,
        "user_feedback": None,
        "follow_up_tasks": None,
        "outcome_deltas": None,
        "evaluated_at": "2026-01-05T00:00:00Z",
    }
    valid = (
        status in ("yes", "partial", "no", "unknown")
        and isinstance(score, int | float)
        and not isinstance(score, bool)
        and score == score
        and 0 <= score <= 100
    )
    try:
        check_record("outcome", fields)
    except InvalidInputError:
        assert not valid
    else:
        assert valid
