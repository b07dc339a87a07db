"""One person, one identity: principal names compare without case or Unicode compatibility forms."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tailguard.control import ApproverList
from tailguard.errors import ConflictError, InvalidInputError
from tailguard.identity import canonical_name, same_principal
from tailguard.ledger import Ledger
from tailguard.service.auth import KeyStore


@given(st.text(max_size=40))
def test_canonical_name_is_a_fixed_point_shared_by_compatibility_forms(name: str) -> None:
    """Normalising twice changes nothing; decomposed and composed spellings meet."""
    once = canonical_name(name)
    assert canonical_name(once) == once
    assert same_principal(name, unicodedata.normalize("NFKD", name))
    assert same_principal(name, unicodedata.normalize("NFC", name))


@given(st.from_regex(r"[a-z0-9][a-z0-9._@-]{0,20}", fullmatch=True))
def test_ascii_names_meet_their_capitalised_and_full_width_forms(name: str) -> None:
    """``alice``, ``ALICE`` and full-width ``ａｌｉｃｅ`` are one principal."""
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    assert same_principal(name, name.upper())
    assert same_principal(name, wide)
    assert not same_principal(name, None)


def test_a_key_name_that_differs_only_in_case_is_one_person(tmp_path: Path) -> None:
    """Keys are stored under the canonical name; a second key of ``Alice`` is alice's."""
    with Ledger.open(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        keys = KeyStore(ledger.engine)
        first, _ = keys.create("Alice", "operator")
        second, _ = keys.create("ＡＬＩＣＥ", "approver")
        assert first.name == second.name == "alice"
        with pytest.raises(InvalidInputError):
            keys.create("al ice", "viewer")
        assert keys.can_decide("ALICE", tool_name="t", risk_level="execute_high")


def test_a_name_colliding_with_an_old_spelling_is_refused(tmp_path: Path) -> None:
    """A key stored as ``Bob`` before names were normalised keeps ``bob`` from being a second
    identity."""
    import sqlalchemy as sa

    from tailguard.service.auth import api_keys

    with Ledger.open(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        keys = KeyStore(ledger.engine)
        keys.create("bob", "operator")
        with ledger.engine.begin() as conn:
            conn.execute(sa.update(api_keys).values(name="Bob"))
        with pytest.raises(ConflictError, match="collides"):
            keys.create("bob", "approver")


def test_the_approver_list_compares_canonical_names() -> None:
    """A listed approver is found whatever the spelling."""
    approvers = ApproverList(approver_ids=frozenset({"Boss"}))
    assert approvers.can_decide("boss", tool_name="t", risk_level="read")
    assert not approvers.can_decide("bosss", tool_name="t", risk_level="read")
