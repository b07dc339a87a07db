"""Canonical JSON and the record hash: the bytes the chain is built from.

Canonical JSON here is ``json.dumps(value, sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)`` encoded as UTF-8. A record's hash is the SHA-256 (hex) of
the canonical JSON of ``{"fields": ..., "kind": ..., "prev_hash": ..., "recorded_at_us": ...,
"seq": ...}``, so anyone holding an exported record (``ledger export`` writes every one of these
keys) can recompute it without tailguard. The stored ``record_id`` and ``run_id`` columns are
not hashed: they are derived from ``fields`` and ``verify`` checks them against it.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from tailguard.clock import format_ts
from tailguard.errors import InvalidInputError

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first record of every ledger."""


def to_json_value(value: Any, *, path: str = "fields") -> Any:
    """Turn ``value`` into plain JSON data (dict, list, str, int, float, bool, None).

    Datetimes become RFC 3339 UTC strings, enums their value, tuples and sets lists.

    Raises:
        InvalidInputError: for NaN or infinite floats, non-string keys, or values JSON cannot hold.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return to_json_value(value.value, path=path)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{path}: {value!r} is not a finite number")
        return float(value)
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(f"{path}: key {key!r} is not a string")
            out[key] = to_json_value(item, path=f"{path}.{key}")
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [to_json_value(item, path=f"{path}[{i}]") for i, item in enumerate(items)]
    raise InvalidInputError(f"{path}: {type(value).__name__} cannot be stored as JSON")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of plain JSON data (sorted keys, no spaces, no NaN)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


_PLAIN = frozenset("0123456789abcdefghijklmnopqrstuvwxyz_")


def _json_str(text: str) -> str:
    # json.dumps costs ~2 µs; ids and hex digests never need escaping, and verify hashes
    # millions of them. Anything else (a tampered value, say) takes the exact slow path.
    if text.isascii() and _PLAIN.issuperset(text):
        return '"' + text + '"'
    return json.dumps(text, ensure_ascii=False)


def record_hash(
    *, seq: int, kind: str, fields_json: str, prev_hash: str, recorded_at_us: int
) -> str:
    """SHA-256 hex of the canonical JSON of ``{seq, kind, fields, prev_hash, recorded_at_us}``.

    ``fields_json`` must already be canonical; the payload is assembled as text (keys in sorted
    order) so that verifying a million records does not re-parse a million JSON documents.
    """
    payload = (
        '{"fields":'
        + fields_json
        + ',"kind":'
        + _json_str(kind)
        + ',"prev_hash":'
        + _json_str(prev_hash)
        + ',"recorded_at_us":'
        + str(int(recorded_at_us))
        + ',"seq":'
        + str(int(seq))
        + "}"
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
