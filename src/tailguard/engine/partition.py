"""Which shard owns an area: a stable hash of its id, the same in every process and run.

Areas are few per shard's events but many per shard (hundreds to thousands): an area is never
an actor of its own. The owner of an area never changes while the number of shards stays the
same, so a shard's state (and its event stream, ``tailguard.events.<shard>``) is the same
areas' from hour to hour and across restarts.
"""

from __future__ import annotations

import zlib

import polars as pl

from tailguard.errors import InvalidInputError

__all__ = ["AreaRouter", "shard_of"]

#: The largest number of shards an engine takes (a shard holds hundreds of areas or more).
MAX_SHARDS = 256


def shard_of(area_id: str, shards: int) -> int:
    """The shard (0..shards-1) that owns ``area_id``: CRC-32 of its UTF-8 bytes, modulo."""
    return zlib.crc32(area_id.encode()) % shards


class AreaRouter:
    """Splits event batches by owning shard (the area ids' shards are remembered)."""

    def __init__(self, shards: int) -> None:
        if not 1 <= shards <= MAX_SHARDS:
            raise InvalidInputError(f"--shards must be between 1 and {MAX_SHARDS}, got {shards}")
        self.shards = shards
        self._owner: dict[str, int] = {}

    def split(self, frame: pl.DataFrame) -> dict[int, pl.DataFrame]:
        """``frame``'s rows by owning shard, each part in the rows' original order.

        Rows without an area go to shard 0 (the scorecard counts them there, as one engine
        would).
        """
        if frame.height == 0:
            return {}
        if self.shards == 1:
            return {0: frame}
        owner = self._owner
        for area in frame["area_id"].unique().to_list():
            if area is not None and area not in owner:
                owner[area] = shard_of(area, self.shards)
        keyed = frame.with_columns(
            pl.col("area_id")
            .replace_strict(owner, default=0, return_dtype=pl.Int32)
            .alias("__shard")
        )
        parts = keyed.partition_by("__shard", as_dict=True, include_key=False)
        return {int(str(k[0])): part for k, part in parts.items()}
