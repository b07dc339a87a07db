"""Identities: the one way two principal names are compared.

A person's name is their identity in the control plane (the ``initiator_id`` of the runs they
start, the ``decided_by`` of the gates they decide), so separation of duties is only as strong
as the comparison of names. ``Alice`` and ``alice`` (or ``ａｌｉｃｅ`` in full-width letters) must
be one person: :func:`canonical_name` folds case and Unicode compatibility forms, and every
comparison of principals goes through :func:`same_principal`.
"""

from __future__ import annotations

import unicodedata

__all__ = ["canonical_name", "same_principal"]


def canonical_name(name: str) -> str:
    """The canonical form of a principal name: NFKC, case-folded, NFKC again, trimmed.

    Case folding can leave a string that is no longer NFKC (and NFKC can change what folding
    gives), so the form is the fixed point of the two, which one more NFKC reaches.
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def same_principal(a: str | None, b: str | None) -> bool:
    """Whether two names are the same principal (None is nobody, never equal)."""
    if a is None or b is None:
        return False
    return canonical_name(a) == canonical_name(b)
