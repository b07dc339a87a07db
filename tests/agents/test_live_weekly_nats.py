"""Three simulated weeks of a live ``tailguard agents run`` over NATS: the weekly cycle runs by
itself at each week's end (Sunday 23:00 UTC, the default), the OKR levers of week 1 are
carried out in week 2, through their gates (a person approves them), and scored at its end
against their forecast."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tailguard.agents.testing import RecordingDownstreamServer
from tailguard.cli import main
from tailguard.clock import FakeClock
from tailguard.control import queries as control_queries
from tailguard.errors import TailguardError
from tailguard.events import open_bus, read_all
from tailguard.ledger import Ledger

from ._runs import START, Person, write_sim_events

pytestmark = [pytest.mark.nats, pytest.mark.slow]

WEEK_ENDS = ("2026-01-11", "2026-01-18", "2026-01-25")  # Sundays; START is a Monday


class LeverApprover(threading.Thread):
    """A person approving the OKR levers' gates as they open (other gates are left to time
    out), deciding at the gate's own event time."""

    def __init__(self, db: str) -> None:
        super().__init__(daemon=True)
        self.clock = FakeClock(START)
        self.person = Person(db, self.clock)
        self.engine = self.person.state.ledger.engine
        self.done = threading.Event()
        self.approved: list[str] = []
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            while not self.done.is_set():
                for row in control_queries.pending_gates(self.engine, now=START, limit=200):
                    if not str(row.tool_name).startswith("okr_"):
                        continue
                    at = datetime.fromtimestamp(float(row.presented_at), UTC)
                    self.clock.set(max(self.clock.now(), at))
                    try:
                        self.person.decide(str(row.gate_id), "approve")
                    except TailguardError:
                        continue  # timed out meanwhile: the runner settles it
                    self.approved.append(str(row.tool_name))
                self.done.wait(0.05)
        except BaseException as exc:  # the test fails on it
            self.errors.append(exc)


def test_three_live_weeks_run_the_cycle_and_carry_out_the_levers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, nats_url: str, unique_prefix: str
) -> None:
    events = write_sim_events(tmp_path / "ev.jsonl", areas=2, days=21, seed=5)
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    bus_url = f"{nats_url}?stream={unique_prefix}"
    first_hour = START + timedelta(hours=1)
    acting_from = first_hour + timedelta(days=1)  # --warmup-days 1
    last = datetime.fromisoformat(f"{WEEK_ENDS[-1]}T23:00:00+00:00")
    hours = int((last - acting_from) / timedelta(hours=1)) + 1
    publisher = open_bus(bus_url)
    approver = LeverApprover(db)
    try:
        publisher.publish(read_all(events))
        approver.start()
        with RecordingDownstreamServer() as server:
            with pytest.raises(SystemExit) as done:
                main(
                    [
                        "agents",
                        "run",
                        "--bus",
                        bus_url,
                        "--db",
                        db,
                        "--downstream",
                        server.url,
                        "--warmup-days",
                        "1",
                        "--tick-every",
                        "0.03",
                        "--poll",
                        "0.05",
                        "--hours",
                        str(hours),
                        "--dead-letter",
                        str(tmp_path / "dl.jsonl"),
                        "--format",
                        "json",
                    ]
                )
            jobs = server.executed
    finally:
        approver.done.set()
        approver.join(10)
        approver.person.close()
        publisher.drop()  # type: ignore[attr-defined]
        publisher.close()
    out, err = capsys.readouterr()
    assert done.value.code == 0, err
    assert not approver.errors
    summary = json.loads(out)
    assert summary["last_as_of"] == f"{WEEK_ENDS[-1]}T23:00:00Z"

    # The cycle ran by itself at each week's end, with the week kept in the database.
    weekly = summary["weekly"]
    assert weekly["schedule"] == "sun 23:00 UTC"
    assert weekly["errors"] == []
    assert weekly["snapshots"] == list(WEEK_ENDS)
    assert weekly["cycles"] == list(WEEK_ENDS)
    for day in WEEK_ENDS:
        assert (tmp_path / "weekly" / day / "index.html").is_file()
    assert not (tmp_path / "weekly" / WEEK_ENDS[-1] / "ERROR.txt").exists()

    with Ledger.open(db) as ledger:
        assert ledger.verify().ok
        okrs = [r.fields for r in ledger.records(kind="okr")]
        levers = [r.fields for r in ledger.records(kind="okr_lever")]
    committed = {(f["area_id"], f["week_of"]) for f in okrs if f["status"] == "committed"}
    assert committed == {(a, d) for a in ("PA-0001", "PA-0002") for d in WEEK_ENDS}

    # Week 1's levers ran in week 2: their calls went through the control plane from the
    # first hour after the cycle, people approved the gated ones, the downstream agent acted.
    week1 = [lv for lv in levers if lv["week_of"] == WEEK_ENDS[0]]
    assert {lv["area_id"] for lv in week1} == {"PA-0001", "PA-0002"}
    assert all(lv["closed_at"] == f"{WEEK_ENDS[1]}T23:00:00Z" for lv in week1)
    applied = [lv for lv in week1 if lv["applied"]]
    assert applied
    executed = [c for lv in applied for c in lv["calls"] if c["status"] == "executed"]
    for call in executed:  # the job id is the governed step's id
        assert jobs[call["step_id"]]["kind"] == call["tool"].removeprefix("okr_")
    assert weekly["lever_calls"][WEEK_ENDS[0]] == sum(len(lv["calls"]) for lv in week1)
    assert approver.approved

    # ... and were scored at week 2's end: forecast against outcome, per lever.
    scored = [f for f in okrs if f["status"] == "scored" and f["week_of"] == WEEK_ENDS[0]]
    assert {f["area_id"] for f in scored} == {"PA-0001", "PA-0002"}
    per_lever = [lv for f in scored for lv in f["levers"]]
    assert {lv["lever_id"] for lv in per_lever} == {lv["lever_id"] for lv in week1}
    ran = [lv for lv in per_lever if lv["applied"]]
    assert ran
    for lv in ran:
        assert set(lv["forecast"]) >= {"mean", "p10", "p90"}
        assert lv["outcome"] is not None
    # Week 2's levers ran in week 3 and were scored at its end the same way.
    assert {f["area_id"] for f in okrs if f["status"] == "scored" and f["week_of"] == WEEK_ENDS[1]}
