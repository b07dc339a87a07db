"""Fixtures of the event tests."""

from __future__ import annotations

from typing import Any

import pytest

from ._helpers import VALID, event


@pytest.fixture
def all_types() -> list[dict[str, Any]]:
    """One valid event of every type, with distinct ids."""
    return [event(t, f"E-{i}") for i, t in enumerate(VALID)]
