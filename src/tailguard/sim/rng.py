"""Counter-based randomness, so two runs with the same seed share every exogenous draw.

A stateful generator hands out numbers in call order, so one extra draw caused by an agent's
action would shift every later draw and the agents-on and agents-off runs would diverge for
reasons that have nothing to do with the agents (no common random numbers). Here every draw is
a pure function of ``(seed, purpose, key)``: a job's travel noise depends on the job's key, a
technician's sick day on ``(tech, day)``, the demand of an hour on ``(seed, hour)``. Actions
change which draws are *used*, never which values they have.
"""

from __future__ import annotations

import zlib
from typing import Final

import numpy as np
import numpy.typing as npt

_M1: Final = np.uint64(0xBF58476D1CE4E5B9)
_M2: Final = np.uint64(0x94D049BB133111EB)
_GOLDEN: Final = np.uint64(0x9E3779B97F4A7C15)
_S30: Final = np.uint64(30)
_S27: Final = np.uint64(27)
_S31: Final = np.uint64(31)
_S11: Final = np.uint64(11)
_INV53: Final = 1.0 / float(1 << 53)

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]


def purpose_code(purpose: str) -> int:
    """A stable 32-bit code for a named purpose (not Python's salted ``hash``)."""
    return zlib.crc32(purpose.encode())


def _mix(x: U64) -> U64:
    # splitmix64's finaliser: a bijection on 64-bit words with good avalanche.
    x = x ^ (x >> _S30)
    x = x * _M1
    x = x ^ (x >> _S27)
    x = x * _M2
    return x ^ (x >> _S31)


class Streams:
    """Named, keyed uniform streams derived from one seed.

    Args:
        seed: the run's seed; equal seeds give equal draws for equal (purpose, key).
    """

    def __init__(self, seed: int) -> None:
        self._seed = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)

    def uniform(self, purpose: str, key: npt.ArrayLike, sub: int = 0) -> F64:
        """Uniforms in [0, 1) for each key (an integer array), one per element.

        Args:
            purpose: what the draw is for; different purposes are independent.
            key: integer keys (a job key, a tech index, ``tech * 100_000 + day`` ...).
            sub: a second small integer key (for example the day) mixed in.
        """
        k = np.asarray(key, dtype=np.int64).astype(np.uint64)
        base = _mix(
            np.asarray(
                [self._seed ^ (np.uint64(purpose_code(purpose)) << np.uint64(32)) ^ np.uint64(sub)],
                dtype=np.uint64,
            )
        )
        x = _mix(k * _GOLDEN + base)
        return (x >> _S11).astype(np.float64) * _INV53

    def generator(self, purpose: str, *keys: int) -> np.random.Generator:
        """A NumPy generator for fixed-size draws keyed by ``(seed, purpose, *keys)``."""
        entropy = [int(self._seed), purpose_code(purpose), *(int(k) for k in keys)]
        return np.random.default_rng(np.random.SeedSequence(entropy))


def logit_noise(u: F64, scale: float) -> F64:
    """A symmetric, roughly normal noise from uniforms (logistic inverse CDF)."""
    v = np.clip(u, 1e-9, 1 - 1e-9)
    return np.asarray(scale * np.log(v / (1.0 - v)), dtype=np.float64)


def lognormal(u: F64, sigma: float) -> F64:
    """A mean-one lognormal-like factor from uniforms (logistic approximation of the normal)."""
    z = logit_noise(u, 0.5513 * sigma)  # 0.5513 = sqrt(3)/pi: logistic with the normal's sd
    return np.asarray(np.exp(z - 0.5 * sigma * sigma), dtype=np.float64)
