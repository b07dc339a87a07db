"""The fast argument check (Rust validator) gives the Python validator's verdicts."""

from __future__ import annotations

import math
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.agents.catalogue import default_catalogue
from tailguard.agents.tick import build_registry
from tailguard.clock import FakeClock
from tailguard.control.tools import ArgsValidator
from tailguard.errors import InvalidInputError

_SCHEMAS: dict[str, dict[str, Any]] = {
    tool.name: dict(tool.parameters)
    for tool in build_registry(default_catalogue(), lambda: None, FakeClock())  # type: ignore[arg-type, return-value]
}
_SCHEMAS["nested"] = {
    "type": "object",
    "properties": {
        "a": {"type": "array", "items": {"type": "integer", "maximum": 9}, "maxItems": 3},
        "b": {"enum": ["x", "y", None]},
        "c": {"type": "object", "required": ["d"], "properties": {"d": {"type": "boolean"}}},
    },
    "required": ["a"],
}

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, 0.0, 1.0, -0.0, 2.5, 9, 10])
    | st.text(max_size=4)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def _instances(draw: st.DrawFn, schema: dict[str, Any]) -> Any:
    """Mostly objects with the schema's own property names (so both verdicts are common)."""
    names = sorted(schema.get("properties", {}))
    if not names or draw(st.integers(0, 9)) == 0:
        return draw(_JSON)
    keys = draw(st.lists(st.sampled_from([*names, "other"]), max_size=len(names) + 1))
    return {k: draw(_JSON) for k in keys}


@pytest.mark.parametrize("name", sorted(_SCHEMAS))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fast_and_full_validators_agree(name: str, data: st.DataObject) -> None:
    """Whatever the arguments, the fast path accepts exactly what the Python validator does."""
    schema = _SCHEMAS[name]
    checker = ArgsValidator(schema)
    assert checker.fast is not None  # no format keywords here: the fast path is on
    instance = data.draw(_instances(schema))
    full = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    expected = next(full.iter_errors(instance), None) is None
    assert checker.fast.is_valid(instance) == expected
    assert (checker.best_error(instance) is None) == expected


def test_schemas_with_formats_use_the_python_validator_only() -> None:
    """Format checks are where implementations differ: those schemas skip the fast path."""
    checker = ArgsValidator(
        {"type": "object", "properties": {"to": {"type": "string", "format": "email"}}}
    )
    assert checker.fast is None
    error = checker.best_error({"to": "nobody"})
    assert error is not None
    assert "email" in error.message
    assert checker.best_error({"to": "ops@example.com"}) is None


def test_a_refused_call_reports_the_python_validators_message() -> None:
    """The message names the path and the rule, whichever validator refused first."""
    registry = build_registry(default_catalogue(), lambda: None, FakeClock())  # type: ignore[arg-type, return-value]
    with pytest.raises(InvalidInputError, match=r"invalid arguments at customer_ids/0"):
        registry.validate("send_apology_credit", {"customer_ids": [""]})
    with pytest.raises(InvalidInputError, match="arguments are not JSON"):
        registry.validate("send_apology_credit", {"customer_ids": ["c"], "amount_usd": math.nan})


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "number", "multipleOf": 0.01}, 0.07),  # exact decimals vs floating point
        ({"type": "string", "pattern": "^\\s$"}, "\ufeff"),  # ECMA-262 \s vs Python's
    ],
    ids=["multipleOf", "pattern"],
)
def test_keywords_the_validators_disagree_on_use_the_python_validator(
    schema: dict[str, Any], value: Any
) -> None:
    """Where the Rust validator would accept what the Python one refuses, it is not asked."""
    import jsonschema_rs

    wrapped = {"type": "object", "properties": {"x": schema}}
    assert jsonschema_rs.Draft202012Validator(wrapped).is_valid({"x": value})  # the divergence
    checker = ArgsValidator(wrapped)
    assert checker.fast is None
    assert checker.best_error({"x": value}) is not None


def test_a_schema_only_python_compiles_still_registers() -> None:
    """A Python-only regular expression (\\Z) does not break the tool's registration."""
    checker = ArgsValidator(
        {"type": "object", "properties": {"zip": {"type": "string", "pattern": "^\\d{5}\\Z"}}}
    )
    assert checker.fast is None
    assert checker.best_error({"zip": "10115"}) is None
    assert checker.best_error({"zip": "1011"}) is not None
