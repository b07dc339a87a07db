"""Evaluate a named policy on a ledger's logged decisions (the CLI's and the API's one path)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from tailguard.errors import NotFoundError
from tailguard.learning.arms import RewardConfig, decision_frame, rewards
from tailguard.learning.ope import OpeResult, evaluate, left_out_counts
from tailguard.learning.policy import ChoicePolicy, FixedPolicy, UniformPolicy
from tailguard.learning.store import SelfLearnStore
from tailguard.learning.versions import PolicyStore
from tailguard.ledger import Ledger


class LoggedPolicy:
    """The behaviour policy as logged: each context's own logged probability vector."""

    version = "logged"

    def __init__(self, rewarded: pl.DataFrame) -> None:
        self._probs = {
            (g, b, tuple(arms)): probs
            for g, b, arms, probs in rewarded.select("group", "bucket", "arms", "logged_probs")
            .unique(subset=["group", "bucket", "arms"], keep="last")
            .iter_rows()
            if arms and probs and len(arms) == len(probs)
        }

    def probabilities(
        self, group: str, bucket: str, arms: Sequence[str], rng: np.random.Generator | None
    ) -> np.ndarray:
        """The logged vector for this (group, bucket, arms); uniform when none was logged."""
        probs = self._probs.get((group, bucket, tuple(arms)))
        if probs is None:
            return np.full(len(arms), 1.0 / len(arms))
        p = np.asarray(probs, dtype=np.float64)
        out: np.ndarray = p / p.sum()
        return out


def named_policy(
    name: str, ledger: Ledger, weights: dict[str, float], rewarded: pl.DataFrame
) -> ChoicePolicy:
    """``logged``, ``fixed`` (the catalogue ``weights``), ``uniform``, ``learning`` (the active
    version) or a version id.

    Raises:
        NotFoundError: no learning version yet, or an unknown version id.
    """
    if name == "logged":
        return LoggedPolicy(rewarded)
    if name == "uniform":
        return UniformPolicy()
    if name == "fixed":
        return FixedPolicy(weights=weights, version="fixed")
    store = PolicyStore(ledger)
    if name == "learning":
        model = store.active_model()
        if model is None:
            raise NotFoundError(
                "no learning policy version yet: run `tailguard learn update` first"
            )
        return model
    return store.model(name)


def evaluate_policy(
    ledger: Ledger,
    name: str,
    *,
    bootstrap: int = 500,
    seed: int = 0,
    cost_weight: float = 0.0,
    groups: dict[str, str],
    weights: dict[str, float],
) -> OpeResult:
    """Every off-policy estimate of policy ``name`` on the ledger's measured decisions.

    ``groups`` (entry id -> group) and ``weights`` (entry id -> fixed weight) describe the
    catalogue the decisions came from.
    """
    frame = decision_frame(SelfLearnStore(ledger.engine).frame(), groups)
    latest: Any = frame["measured_at"].max() if frame.height else None
    rewarded = rewards(frame, RewardConfig(cost_weight=cost_weight))
    policy = named_policy(name, ledger, weights, rewarded)
    return evaluate(
        rewarded,
        policy,
        name=name,
        left_out=left_out_counts(frame, latest),
        bootstrap=bootstrap,
        seed=seed,
    )
