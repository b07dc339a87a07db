"""Ledger.transaction: many records and co-located rows in one transaction, chained at commit."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa

from tailguard.errors import InvalidInputError
from tailguard.ledger import Ledger

from . import records as rec

_SIDE = sa.table("side_rows", sa.column("name", sa.String))


def _side_table(ledger: Ledger) -> None:
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE side_rows (name VARCHAR(40) PRIMARY KEY)")


def _side_names(ledger: Ledger) -> list[str]:
    with ledger.engine.connect() as conn:
        return sorted(conn.execute(sa.select(_SIDE.c.name)).scalars())


def test_records_and_side_rows_commit_together_as_one_chain_segment(ledger: Ledger) -> None:
    """Buffered records are chained in order at commit, after the one-record appends."""
    _side_table(ledger)
    ledger.append("run", rec.run("r0"))
    with ledger.transaction() as tx:
        tx.append("run", rec.run("r1"))
        tx.append_many([("step", rec.step("s1", "r1")), ("run", rec.run("r2"))])
        tx.conn.execute(sa.insert(_SIDE), [{"name": "a"}, {"name": "b"}])
        assert tx.pending == 3
        assert ledger.count() == 1  # nothing is visible before the commit
    stored = list(ledger.records())
    assert [(r.seq, r.kind, r.record_id) for r in stored] == [
        (1, "run", "r0"),
        (2, "run", "r1"),
        (3, "step", "s1"),
        (4, "run", "r2"),
    ]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))
    assert ledger.head() == (4, stored[-1].hash)
    assert _side_names(ledger) == ["a", "b"]
    assert ledger.verify().ok


def test_an_exception_writes_neither_records_nor_rows(ledger: Ledger) -> None:
    """All or nothing: a failing block leaves the ledger and the side table as they were."""
    _side_table(ledger)

    def fail_midway() -> None:
        with ledger.transaction() as tx:
            tx.append("run", rec.run("r1"))
            tx.conn.execute(sa.insert(_SIDE), [{"name": "a"}])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    assert ledger.count() == 0
    assert _side_names(ledger) == []
    assert ledger.head()[0] == 0


def test_a_bad_record_fails_the_append_that_brings_it(ledger: Ledger) -> None:
    """Validation happens at append time, and a bad batch adds none of its records."""
    with ledger.transaction() as tx:
        tx.append("run", rec.run("r1"))
        with pytest.raises(InvalidInputError):
            tx.append_many([("run", rec.run("r2")), ("step", {"step_id": "s"})])
        assert tx.pending == 1
    assert [r.record_id for r in ledger.records()] == ["r1"]


def test_reads_inside_the_transaction_see_the_runs_records(ledger: Ledger) -> None:
    """Step counts and latest fields per run, read on the transaction's connection."""
    ledger.append_many(
        [
            ("run", rec.run("r1")),
            ("step", rec.step("s1", "r1")),
            ("step", rec.step("s1", "r1", status="error")),
            ("step", rec.step("s2", "r1")),
            ("run", rec.run("r2")),
        ]
    )
    with ledger.transaction() as tx:
        assert tx.step_counts(["r1", "r2", "r3"]) == {"r1": 2}
        latest = tx.latest_fields(["r1"], ("step",))
        assert latest["r1"]["step"]["s1"]["status"] == "error"
        assert sorted(latest["r1"]["step"]) == ["s1", "s2"]
