"""The evaluator's engagement signal: a user who comes back after a run.

A run is scored when it finishes, before anyone knows whether the user will come back. When
they do (the next message in the same conversation, or an action on the run's result) within
:data:`ENGAGEMENT_WINDOW` of the run's end, :func:`record_engagement` appends an
``engagement`` record (``engagement_id``, ``run_id``, ``signal``, ``by``, ``at``) and re-scores
the run with ``follow_up=True`` (the heuristic's +20): a new ``outcome`` record with the same
``outcome_id`` (the ledger is append-only; the latest record of an outcome is the one in
force). A run is re-scored once; later signals are recorded but change nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from tailguard.clock import format_ts, parse_ts
from tailguard.control.evaluator import RunView
from tailguard.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from tailguard.control.plane import ControlPlane

#: How long after a run's end a user's return still counts as engaging with it.
ENGAGEMENT_WINDOW: Final = timedelta(minutes=30)
SIGNALS: Final = ("next_message", "result_action", "downstream_ack")
_FINISHED: Final = ("completed", "failed", "aborted")


def record_engagement(
    plane: ControlPlane,
    run_id: str,
    *,
    signal: str,
    by: str | None = None,
    window: timedelta = ENGAGEMENT_WINDOW,
) -> float | None:
    """Record that the user engaged again after ``run_id``; returns the new score, if re-scored.

    Nothing is written for a run that has not finished or finished longer than ``window`` ago.

    Raises:
        InvalidInputError: an unknown signal.
        NotFoundError: no such run.
    """
    if signal not in SIGNALS:
        raise InvalidInputError(f"signal must be one of {', '.join(SIGNALS)}, got {signal!r}")
    ledger = plane.ledger
    run = ledger.latest("run", run_id)
    if run is None:
        raise NotFoundError(f"unknown run {run_id!r}")
    now = plane.clock.now()
    ended = run.fields.get("completed_at")
    if run.fields.get("status") not in _FINISHED or not ended:
        return None
    if now - parse_ts(str(ended)) > window:
        return None
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    earlier = 0
    for rec in ledger.records(run_id=run_id):
        if rec.kind in ("step", "gate", "outcome"):
            latest[(rec.kind, rec.record_id)] = dict(rec.fields)
        elif rec.kind == "engagement":
            earlier += 1
    engaged_before = earlier > 0
    ledger.append(
        "engagement",
        {
            "engagement_id": f"eng-{run_id}-{earlier}",
            "run_id": run_id,
            "signal": signal,
            "by": by,
            "at": format_ts(now),
        },
    )
    outcomes = [f for (kind, _), f in latest.items() if kind == "outcome"]
    if engaged_before or not outcomes:
        return None
    old = outcomes[-1]
    evaluation = plane.scorer.score(
        RunView(
            run=run.fields,
            steps=tuple(f for (kind, _), f in latest.items() if kind == "step"),
            gates=tuple(f for (kind, _), f in latest.items() if kind == "gate"),
            follow_up=True,
            user_feedback=old.get("user_feedback"),
        )
    )
    ledger.append(
        "outcome",
        {
            **old,
            "objective_met": evaluation.objective_met,
            "quality_score": float(evaluation.quality_score),
            "follow_up_tasks": list(evaluation.follow_up_tasks),
            "outcome_deltas": dict(evaluation.outcome_deltas),
            "evaluated_at": format_ts(now),
        },
    )
    return float(evaluation.quality_score)
