"""The nightly learning update and off-policy evaluation at network scale, against baselines.

Writes a month of decisions of a 400-area network into a SQLite self-learn store (about 65,000,
the rate of the 400-area demo), then times:

* the nightly update (read the store, rewards, fit, store the version, ledger record) against a
  naive baseline computing the same per-(group, bucket, arm) decayed statistics with Python
  dictionaries over the rows;
* off-policy evaluation of the learning policy (5 estimators, 200 area-bootstrap resamples).

Prints the figures and their ratio, and peak memory. With ``--policies`` also runs the policy
benchmark against the simulator's hidden truth (``tailguard learn bench``; slow).

    python bench/bench_learning.py [--quick] [--areas 400] [--days 30]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tailguard.agents.catalogue import default_catalogue
from tailguard.learning import Decision, SelfLearnStore, StatusUpdate
from tailguard.learning.arms import decision_frame, rewards
from tailguard.learning.evaluation import evaluate_policy
from tailguard.learning.loop import PolicyLearner
from tailguard.learning.versions import PolicyStore
from tailguard.ledger import Ledger

T0 = datetime(2026, 3, 2, tzinfo=UTC)
TYPES = ("urban", "suburban", "rural")


def fill(store: SelfLearnStore, areas: int, days: int, seed: int = 0) -> int:
    """Decisions at the demo's rate (~5.5 per area-day), all measured."""
    cat = default_catalogue()
    rng = np.random.default_rng(seed)
    per_day = int(5.5 * areas)
    n = 0
    for day in range(days):
        batch: list[Decision] = []
        outcomes: list[tuple[str, float | None]] = []
        for _ in range(per_day):
            entry = cat.entries[int(rng.integers(len(cat.entries)))]
            level = int(rng.integers(len(entry.levels) + 2)) - 1  # -1: hold
            arm = f"hold:{entry.group}" if level < 0 else (
                entry.id if level == 0 else f"{entry.id}@{level}"
            )  # fmt: skip
            area = int(rng.integers(areas))
            baseline = float(rng.normal(50, 10))
            did = f"d{n:07d}"
            batch.append(
                Decision(
                    decision_id=did,
                    area_id=f"PA-{area:04d}",
                    entry_id=entry.id,
                    kind="hold" if level < 0 else entry.kind,
                    tool_name="none" if level < 0 else entry.tool,
                    trigger=entry.trigger[0],
                    target_type=entry.target.unit,
                    target_id=f"u{n}",
                    args={} if level < 0 else dict(entry.level_args(level)),
                    context={
                        "arm": arm,
                        "group": entry.group,
                        "bucket": f"{TYPES[area % 3]}|-",
                        "arms": [entry.id, f"hold:{entry.group}"],
                        "probs": [0.5, 0.5],
                    },
                    propensity=0.5,
                    policy_version="bench",
                    decided_at=T0 + timedelta(days=day, minutes=int(rng.integers(1440))),
                    outcome_kpi=entry.outcome.kpi if entry.outcome else "ftf_pct",
                    baseline_value=baseline,
                    horizon_at=T0 + timedelta(days=day + 2),
                )
            )
            outcomes.append((did, baseline + float(rng.normal(0, 5))))
            n += 1
        store.record_decisions(batch)
        store.update_status(
            StatusUpdate(decision_id=d.decision_id, status="executed") for d in batch
        )
        store.record_outcomes(outcomes, measured_at=T0 + timedelta(days=day + 2))
    return n


def naive_stats(store: SelfLearnStore, now: datetime) -> dict[tuple[str, str, str], list[float]]:
    """The same decayed per-(group, bucket, arm) statistics with dictionaries, row by row."""
    rows = store.list_interventions(limit=10_000)
    last = rows[-1]["seq"] if rows else None
    while last is not None:
        more = store.list_interventions(limit=10_000, after=last)
        rows += more
        last = more[-1]["seq"] if more else None
    acc: dict[tuple[str, str, str], list[float]] = {}
    for r in rows:
        if r["outcome_value"] is None or r["baseline_value"] is None:
            continue
        ctx = r["context"]
        decided = datetime.fromisoformat(r["decided_at"].replace("Z", "+00:00"))
        w = 0.5 ** (max((now - decided).total_seconds(), 0) / 86400 / 14)
        reward = r["outcome_value"] - r["baseline_value"]
        cell = acc.setdefault((ctx["group"], ctx["bucket"], ctx["arm"]), [0.0, 0.0, 0.0])
        cell[0] += w
        cell[1] += w * reward
        cell[2] += w * reward * reward
    return acc


