"""A separate process for the cross-process tests (run as ``python -m control._worker``).

Modes:
    gate URL EFFECTS            start a run, request a gated send, print the gate id, then hang
    hammer URL EFFECTS TS N     N threads x 3 calls of the rate-limited tool at time TS;
                                prints how many executed (REDIS_PREFIX env: use Redis instead)
    reserve URL RUN_ID N        N threads reserving 30 tokens until refused; prints the count
    approve URL EFFECTS HOW     start a run, request a gated send, approve it (``one``: decide;
                                ``batch``: decide_many), print the gate id, then resume it
                                (``resume`` / ``resume_batch``): with TAILGUARD_CRASH_AT set to
                                ``approval_committed`` the process dies by SIGKILL right there
"""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from tailguard.clock import FakeClock, SystemClock
from tailguard.control import (
    ApproverList,
    DecisionRequest,
    RedisRateLimiter,
    StepOutcome,
    Usage,
)
from tailguard.errors import BudgetExceededError
from tailguard.ledger import Ledger

from ._toolkit import Effects, make_plane


def _gate(url: str, effects: str) -> None:
    clock = SystemClock()
    ledger = Ledger.open(url, clock=clock)
    plane = make_plane(
        ledger,
        Effects(Path(effects)),
        clock=clock,
        approvers=ApproverList(approver_ids=frozenset({"boss"})),
    )
    run = plane.start_run("recruiter", "alice", "message a driver")
    result = plane.execute(run, "send_message", {"receiverId": "d7", "content": "job offer"})
    assert result.outcome is StepOutcome.PENDING_APPROVAL
    print(result.gate_id, flush=True)
    time.sleep(600)  # the parent kills us here, with the gate pending


def _approve(url: str, effects: str, how: str) -> None:
    clock = SystemClock()
    ledger = Ledger.open(url, clock=clock)
    plane = make_plane(
        ledger,
        Effects(Path(effects)),
        clock=clock,
        approvers=ApproverList(approver_ids=frozenset({"boss"})),
    )
    run = plane.start_run("recruiter", "alice", "message a driver")
    result = plane.execute(run, "send_message", {"receiverId": "d7", "content": "job offer"})
    assert result.gate_id is not None
    if how == "batch":
        [decided] = plane.decide_many([DecisionRequest(result.gate_id, "approve", "boss")])
        assert not isinstance(decided, Exception)
    else:
        plane.decide(result.gate_id, "approve", "boss")
    print(result.gate_id, flush=True)
    if how == "batch":
        plane.resume_batch([result.gate_id])
    else:
        plane.resume(result.gate_id)
    print("resumed", flush=True)  # only without the crash point


def _hammer(url: str, effects: str, ts: float, threads: int) -> None:
    clock = FakeClock(datetime.fromtimestamp(ts, UTC))
    ledger = Ledger.open(url, clock=clock)
    prefix = os.environ.get("REDIS_PREFIX")
    limiter = RedisRateLimiter(os.environ["REDIS_URL"], prefix=prefix) if prefix else None
    plane = make_plane(ledger, Effects(Path(effects)), clock=clock, rate_limiter=limiter)
    run = plane.start_run("driver", f"hammer-{os.getpid()}", None)
    passed = []
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        for _ in range(3):
            # Every process and thread calls on behalf of the same user.
            result = plane.execute(run, "limited", {}, requester_id="shared-user")
            if result.outcome is StepOutcome.EXECUTED:
                passed.append(1)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(len(passed), flush=True)


def _reserve(url: str, run_id: str, threads: int) -> None:
    clock = SystemClock()
    ledger = Ledger.open(url, clock=clock)
    plane = make_plane(ledger, Effects(Path("/dev/null")), clock=clock)
    run = plane.get_run(run_id)
    granted = []
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        while True:
            try:
                plane.reserve(run, Usage(input_tokens=30))
            except BudgetExceededError:
                return
            granted.append(1)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(len(granted), flush=True)


if __name__ == "__main__":
    mode, url, *rest = sys.argv[1:]
    if mode == "gate":
        _gate(url, rest[0])
    elif mode == "hammer":
        _hammer(url, rest[0], float(rest[1]), int(rest[2]))
    elif mode == "approve":
        _approve(url, rest[0], rest[1])
    elif mode == "reserve":
        _reserve(url, rest[0], int(rest[1]))
    else:
        raise SystemExit(f"unknown mode {mode}")
