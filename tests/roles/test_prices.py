"""The price table parser accepts well-formed files and refuses bad ones with file and line."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.errors import ConfigFileError
from tailguard.roles.providers import Usage, load_prices, parse_prices

names = st.from_regex(r"\A(anthropic|openai):[a-z][a-z0-9.-]{0,20}\Z")
money = st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False)


# No deadline: a YAML round trip on a loaded 2-core machine can take longer than 200 ms.
@settings(deadline=None)
@given(st.dictionaries(names, st.tuples(money, money), min_size=1, max_size=8))
def test_any_well_formed_table_parses_to_the_same_prices(
    table: dict[str, tuple[float, float]],
) -> None:
    """A table written as YAML parses back to exactly its prices."""
    text = yaml.safe_dump({"models": {k: {"input": i, "output": o} for k, (i, o) in table.items()}})
    parsed = parse_prices(text, source="p.yaml")
    for key, (i, o) in table.items():
        price = parsed.require(key)
        assert math.isclose(price.input_per_mtok, i)
        assert math.isclose(price.output_per_mtok, o)


@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_fails_with_config_error(text: str) -> None:
    """Any text either parses or raises ConfigFileError naming the file; nothing else escapes."""
    error: ConfigFileError | None = None
    try:
        parse_prices(text, source="p.yaml")
    except ConfigFileError as exc:
        error = exc
    assert error is None or error.path == "p.yaml"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("models:\n  openai:gpt-4o: {input: -1, output: 2}\n", 2, "finite number >= 0"),
        ("models:\n  openai:gpt-4o: {input: 1}\n", 2, "missing"),
        ("models:\n  gpt-4o: {input: 1, output: 2}\n", 2, "<provider>:<model>"),
        (
            "models:\n  openai:a: {input: 1, output: 2}\n  openai:a: {input: 1, output: 2}\n",
            3,
            "twice",
        ),
        ("models:\n  openai:a: {input: x, output: 2}\n", 2, "must be a number"),
        ("prices: {}\n", 1, "unknown key"),
        ("models: [1, 2\n", None, "not valid YAML"),
    ],
)
def test_bad_price_files_name_line_and_reason(text: str, line: int | None, reason: str) -> None:
    """Each defect is reported with its line and a reason."""
    with pytest.raises(ConfigFileError, match=reason) as info:
        parse_prices(text, source="p.yaml")
    if line is not None:
        assert info.value.line == line


def test_dated_model_ids_use_the_longest_prefix_price() -> None:
    """A dated id such as claude-haiku-4-5-20251001 is priced by its family key."""
    prices = load_prices()
    dated = prices.require("anthropic:claude-haiku-4-5-20251001")
    assert dated == prices.require("anthropic:claude-haiku-4-5")
    assert dated.cost(Usage(input_tokens=1_000_000, output_tokens=1_000_000)) == pytest.approx(6.0)


def test_env_file_overrides_the_packaged_table(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """TAILGUARD_PRICES points the loader at the user's own table."""
    path = tmp_path / "prices.yaml"
    path.write_text("models:\n  openai:gpt-4o: {input: 7, output: 9}\n")
    monkeypatch.setenv("TAILGUARD_PRICES", str(path))
    table = load_prices()
    assert table.require("openai:gpt-4o").input_per_mtok == 7
    assert table.lookup("anthropic:claude-haiku-4-5") is None
