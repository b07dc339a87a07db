"""The ledger store: appends, chaining, validation, reads, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tailguard.clock import FakeClock
from tailguard.errors import BackendUnavailableError, InvalidInputError
from tailguard.ledger import GENESIS_HASH, Ledger
from tailguard.ledger._backend import parse_url
from tailguard.ledger.store import to_micros

from .records import gate, outcome, run, step


def test_appends_get_consecutive_seqs_chained_by_hash(ledger: Ledger) -> None:
    """Each record's prev_hash is the hash of the record before it, starting at genesis."""
    first = ledger.append("run", run("r1"))
    second = ledger.append("step", step("s1", "r1"))
    third = ledger.append("run", run("r1", status="completed"))
    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert ledger.head() == (3, third.hash)
    assert ledger.count() == 3


def test_hash_is_sha256_of_canonical_json_of_seq_kind_fields_prev_hash_recorded_at(
    ledger: Ledger,
) -> None:
    """An outsider can recompute a record's hash with nothing but json and hashlib."""
    record = ledger.append("outcome", outcome("o1", "r1", user_feedback="très bien"))
    payload = {
        "seq": record.seq,
        "kind": "outcome",
        "fields": dict(record.fields),
        "prev_hash": record.prev_hash,
        "recorded_at_us": to_micros(record.recorded_at),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert record.hash == hashlib.sha256(text.encode()).hexdigest()


def test_export_line_holds_kind_fields_and_chain_columns(ledger: Ledger) -> None:
    """to_export gives kind, the section-5 fields, seq, prev_hash and hash."""
    record = ledger.append("gate", gate("g1", "r1", "s1"))
    exported = record.to_export()
    assert exported["kind"] == "gate"
    assert exported["decision"] == "pending"
    assert (exported["seq"], exported["prev_hash"], exported["hash"]) == (
        1,
        GENESIS_HASH,
        record.hash,
    )
    assert exported["recorded_at_us"] == to_micros(record.recorded_at)


def test_append_many_writes_one_chain_segment(ledger: Ledger) -> None:
    """A batch gets consecutive seqs, each linked to the previous one."""
    ledger.append("run", run("r0"))
    batch = ledger.append_many([("run", run(f"r{i}")) for i in range(1, 6)])
    assert [r.seq for r in batch] == [2, 3, 4, 5, 6]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(batch))
    assert ledger.verify().ok


def test_append_many_with_one_bad_record_writes_nothing(ledger: Ledger) -> None:
    """Validation happens before the transaction, so a bad item loses nothing and adds nothing."""
    with pytest.raises(InvalidInputError, match="status"):
        ledger.append_many([("run", run("r1")), ("run", run("r2", status="done"))])
    assert ledger.count() == 0
    assert ledger.append_many([]) == []


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        ("run", {k: v for k, v in run("r1").items() if k != "role"}, "missing"),
        ("run", {**run("r1"), "colour": "red"}, "unknown"),
        ("run", run("r1", status="finished"), "status"),
        ("run", run("r1", total_tokens=True), "total_tokens"),
        ("run", run("r1", total_tokens=-1), "total_tokens"),
        ("run", run("r1", started_at="yesterday"), "started_at"),
        ("step", step("s1", "r1", status="done"), "status"),
        ("step", step("s1", "r1", risk_level="high"), "risk_level"),
        ("gate", gate("g1", "r1", "s1", decision="maybe"), "decision"),
        ("outcome", outcome("o1", "r1", objective_met="sort of"), "objective_met"),
        ("outcome", outcome("o1", "r1", quality_score=101), "quality_score"),
        ("outcome", outcome("o1", "r1", quality_score=float("nan")), "quality_score"),
        ("alert", {"message": "no id"}, "alert_id"),
        ("alert", {"alert_id": "a1", "seq": 4}, "seq"),
        ("Bad Kind", {"bad kind_id": "x"}, "kind"),
        ("okr", {"okr_id": "o1", "value": float("inf")}, "finite"),
    ],
)
def test_invalid_records_are_refused_with_the_field_named(
    ledger: Ledger, kind: str, fields: dict[str, object], message: str
) -> None:
    """Known kinds follow section 5 exactly; other kinds need their <kind>_id."""
    with pytest.raises(InvalidInputError, match=message):
        ledger.append(kind, fields)
    assert ledger.count() == 0