def coverage(n: int, seeds: int, *, areas: int) -> None:
    """How often each estimator's 95 % interval holds the target's true value, and its error.

    The truth is the target's expected reward over new areas (the estimand the area bootstrap
    targets); the behaviour policy is uniform over four arms.
    """
    from tailguard.learning.ope import ESTIMATORS, evaluate
    from tailguard.learning.synthetic import ARMS, BUCKETS, GOOD_TARGET, TRUTH, synthetic_log

    truth = float(
        np.mean(
            [GOOD_TARGET.probabilities("g", b, list(ARMS), None) @ TRUTH[i]
             for i, b in enumerate(BUCKETS)]
        )
    )  # fmt: skip
    hits = dict.fromkeys(ESTIMATORS, 0)
    errors: dict[str, list[float]] = {k: [] for k in ESTIMATORS}
    t = time.perf_counter()
    for seed in range(seeds):
        log = synthetic_log(n, seed=seed, areas=areas)
        result = evaluate(log.frame, GOOD_TARGET, name="good", bootstrap=300, seed=seed)
        for k in ESTIMATORS:
            est = result.estimators[k]
            lo, hi = est["ci95"]
            hits[k] += int(lo <= truth <= hi)
            errors[k].append(abs(est["value"] - truth) / abs(truth))
    out = {
        "decisions": n,
        "areas": areas,
        "seeds": seeds,
        "true_value": round(truth, 4),
        "coverage": {k: round(hits[k] / seeds, 3) for k in ESTIMATORS},
        "mean_relative_error_pct": {
            k: round(100 * float(np.mean(v)), 2) for k, v in errors.items()
        },
        "seconds": round(time.perf_counter() - t, 1),
    }
    print(json.dumps(out, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--areas", type=int, default=400)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="40 areas, 7 days")
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="instead: the estimators' 95 %% interval coverage and error on synthetic logs",
    )
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--n", type=int, default=10_000, help="decisions per synthetic log")
    args = parser.parse_args()
    if args.coverage:
        coverage(args.n, 20 if args.quick else args.seeds, areas=args.areas)
        return
    areas, days = (40, 7) if args.quick else (args.areas, args.days)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger.open(f"sqlite:///{Path(tmp) / 'ledger.db'}")
        store = SelfLearnStore(ledger.engine)
        t = time.perf_counter()
        n = fill(store, areas, days)
        fill_s = time.perf_counter() - t
        cat = default_catalogue()
        now = T0 + timedelta(days=days + 2)
        learner = PolicyLearner(
            store=store, versions=PolicyStore(ledger), groups=cat.groups(), arms=cat.arm_info()
        )
        learner.start(now)
        t = time.perf_counter()
        report = learner.update(now)
        update_s = time.perf_counter() - t
        t = time.perf_counter()
        naive = naive_stats(store, now)
        naive_s = time.perf_counter() - t
        t = time.perf_counter()
        measured = rewards(decision_frame(store.frame(), cat.groups())).height
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        ev = evaluate_policy(
            ledger,
            "learning",
            bootstrap=200,
            groups=cat.groups(),
            weights={e.id: e.weight for e in cat.entries},
        )
        ope_s = time.perf_counter() - t
        ledger.close()
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    out = {
        "areas": areas,
        "days": days,
        "decisions": n,
        "decisions_used": report.decisions_used,
        "fill_s": round(fill_s, 2),
        "nightly_update_s": round(update_s, 3),
        "naive_stats_s": round(naive_s, 3),
        "naive_over_update": round(naive_s / update_s, 2) if update_s else math.nan,
        "read_and_rewards_s": round(read_s, 3),
        "measured": measured,
        "ope_learning_s": round(ope_s, 3),
        "ope_ess": ev.ess,
        "cells": len(naive),
        "peak_rss_gib": round(peak_gib, 3),
    }
    print(json.dumps(out, indent=2))
    print(
        f"nightly update of {report.decisions_used:,} decisions: {update_s:.2f} s "
        f"(naive per-row statistics alone: {naive_s:.2f} s, {naive_s / update_s:.1f}x); "
        f"OPE of the learning policy: {ope_s:.2f} s; peak RSS {peak_gib:.2f} GiB"
    )


if __name__ == "__main__":
    main()
