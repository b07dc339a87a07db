"""Rollback of executed steps through the policy's compensating tool.

A tool whose policy names a ``rollback_strategy`` has its arguments and result stored when it
executes; :meth:`Rollback.rollback` calls the compensating tool with them (once: a row in
the ``rollbacks`` table claims the step) and records the step as ``rolled_back``.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from tailguard.control.chain import Call, Compensate
from tailguard.control.records import STEP_FIELDS, PlaneParts, RunRecorder, summarize
from tailguard.control.results import StepOutcome, StepResult
from tailguard.control.store import rollbacks, step_payloads
from tailguard.control.tools import Compensation
from tailguard.errors import ConflictError, NotFoundError, PolicyError


class Rollback(RunRecorder):
    """Undoes executed steps with their compensating tools.

    Args:
        parts: what the plane's parts share.
        compensate: validates and runs a compensating call (:func:`.chain.compensator`).
    """

    def __init__(self, parts: PlaneParts, *, compensate: Compensate) -> None:
        super().__init__(parts)
        self._compensate = compensate

    def rollback(self, step_id: str, *, requested_by: str, reason: str | None = None) -> StepResult:
        """Undo an executed step with its policy's compensating tool; recorded as ``rolled_back``.

        Raises:
            NotFoundError: no such step.
            PolicyError: the tool has no rollback strategy (or its compensating tool is unknown).
            ConflictError: the step did not execute, or was already rolled back.
        """
        record = self.ledger.latest("step", step_id)
        if record is None:
            raise NotFoundError(f"unknown step {step_id!r}")
        fields = dict(record.fields)
        if fields["status"] == "rolled_back":
            raise ConflictError(f"step {step_id} was already rolled back")
        if fields["status"] not in ("executed", "approved"):
            raise ConflictError(f"step {step_id} is {fields['status']}; there is nothing to undo")
        tool_name = fields["tool_name"]
        policy = self.registry.policy(tool_name)
        compensator = policy.rollback_strategy
        if compensator is None:
            raise PolicyError(f"{tool_name} has no rollback strategy")
        if compensator not in self.registry:
            raise PolicyError(f"{tool_name}'s compensating tool {compensator!r} is not registered")
        with self.store.read() as conn:
            payload = conn.execute(
                sa.select(step_payloads).where(step_payloads.c.step_id == step_id)
            ).one_or_none()
        if payload is None:
            raise ConflictError(f"step {step_id} has no stored payload to roll back")
        try:
            with self.store.write() as conn:
                conn.execute(
                    sa.insert(rollbacks).values(
                        step_id=step_id, requested_by=requested_by, at=self.clock.now().timestamp()
                    )
                )
        except sa.exc.IntegrityError:
            raise ConflictError(f"step {step_id} is already being rolled back") from None
        original_args = json.loads(payload.args_json)
        schema_props = self.registry.tool(compensator).parameters.get("properties", {})
        comp_args = {k: v for k, v in original_args.items() if k in schema_props}
        run = self.get_run(fields["run_id"])
        call = Call(
            run=run,
            tool_name=compensator,
            args=comp_args,
            step_id=step_id,
            requester_id=requested_by,
            idempotency_key=f"rollback:{step_id}",
            compensates=Compensation(
                step_id=step_id,
                tool_name=tool_name,
                args=original_args,
                result=json.loads(payload.result_json) if payload.result_json else None,
            ),
        )
        attempt = self._compensate(call)
        detail = {
            "step_detail_id": step_id,
            "run_id": run.run_id,
            "phase": "rollback",
            "compensated_by": compensator,
            "requested_by": requested_by,
            "reason": reason if attempt.outcome is StepOutcome.EXECUTED else attempt.reason,
        }
        executed = attempt.outcome is StepOutcome.EXECUTED
        if executed:
            step = {
                **{k: fields[k] for k in STEP_FIELDS},
                "status": "rolled_back",
                "result_summary": attempt.summary or summarize(attempt.value),
                "latency_ms": attempt.latency_ms,
            }
            self._append([("step", step), ("step_detail", detail)])
        else:
            with self.store.write() as conn:  # let a later attempt try again
                conn.execute(sa.delete(rollbacks).where(rollbacks.c.step_id == step_id))
            self._append([("step_detail", detail)])
        return StepResult(
            outcome=attempt.outcome,
            run_id=run.run_id,
            step_id=step_id,
            tool_name=compensator,
            value=attempt.value if executed else None,
            reason=None if executed else attempt.reason,
            latency_ms=attempt.latency_ms,
        )
