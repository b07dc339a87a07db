"""Keyset pagination with opaque cursors.

A list endpoint orders its items by a unique key (a ledger ``seq``, or ``(time, id)``) and hands
back ``next_cursor``: the key of the last item, base64url-encoded JSON tagged with the list it
belongs to. The next page asks for items strictly after that key, so items appended while a
client pages never shift or repeat what it has already seen.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from tailguard.errors import InvalidInputError

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

LimitParam = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1-{MAX_LIMIT}).")
]
CursorParam = Annotated[
    str | None,
    Query(max_length=512, description="The `next_cursor` of the previous page."),
]


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )


def encode_cursor(kind: str, key: list[Any]) -> str:
    """An opaque cursor for ``key`` in the list ``kind``."""
    raw = json.dumps([kind, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None, arity: int) -> list[Any] | None:
    """The key in ``cursor`` (None for the first page).

    Raises:
        InvalidInputError: a cursor that this list did not produce.
    """
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        tag, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInputError("invalid cursor", details={"cursor": cursor}) from None
    if tag != kind or not isinstance(key, list) or len(key) != arity:
        raise InvalidInputError("the cursor belongs to another list", details={"cursor": cursor})
    for part in key:
        if isinstance(part, bool) or not isinstance(part, int | float | str):
            raise InvalidInputError("invalid cursor", details={"cursor": cursor})
    return key
