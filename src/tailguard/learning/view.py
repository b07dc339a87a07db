"""What a policy version does, in the words an operator checks it by.

For each catalogue group and context bucket the model has seen: the probability each arm gets
now, the catalogue's own choice, and whether the policy has departed from it (its most likely
arm is another level or holding) with the evidence behind that (posterior means and the
decisions they rest on). The service's learning page and ``GET /v1/learning/behaviour`` show
it; it reads only the stored model, never the simulator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tailguard.learning.arms import is_hold, split_arm
from tailguard.learning.policy import ThompsonModel


def is_catalogue_arm(arm: str) -> bool:
    """An entry at its own arguments: what the fixed weights play."""
    return not is_hold(arm) and split_arm(arm)[1] == 0


def behaviour(model: ThompsonModel, *, seed: int = 0) -> list[dict[str, Any]]:
    """One row per (group, bucket) the model has data for, departures first.

    Each row: ``group``, ``bucket``, ``arms`` (``arm``, ``p``, ``mean``, ``sd``, ``n`` in the
    bucket, ``catalogue``: whether it is the catalogue's choice), ``top`` (the most likely arm),
    ``departs`` (the top arm is not a catalogue arm) and ``decisions`` (decayed, in the bucket).
    Under the dose-response model ``mean`` and ``sd`` are an arm's value against holding
    (:meth:`ThompsonModel.arm_value`) and every level of the catalogue is listed.
    """
    arms_of: dict[str, list[str]] = {}
    for group, arm in sorted(model.pooled):
        arms_of.setdefault(group, []).append(arm)
    for arm, info in sorted(model.arms.items()):  # dose model: levels never played yet too
        known = arms_of.setdefault(info.group, [])
        if arm not in known:
            known.append(arm)
    for group, known in arms_of.items():
        if model.uses_doses and model.config.hold_arm and f"hold:{group}" not in known:
            known.append(f"hold:{group}")
        known.sort(key=lambda a: (is_hold(a), a))
    buckets = sorted({(g, b) for g, b, _ in model.cells})
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for group, bucket in buckets:
        arms = arms_of.get(group, [])
        if not arms:
            continue
        probs = model.probabilities(group, bucket, arms, rng)
        described: list[dict[str, Any]] = []
        for arm, p in zip(arms, probs, strict=True):
            mean, sd = model.arm_value(group, bucket, arm)
            cell = model.cells.get((group, bucket, arm))
            described.append(
                {
                    "arm": arm,
                    "p": round(float(p), 4),
                    "mean": round(mean, 4),
                    "sd": round(sd, 4),
                    "n": round(cell.n, 1) if cell is not None else 0.0,
                    "catalogue": is_catalogue_arm(arm),
                }
            )
        top = max(described, key=lambda a: a["p"])
        rows.append(
            {
                "group": group,
                "bucket": bucket,
                "arms": described,
                "top": top["arm"],
                "departs": not top["catalogue"],
                "decisions": round(sum(a["n"] for a in described), 1),
            }
        )
    rows.sort(key=lambda r: (not r["departs"], r["group"], r["bucket"]))
    return rows
