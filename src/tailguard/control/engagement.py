"""The evaluator's engagement signal: a user who comes back after a run.

A run is scored when it finishes, before anyone knows whether the user will come back. When
they do (the next message in the same conversation, or an action on the run's result) within
:data:`ENGAGEMENT_WINDOW` of the run's end, :func:`record_engagement` appends an
``engagement`` record (``engagement_id``, ``run_id``, ``signal``, ``by``, ``at``) and re-scores
the run with ``follow_up=True`` (the heuristic's +20): a new ``outcome`` record with the same
``outcome_id`` (the ledger is append-only; the latest record of an outcome is the one in
force). A run is re-scored once; later signals are recorded but change nothing.

For the area agents, whose runs have no user to come back, the follow-up is the downstream
agent's acknowledgement (:func:`acknowledge_step`, ``POST /v1/steps/{step_id}/ack``): the agent
that carried out a job (its job id is the governed step's id) confirms it landed, after the
run, and the run is re-scored the same way (signal ``downstream_ack``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from tailguard.clock import format_ts, parse_ts
from tailguard.control.evaluator import RunView
from tailguard.errors import ConflictError, InvalidInputError, NotFoundError

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


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """What a downstream acknowledgement did.

    Attributes:
        run_id: the run the acknowledged step belongs to.
        step_id: the step (the downstream job's id).
        recorded: an ``engagement`` record was appended (False: the run had not finished, or
            finished longer than the window ago).
        quality_score: the run's new score when this signal re-scored it, else None.
    """

    run_id: str
    step_id: str
    recorded: bool
    quality_score: float | None


def acknowledge_step(
    plane: ControlPlane,
    step_id: str,
    *,
    by: str | None = None,
    window: timedelta = ENGAGEMENT_WINDOW,
) -> Acknowledged:
    """The downstream agent acknowledges an executed step's job: its run's engagement signal.

    Raises:
        NotFoundError: no such step.
        ConflictError: the step did not execute (nothing was done to acknowledge).
    """
    step = plane.ledger.latest("step", step_id)
    if step is None:
        raise NotFoundError(f"unknown step {step_id!r}")
    status = step.fields.get("status")
    if status not in ("executed", "rolled_back"):
        raise ConflictError(f"step {step_id} is {status}; there is no job to acknowledge")
    run_id = str(step.fields["run_id"])
    before = _engagements(plane, run_id)
    score = record_engagement(plane, run_id, signal="downstream_ack", by=by, window=window)
    return Acknowledged(run_id, step_id, _engagements(plane, run_id) > before, score)


def _engagements(plane: ControlPlane, run_id: str) -> int:
    return sum(1 for _ in plane.ledger.records(kind="engagement", run_id=run_id))
