"""Fixed-width identifiers built straight into Arrow string buffers.

Formatting millions of ids with Python f-strings is the slowest part of a naive simulator; an
id here is a constant prefix plus zero-padded digits, so the bytes of a whole column are one
NumPy digit matrix and the Arrow offsets are an arithmetic progression.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa


def fixed_ids(
    prefix: str,
    numbers: npt.NDArray[np.int64],
    width: int,
    valid: npt.NDArray[np.bool_] | None = None,
) -> pa.StringArray:
    """``prefix`` + ``numbers`` zero-padded to ``width`` digits, as an Arrow string array.

    Args:
        prefix: ASCII text before the digits.
        numbers: non-negative integers below ``10**width``.
        width: digits per id.
        valid: where False the entry is null (its number is ignored).
    """
    n = int(numbers.shape[0])
    pre = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    nums = np.where(valid, numbers, 0) if valid is not None else numbers
    digits = ((nums.astype(np.int64)[:, None] // powers[None, :]) % 10 + 48).astype(np.uint8)
    row = np.empty((n, pre.size + width), dtype=np.uint8)
    row[:, : pre.size] = pre
    row[:, pre.size :] = digits
    total = pre.size + width
    if valid is None:
        offsets = np.arange(n + 1, dtype=np.int32) * total
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(row.ravel()))
    lengths = np.where(valid, total, 0).astype(np.int32)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    bitmap = np.packbits(valid, bitorder="little")
    return pa.StringArray.from_buffers(
        n,
        pa.py_buffer(offsets),
        pa.py_buffer(row[valid].ravel()),
        pa.py_buffer(bitmap),
        null_count=int(n - np.count_nonzero(valid)),
    )


def area_id(index: int) -> str:
    """The id of the area at ``index`` (0-based): ``PA-0001`` for 0."""
    return f"PA-{index + 1:04d}"


def tech_id(index: int) -> str:
    """The id of the technician at ``index``."""
    return f"T{index + 1:06d}"


def customer_id(index: int) -> str:
    """The id of the customer at ``index``."""
    return f"C{index + 1:09d}"


def job_id(key: int) -> str:
    """The id of the job with internal ``key``."""
    return f"J{key:012d}"


def locker_id(index: int) -> str:
    """The id of the locker at ``index``."""
    return f"L{index + 1:05d}"


def parse_index(text: str, prefix: str, width: int) -> int | None:
    """The 0-based index in an id such as ``T000123``, or None if it is not one."""
    if len(text) != len(prefix) + width or not text.startswith(prefix):
        return None
    digits = text[len(prefix) :]
    if not digits.isdigit():
        return None
    return int(digits) - 1