def test_other_kinds_are_indexed_by_their_kind_id(ledger: Ledger) -> None:
    """An alert is found by alert_id and attached to the run it names."""
    ledger.append("alert", {"alert_id": "a1", "run_id": "r1", "level": "warn"})
    ledger.append("alert", {"alert_id": "a1", "run_id": "r1", "level": "resolved"})
    latest = ledger.latest("alert", "a1")
    assert latest is not None
    assert (latest.seq, latest.run_id, latest.fields["level"]) == (2, "r1", "resolved")


def test_datetimes_in_fields_are_stored_as_rfc3339_utc(ledger: Ledger) -> None:
    """A datetime argument round-trips as the RFC 3339 string the hash covers."""
    started = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
    record = ledger.append("run", run("r1", started_at=started))
    assert record.fields["started_at"] == "2026-01-05T08:30:00Z"
    assert ledger.latest("run", "r1") == record


def test_latest_returns_the_current_state_of_an_entity(ledger: Ledger) -> None:
    """A status change is a new record; latest returns the newest one for that id."""
    ledger.append("run", run("r1"))
    ledger.append("run", run("r2"))
    ledger.append("run", run("r1", status="waiting_approval"))
    ledger.append("run", run("r1", status="completed", completed_at="2026-01-05T00:01:00Z"))
    current = ledger.latest("run", "r1")
    assert current is not None
    assert (current.seq, current.fields["status"]) == (4, "completed")
    assert ledger.latest("run", "nope") is None
    assert ledger.latest("step", "r1") is None


def test_records_filter_by_kind_run_seq_time_and_limit(ledger_url: str) -> None:
    """Every filter of records() narrows the stream; order is always by seq."""
    clock = FakeClock(datetime(2026, 1, 5, tzinfo=UTC))
    with Ledger.open(ledger_url, clock=clock) as ledger:
        ledger.append("run", run("r1"))
        clock.advance(60)
        ledger.append("step", step("s1", "r1"))
        ledger.append("step", step("s2", "r2"))
        clock.advance(60)
        ledger.append("run", run("r1", status="completed"))
        assert [r.seq for r in ledger.records()] == [1, 2, 3, 4]
        assert [r.seq for r in ledger.records(kind="step")] == [2, 3]
        assert [r.seq for r in ledger.records(run_id="r1")] == [1, 2, 4]
        assert [r.seq for r in ledger.records(since_seq=2)] == [3, 4]
        assert [r.seq for r in ledger.records(limit=3)] == [1, 2, 3]
        t0 = datetime(2026, 1, 5, tzinfo=UTC)
        window = ledger.records(since=t0 + timedelta(seconds=60), until=t0 + timedelta(seconds=120))
        assert [r.seq for r in window] == [2, 3]
        assert ledger.latest("run", "r1").recorded_at == t0 + timedelta(seconds=120)  # type: ignore[union-attr]


def test_records_stream_across_many_batches(ledger: Ledger) -> None:
    """More records than one read batch come back complete and in order."""
    ledger.append_many([("okr", {"okr_id": f"o{i}", "value": i}) for i in range(2500)])
    seqs = [r.seq for r in ledger.records()]
    assert seqs == list(range(1, 2501))
    assert [r.seq for r in ledger.records(since_seq=999, limit=1002)] == list(range(1000, 2002))


