"""Synthetic decision logs with a known truth, to check the off-policy estimators.

A log of ``n`` decisions over ``areas`` areas: each decision has a bucket (3 contexts), the arms
``a``, ``b``, ``c`` and ``hold:g``, an area effect shared by all of the area's rewards (so areas,
not decisions, are the independent units, as in a real network), a true mean reward per
(bucket, arm), and unit noise. The behaviour policy logs its propensities. Because the truth is
known, the value of any target policy on the same decisions can be computed exactly and the
estimators' intervals checked for coverage (``bench/bench_learning.py --coverage`` and the
tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from tailguard.learning.policy import ChoicePolicy

ARMS = ("a", "b", "c", "hold:g")
BUCKETS = ("urban|-", "suburban|-", "rural|-")
#: True mean reward per bucket (rows) and arm (columns): the best arm differs by bucket, and
#: arm c is harmful (below holding) in rural areas.
TRUTH = np.array(
    [
        [0.6, 0.2, 0.3, 0.0],
        [0.3, 0.5, 0.1, 0.0],
        [0.1, 0.2, -0.4, 0.0],
    ]
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SyntheticLog:
    """A log and what is needed to know the truth about it."""

    frame: pl.DataFrame
    area_effect: np.ndarray
    bucket_index: np.ndarray
    area_index: np.ndarray

    def true_value(self, policy: ChoicePolicy) -> float:
        """The target policy's expected reward on exactly these decisions (contexts, areas)."""
        values = np.empty(len(BUCKETS))
        for b, bucket in enumerate(BUCKETS):
            p = policy.probabilities("g", bucket, list(ARMS), None)
            values[b] = float(p @ TRUTH[b])
        return float((values[self.bucket_index] + self.area_effect[self.area_index]).mean())


def synthetic_log(
    n: int,
    *,
    areas: int = 100,
    seed: int = 0,
    behaviour: ChoicePolicy | None = None,
    area_sd: float = 0.3,
    noise_sd: float = 1.0,
) -> SyntheticLog:
    """``n`` logged decisions drawn by ``behaviour`` (default: uniform over the four arms)."""
    rng = np.random.default_rng(seed)
    area_effect = rng.normal(0.0, area_sd, areas)
    area = rng.integers(0, areas, n)
    bucket = rng.integers(0, len(BUCKETS), n)
    probs = np.empty((len(BUCKETS), len(ARMS)))
    for b, name in enumerate(BUCKETS):
        probs[b] = (
            np.full(len(ARMS), 1.0 / len(ARMS))
            if behaviour is None
            else behaviour.probabilities("g", name, list(ARMS), None)
        )
    u = rng.random(n)
    arm = (u[:, None] > np.cumsum(probs[bucket], axis=1)).sum(axis=1)
    arm = np.minimum(arm, len(ARMS) - 1)
    reward = TRUTH[bucket, arm] + area_effect[area] + rng.normal(0.0, noise_sd, n)
    frame = pl.DataFrame(
        {
            "decision_id": [f"s{i}" for i in range(n)],
            "area_id": [f"A{a:04d}" for a in area],
            "group": ["g"] * n,
            "bucket": [BUCKETS[b] for b in bucket],
            "arm": [ARMS[a] for a in arm],
            "arms": [list(ARMS)] * n,
            "propensity": probs[bucket, arm],
            "reward": reward,
            "decided_at": [datetime(2026, 3, 2, tzinfo=UTC)] * n,
        },
        schema_overrides={"arms": pl.List(pl.String), "decided_at": pl.Datetime("us", "UTC")},
    )
    return SyntheticLog(frame=frame, area_effect=area_effect, bucket_index=bucket, area_index=area)


@dataclass(frozen=True, kw_only=True, slots=True)
class TablePolicy:
    """A fixed probability vector per bucket (arms in :data:`ARMS` order)."""

    table: dict[str, Sequence[float]]
    version: str = "table"

    def probabilities(
        self, group: str, bucket: str, arms: Sequence[str], rng: np.random.Generator | None
    ) -> np.ndarray:
        """The bucket's vector, reordered to ``arms``."""
        row = dict(zip(ARMS, self.table[bucket], strict=True))
        return np.array([row[a] for a in arms], dtype=np.float64)


#: A target that plays each bucket's best arm 85 % of the time.
GOOD_TARGET = TablePolicy(
    table={
        "urban|-": (0.85, 0.05, 0.05, 0.05),
        "suburban|-": (0.05, 0.85, 0.05, 0.05),
        "rural|-": (0.05, 0.85, 0.05, 0.05),
    },
    version="good",
)
