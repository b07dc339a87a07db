"""Fixed-width identifiers built straight into Arrow string buffers.

Formatting millions of ids with Python f-strings is the slowest part of a naive simulator; an
id here is a constant prefix plus zero-padded digits, so the bytes of a whole column are one
NumPy digit matrix and the Arrow offsets are an arithmetic progression.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

_DIGITS4 = np.frombuffer(
    "".join(f"{i:04d}" for i in range(10_000)).encode("ascii"), dtype=np.uint32
)  # the four ASCII digits of 0..9999, one 32-bit word each


def _digits(numbers: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint8]:
    """The zero-padded decimal digits of ``numbers`` as an (n, width) byte matrix."""
    chunks = -(-width // 4)
    words = np.empty((numbers.shape[0], chunks), dtype=np.uint32)
    rest = numbers.astype(np.int64)
    for i in range(chunks - 1, -1, -1):  # four digits per division, lowest first
        rest, low = np.divmod(rest, 10_000)
        words[:, i] = _DIGITS4[low]
    return words.view(np.uint8).reshape(numbers.shape[0], chunks * 4)[:, chunks * 4 - width :]


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
    total = pre.size + width
    kept = numbers if valid is None else numbers[valid]
    row = np.empty((kept.shape[0], total), dtype=np.uint8)
    row[:, : pre.size] = pre
    row[:, pre.size :] = _digits(kept, width)
    if valid is None:
        offsets = np.arange(n + 1, dtype=np.int32) * total
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(row.ravel()))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(valid, out=offsets[1:])
    offsets *= total
    bitmap = np.packbits(valid, bitorder="little")
    return pa.StringArray.from_buffers(
        n,
        pa.py_buffer(offsets),
        pa.py_buffer(row.ravel()),
        pa.py_buffer(bitmap),
        null_count=int(n - kept.shape[0]),
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