def test_reopening_continues_the_same_chain(ledger_url: str) -> None:
    """A second process opening the ledger appends after the stored head."""
    with Ledger.open(ledger_url) as first:
        last = first.append("run", run("r1"))
    with Ledger.open(ledger_url) as second:
        record = second.append("run", run("r2"))
        assert (record.seq, record.prev_hash) == (2, last.hash)
        assert second.verify().ok


def test_database_refuses_update_and_delete_of_records(ledger: Ledger) -> None:
    """Append-only is enforced by the database, not only by the library."""
    ledger.append("run", run("r1"))
    for statement in (
        "UPDATE tailguard_ledger SET kind = 'okr'",
        "DELETE FROM tailguard_ledger",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), ledger.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert ledger.count() == 1


def test_database_refuses_a_second_record_on_the_same_predecessor(ledger: Ledger) -> None:
    """A fork (two records with one prev_hash) breaks a unique constraint."""
    first = ledger.append("run", run("r1"))
    ledger.append("run", run("r2"))
    forged = {
        "seq": 99,
        "kind": "run",
        "record_id": "rX",
        "run_id": "rX",
        "recorded_at_us": 0,
        "fields": "{}",
        "prev_hash": first.hash,
        "hash": "f" * 64,
    }
    with pytest.raises(sa.exc.IntegrityError), ledger.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tailguard_ledger (seq, kind, record_id, run_id, recorded_at_us, fields,"
                " prev_hash, hash) VALUES (:seq, :kind, :record_id, :run_id, :recorded_at_us,"
                " :fields, :prev_hash, :hash)"
            ),
            forged,
        )


def test_opening_a_bad_url_names_the_problem() -> None:
    """An unsupported scheme or empty URL is bad input, not a crash."""
    with pytest.raises(InvalidInputError, match="not supported"):
        Ledger.open("mysql://localhost/x")
    with pytest.raises(InvalidInputError, match="empty"):
        Ledger.open("  ")


@pytest.mark.parametrize(("query", "expected"), [("", 2), ("?synchronous=normal", 1)])
def test_a_sqlite_url_chooses_how_often_commits_are_synced(
    tmp_path: Path, query: str, expected: int
) -> None:
    """Full sync by default; ``?synchronous=normal`` for throw-away runs; the chain is the same."""
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'l.db'}{query}")
    try:
        ledger.append("run", run("r1"))
        with ledger.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == expected
        assert ledger.verify().ok
    finally:
        ledger.close()


def test_an_unknown_sqlite_sync_mode_is_refused(tmp_path: Path) -> None:
    """A typo in the URL's synchronous= is bad input naming the choices."""
    with pytest.raises(InvalidInputError, match=r"synchronous='sometimes'.*full, normal"):
        Ledger.open(f"sqlite:///{tmp_path / 'l.db'}?synchronous=sometimes")


def test_unreachable_postgres_is_reported_as_unavailable() -> None:
    """A PostgreSQL URL nobody answers gives a typed BackendUnavailableError."""
    with pytest.raises(BackendUnavailableError, match="postgresql is unavailable"):
        Ledger.open("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")


@pytest.mark.parametrize(
    ("url", "driver", "backend"),
    [
        ("ledger.db", "sqlite", "sqlite"),
        ("sqlite:///tmp/x.db", "sqlite", "sqlite"),
        ("postgresql://u@h/db", "postgresql+psycopg", "postgresql"),
        ("postgres://u@h/db", "postgresql+psycopg", "postgresql"),
        (
            "postgresql+psycopg://u@h/db?options=-csearch_path%3Ds1",
            "postgresql+psycopg",
            "postgresql",
        ),
    ],
)
def test_urls_pick_the_backend_and_normalise_to_psycopg3(
    url: str, driver: str, backend: str
) -> None:
    """A bare path is SQLite; every PostgreSQL spelling uses psycopg 3 and keeps its query."""
    parsed, chosen = parse_url(url)
    assert (parsed.drivername, chosen.name) == (driver, backend)
    if "options" in url:
        assert parsed.query["options"] == "-csearch_path=s1"
