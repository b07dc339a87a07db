"""A growable struct of NumPy arrays: amortised appends, filtering in place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt


class Columns:
    """Columns of equal length with spare capacity, for pending jobs and the event outbox.

    Args:
        spec: column name -> (dtype, fill value used for columns an append leaves out).
        capacity: initial rows allocated.
    """

    def __init__(self, spec: Mapping[str, tuple[npt.DTypeLike, float | int]], capacity: int = 1024):
        self._spec = dict(spec)
        self._cap = max(16, capacity)
        self._n = 0
        self._data = {
            name: np.full(self._cap, fill, dtype=dtype)
            for name, (dtype, fill) in self._spec.items()
        }

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        return self._data[name][: self._n]

    def names(self) -> tuple[str, ...]:
        """The column names."""
        return tuple(self._data)

    def append(self, n: int, values: Mapping[str, npt.ArrayLike]) -> None:
        """Append ``n`` rows; columns absent from ``values`` get their fill value."""
        if n <= 0:
            return
        need = self._n + n
        if need > self._cap:
            cap = max(need, self._cap * 2)
            for name, (dtype, fill) in self._spec.items():
                grown = np.full(cap, fill, dtype=dtype)
                grown[: self._n] = self._data[name][: self._n]
                self._data[name] = grown
            self._cap = cap
        for name, (_dtype, fill) in self._spec.items():
            target = self._data[name]
            if name in values:
                target[self._n : need] = values[name]
            else:
                target[self._n : need] = fill
        unknown = set(values) - set(self._spec)
        if unknown:
            raise KeyError(f"unknown columns {sorted(unknown)}")
        self._n = need

    def take(
        self, index: npt.NDArray[np.int64] | npt.NDArray[np.bool_]
    ) -> dict[str, npt.NDArray[Any]]:
        """Copies of the selected rows, column by column."""
        return {name: arr[: self._n][index] for name, arr in self._data.items()}

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        """Keep only the rows where ``mask`` is True (order preserved)."""
        kept = int(np.count_nonzero(mask))
        for name in self._data:
            arr = self._data[name]
            arr[:kept] = arr[: self._n][mask]
        self._n = kept
