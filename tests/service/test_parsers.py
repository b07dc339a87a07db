"""Property tests of what the service parses from callers: cursors and API keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailguard.errors import InvalidInputError
from tailguard.ledger import Ledger
from tailguard.service.auth import KeyStore, Role
from tailguard.service.pagination import decode_cursor, encode_cursor

keys_part = st.one_of(
    st.integers(min_value=-(2**62), max_value=2**62),
    st.text(max_size=40),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(kind=st.sampled_from(["run", "step", "approvals"]), key=st.lists(keys_part, max_size=3))
def test_a_cursor_round_trips(kind: str, key: list[object]) -> None:
    """What encode_cursor writes, decode_cursor reads back for the same list."""
    assert decode_cursor(kind, encode_cursor(kind, key), len(key)) == key


@given(text=st.text(max_size=200))
def test_any_text_is_a_cursor_or_invalid_input(text: str) -> None:
    """Arbitrary text never raises anything but InvalidInputError."""
    try:
        key = decode_cursor("run", text, 1)
    except InvalidInputError:
        return
    assert key is None or (len(key) == 1 and isinstance(key[0], int | float | str))


@given(kind=st.sampled_from(["run", "gate"]), key=st.lists(st.integers(), min_size=1, max_size=2))
def test_a_cursor_of_another_list_is_refused(kind: str, key: list[int]) -> None:
    """A cursor is tagged with its list; another list refuses it."""
    with pytest.raises(InvalidInputError):
        decode_cursor("outcome", encode_cursor(kind, key), len(key))


@pytest.fixture(scope="module")
def key_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyStore]:
    """One key store for the property tests below."""
    path: Path = tmp_path_factory.mktemp("keys") / "ledger.db"
    with Ledger.open(str(path)) as ledger:
        yield KeyStore(ledger.engine)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.text(max_size=120))
def test_arbitrary_text_never_verifies(key_store: KeyStore, raw: str) -> None:
    """verify answers None (never raises) for any text that is not an issued key."""
    assert key_store.verify(raw) is None


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0, max_value=85), char=st.sampled_from("AZaz09_-"))
def test_one_changed_character_breaks_a_key(key_store: KeyStore, position: int, char: str) -> None:
    """Changing any single character of an issued key makes it unknown."""
    _, raw = key_store.create("prop", Role.VIEWER)
    position %= len(raw)
    altered = raw[:position] + char + raw[position + 1 :]
    expected = key_store.verify(raw) if altered == raw else None
    assert key_store.verify(altered) == expected
