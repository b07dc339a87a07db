"""Lossless compressed storage for the scorecard state a tick does not read (issue 19).

Most of :class:`~tailguard.metrics.ScorecardEngine`'s state sits still: once a day is rolled
up, its hourly partials are read again only when the day becomes a window's leading edge or a
late event makes the day roll up again; the event ids of an hour are read only when a batch
holds an event of that hour; a day's roll-up only when the window's days change. This module
packs such a day's worth of state into Arrow IPC streams compressed with zstd (one stream per
kind of frame, each row tagged with its hour and piece) and unpacks it to frames equal to the
originals: same values, dtypes, row order and pieces, so every merge, and therefore every KPI,
duplicate count and decision, is the same as with the state never packed.

The rows of one kind of frame of a day (every hour's tech rows, say) compress together: the
keys repeat from hour to hour, so a packed day is several times smaller than its frames.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl
from datasketches import kll_doubles_sketch

from tailguard.metrics.partials import Partial, SketchKey, ValuePartial

_FRAMES: Final = ("counts", "techs", "zips", "skus")
_VALUES: Final = ("lateness", "parts", "lead")
_TAG: Final = ("_h", "_i")


def _to_bytes(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_ipc(out, compression="zstd")
    return out.getvalue()


def _from_bytes(data: bytes) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(data))


@dataclass(frozen=True, slots=True)
class PackedPieces:
    """The partials of some hours (each a list of pieces), packed.

    Attributes:
        blobs: one zstd IPC stream per kind of frame, rows tagged ``_h`` (hour) and ``_i``
            (piece index within the hour).
        shape: the number of pieces of each hour, in the order the hours were given.
        sketches: the KLL sketches of the value partials, by (hour, piece, kind); hourly
            partials carry none, so this is normally empty.
    """

    blobs: Mapping[str, bytes]
    shape: tuple[tuple[int, int], ...]
    sketches: Mapping[tuple[int, int, str], Mapping[SketchKey, kll_doubles_sketch]]

    def nbytes(self) -> int:
        """Bytes held (compressed streams plus serialized sketches)."""
        return sum(len(b) for b in self.blobs.values()) + sum(
            int(s.get_serialized_size_bytes()) + 64
            for group in self.sketches.values()
            for s in group.values()
        )


def _frame_of(piece: Partial, kind: str) -> pl.DataFrame:
    if kind in _FRAMES:
        frame: pl.DataFrame = getattr(piece, kind)
        return frame
    value: ValuePartial = getattr(piece, kind)
    return value.values


def pack_pieces(hours: Mapping[int, Sequence[Partial]]) -> PackedPieces:
    """Pack hour -> pieces (the engine's hourly partials of, typically, one day)."""
    blobs: dict[str, bytes] = {}
    tags = (
        np.array(
            [(h, i) for h, pieces in hours.items() for i in range(len(pieces))], dtype=np.int64
        )
        .reshape(-1, 2)
        .T
    )
    for kind in (*_FRAMES, *_VALUES):
        frames = [_frame_of(piece, kind) for pieces in hours.values() for piece in pieces]
        heights = [f.height for f in frames]
        blobs[kind] = _to_bytes(
            pl.concat(frames).with_columns(
                pl.Series(_TAG[0], np.repeat(tags[0], heights), pl.Int64),
                pl.Series(_TAG[1], np.repeat(tags[1], heights), pl.Int64),
            )
        )
    sketches = {
        (h, i, kind): dict(getattr(piece, kind).sketches)
        for h, pieces in hours.items()
        for i, piece in enumerate(pieces)
        for kind in _VALUES
        if getattr(piece, kind).sketches
    }
    shape = tuple((h, len(pieces)) for h, pieces in hours.items())
    return PackedPieces(blobs=blobs, shape=shape, sketches=sketches)


def unpack_pieces(
    packed: PackedPieces, only: Collection[int] | None = None
) -> dict[int, list[Partial]]:
    """The hour -> pieces that :func:`pack_pieces` packed, equal frame for frame.

    Args:
        packed: what :func:`pack_pieces` returned.
        only: when given, unpack only these hours.
    """
    split: dict[str, dict[tuple[int, int], pl.DataFrame]] = {}
    empty: dict[str, pl.DataFrame] = {}
    for kind, blob in packed.blobs.items():
        frame = _from_bytes(blob)
        empty[kind] = frame.clear().drop(_TAG)
        if only is not None:
            frame = frame.filter(pl.col(_TAG[0]).is_in(list(only)))
        parts = frame.partition_by(list(_TAG), as_dict=True, include_key=False)
        split[kind] = {(int(h), int(i)): df for (h, i), df in parts.items()}  # type: ignore[call-overload]
    out: dict[int, list[Partial]] = {}
    for h, n in packed.shape:
        if only is not None and h not in only:
            continue
        pieces: list[Partial] = []
        for i in range(n):
            got = {kind: split[kind].get((h, i), empty[kind]) for kind in split}
            values = {
                kind: ValuePartial(values=got[kind], sketches=packed.sketches.get((h, i, kind), {}))
                for kind in _VALUES
            }
            pieces.append(
                Partial(
                    counts=got["counts"],
                    techs=got["techs"],
                    zips=got["zips"],
                    skus=got["skus"],
                    lateness=values["lateness"],
                    parts=values["parts"],
                    lead=values["lead"],
                )
            )
        out[h] = pieces
    return out


@dataclass(frozen=True, slots=True)
class PackedIds:
    """Event ids of some hours, packed: one zstd IPC stream tagged by hour."""

    blob: bytes
    hours: tuple[int, ...]

    def nbytes(self) -> int:
        """Bytes held."""
        return len(self.blob)


def pack_ids(ids: Mapping[int, pl.Series]) -> PackedIds:
    """Pack hour -> event ids (the engine's de-duplication sets of, typically, one day)."""
    frame = pl.concat(
        [
            s.to_frame("event_id").with_columns(pl.lit(h, pl.Int64).alias("_h"))
            for h, s in ids.items()
        ]
    )
    return PackedIds(blob=_to_bytes(frame), hours=tuple(ids))


def unpack_ids(packed: PackedIds) -> dict[int, pl.Series]:
    """The hour -> event ids that :func:`pack_ids` packed, in their order."""
    frame = _from_bytes(packed.blob)
    parts = frame.partition_by("_h", as_dict=True, include_key=False)
    by_hour = {int(k[0]): df["event_id"] for k, df in parts.items()}  # type: ignore[call-overload]
    return {h: by_hour.get(h, frame["event_id"].clear()) for h in packed.hours}


def unpack_frames(packed: PackedPieces, kind: str) -> dict[int, pl.DataFrame]:
    """One kind of frame (``zips``, say) of the hours whose partial is a single piece.

    Hours with more pieces are left out: the engine merges those (as any read of them does)
    and so unpacks them whole.
    """
    single = {h for h, n in packed.shape if n == 1}
    frame = _from_bytes(packed.blobs[kind])
    parts = frame.partition_by(list(_TAG), as_dict=True, include_key=False)
    empty = frame.clear().drop(_TAG)
    got = {int(h): df for (h, _), df in parts.items()}  # type: ignore[call-overload]
    return {h: got.get(h, empty) for h in single}
