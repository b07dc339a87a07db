"""The detection table of docs/ledger.md, one test per row, on SQLite and PostgreSQL.

An attacker owns the database (triggers dropped, any SQL); the checkpoint key and file live
elsewhere. Each test tampers one way and checks what ``verify`` (and ``verify_against`` the
checkpoints) reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tailguard.clock import FakeClock
from tailguard.ledger import GENESIS_HASH, Ledger, record_hash
from tailguard.ledger.checkpoint import (
    Checkpoint,
    CheckpointKey,
    append_checkpoint,
    read_checkpoints,
    verify_against,
    write_checkpoint,
)
from tailguard.ledger.verify import VerifyReport

from .conftest import tamper
from .records import run, step
from .test_cli import run_main

N = 10


@pytest.fixture
def key() -> CheckpointKey:
    """The checkpoint key, kept outside the database."""
    return CheckpointKey.generate()


@pytest.fixture
def filled(ledger: Ledger, key: CheckpointKey, tmp_path: Path) -> Path:
    """Ten records (a run, nine steps) and a checkpoint file signed at the head."""
    ledger.append("run", run("r1"))
    for i in range(2, N + 1):
        ledger.append("step", step(f"s{i}", "r1", retries=i))
    out = tmp_path / "checkpoints.jsonl"
    write_checkpoint(ledger, key, out, clock=FakeClock())
    return out


def _check(ledger: Ledger, checkpoints: Path, key: CheckpointKey) -> VerifyReport:
    return verify_against(ledger, read_checkpoints(checkpoints), trusted=[key.public])


def _rehash_from(ledger: Ledger, first: int) -> None:
    """Recompute every hash from seq ``first`` on and move the head: a valid forged chain."""
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT seq, kind, fields, recorded_at_us, prev_hash FROM tailguard_ledger "
                "ORDER BY seq"
            )
        ).all()
    prev = GENESIS_HASH
    updates = []
    for seq, kind, fields, at, stored_prev in rows:
        if seq < first:
            prev = record_hash(
                seq=seq, kind=kind, fields_json=fields, prev_hash=stored_prev, recorded_at_us=at
            )
            continue
        digest = record_hash(
            seq=seq, kind=kind, fields_json=fields, prev_hash=prev, recorded_at_us=at
        )
        updates.append({"s": seq, "p": prev, "h": digest})
        prev = digest
    # Through temporary values, so the unique hash columns never collide mid-way.
    for u in updates:
        tamper(
            ledger,
            "UPDATE tailguard_ledger SET prev_hash = :t, hash = :u WHERE seq = :s",
            {"s": u["s"], "t": f"tmp-p-{u['s']}", "u": f"tmp-h-{u['s']}"},
        )
    for u in updates:
        tamper(ledger, "UPDATE tailguard_ledger SET prev_hash = :p, hash = :h WHERE seq = :s", u)
    last = rows[-1][0] if rows else 0
    tamper(ledger, "UPDATE tailguard_ledger_head SET seq = :s, hash = :h", {"s": last, "h": prev})


# ------------------------------------------------------------------ edit any column


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("fields", '{"run_id":"r1"}', "hash_mismatch"),
        ("kind", "'okr'", "hash_mismatch"),
        ("recorded_at_us", "recorded_at_us + 1", "hash_mismatch"),
        ("prev_hash", "'" + "a" * 64 + "'", "hash_mismatch"),
        ("record_id", "'s-other'", "column_mismatch"),
        ("run_id", "'r-other'", "column_mismatch"),
        ("run_id", "NULL", "column_mismatch"),
    ],
)
def test_editing_any_column_of_a_record_is_named(
    ledger: Ledger, filled: Path, column: str, value: str, problem: str
) -> None:
    """Every stored column a reader trusts is hashed or checked against the hashed fields."""
    literal = value if column != "fields" else ":v"
    params = {"v": value} if column == "fields" else {}
    tamper(ledger, f"UPDATE tailguard_ledger SET {column} = {literal} WHERE seq = 5", params)
    report = ledger.verify(batch_size=3)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 5, problem)


def test_editing_a_stored_hash_breaks_the_next_link(ledger: Ledger, filled: Path) -> None:
    """A changed hash column no longer matches its record, or its successor's prev_hash."""
    tamper(ledger, "UPDATE tailguard_ledger SET hash = :h WHERE seq = 5", {"h": "b" * 64})
    report = ledger.verify()
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 5, "hash_mismatch")


def test_a_record_moved_to_another_run_no_longer_verifies(ledger: Ledger, filled: Path) -> None:
    """The issue's case: a changed run_id hid a record from its run; verify now names it."""
    tamper(ledger, "UPDATE tailguard_ledger SET run_id = 'r2' WHERE seq = 4")
    assert [r.seq for r in ledger.records(run_id="r1")] == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    report = ledger.verify()
    assert (report.first_bad_seq, report.problem, report.record_id) == (
        4,
        "column_mismatch",
        "s4",
    )


# ------------------------------------------------------------ delete, reorder, truncate


def test_deleting_a_middle_record_is_named(ledger: Ledger, filled: Path) -> None:
    """A seq gap."""
    tamper(ledger, "DELETE FROM tailguard_ledger WHERE seq = 6")
    report = ledger.verify()
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 6, "missing")


def test_reordering_two_records_is_named(ledger: Ledger, filled: Path) -> None:
    """Swapping the seqs of records 4 and 7: seq is hashed."""
    tamper(ledger, "UPDATE tailguard_ledger SET seq = -4 WHERE seq = 4")
    tamper(ledger, "UPDATE tailguard_ledger SET seq = 4 WHERE seq = 7")
    tamper(ledger, "UPDATE tailguard_ledger SET seq = 7 WHERE seq = -4")
    report = ledger.verify()
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 4, "hash_mismatch")


def test_truncating_the_tail_is_caught_by_the_head(ledger: Ledger, filled: Path) -> None:
    """The head row still names the removed records."""
    tamper(ledger, "DELETE FROM tailguard_ledger WHERE seq > 7")
    report = ledger.verify()
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 8, "head_mismatch")


def test_truncating_the_tail_and_the_head_is_caught_by_the_checkpoint(
    ledger: Ledger, filled: Path, key: CheckpointKey
) -> None:
    """A cut tail with a rewritten head is a valid shorter chain; the checkpoint saw more."""
    tamper(ledger, "DELETE FROM tailguard_ledger WHERE seq > 7")
    seven = ledger.latest("step", "s7")
    assert seven is not None
    tamper(ledger, "UPDATE tailguard_ledger_head SET seq = 7, hash = :h", {"h": seven.hash})
    assert ledger.verify().ok  # the chain alone cannot tell
    report = _check(ledger, filled, key)
    assert (report.ok, report.first_bad_seq, report.problem) == (
        False,
        8,
        "shorter_than_checkpoint",
    )


def test_deleting_every_record_and_the_head_is_caught_by_the_checkpoint(
    ledger: Ledger, filled: Path, key: CheckpointKey
) -> None:
    """An emptied ledger is a valid empty chain; the checkpoint saw ten records."""
    tamper(ledger, "DELETE FROM tailguard_ledger")
    tamper(ledger, "UPDATE tailguard_ledger_head SET seq = 0, hash = :h", {"h": GENESIS_HASH})
    assert ledger.verify().ok
    report = _check(ledger, filled, key)
    assert (report.ok, report.problem, report.head_seq) == (
        False,
        "shorter_than_checkpoint",
        0,
    )


# ---------------------------------------------------------------------- full re-hash


@pytest.mark.parametrize("first", [1, 6])
def test_a_rewritten_and_rehashed_chain_is_caught_by_the_checkpoint(
    ledger: Ledger, filled: Path, key: CheckpointKey, first: int
) -> None:
    """Edit a record, recompute every later hash and the head: only the anchor tells."""
    forged = '{"run_id":"r1","step_id":"s6"}' if first == 6 else None
    if forged is not None:
        tamper(ledger, "UPDATE tailguard_ledger SET fields = :f WHERE seq = 6", {"f": forged})
    else:
        tamper(ledger, "UPDATE tailguard_ledger SET recorded_at_us = 0 WHERE seq = 1")
    _rehash_from(ledger, first)
    assert ledger.verify().ok
    report = _check(ledger, filled, key)
    assert (report.ok, report.first_bad_seq, report.problem) == (
        False,
        N,
        "diverges_from_checkpoint",
    )


def test_records_rewritten_after_the_last_checkpoint_are_not_detected(
    ledger: Ledger, filled: Path, key: CheckpointKey
) -> None:
    """The documented limit: the anchor covers the chain up to the last checkpoint only."""
    ledger.append("step", step("s11", "r1"))
    ledger.append("step", step("s12", "r1"))
    tamper(ledger, "DELETE FROM tailguard_ledger WHERE seq = 12")
    eleven = ledger.latest("step", "s11")
    assert eleven is not None
    tamper(ledger, "UPDATE tailguard_ledger_head SET seq = 11, hash = :h", {"h": eleven.hash})
    assert _check(ledger, filled, key).ok


# ----------------------------------------------------------------------- empty ledger


def test_an_empty_ledger_verifies_and_its_checkpoint_holds_until_records_vanish(
    ledger: Ledger, key: CheckpointKey, tmp_path: Path
) -> None:
    """Seq 0 with the genesis hash can be signed; a later checkpoint then anchors growth."""
    out = tmp_path / "cp.jsonl"
    empty = write_checkpoint(ledger, key, out, clock=FakeClock())
    assert (empty.seq, empty.hash) == (0, GENESIS_HASH)
    assert _check(ledger, out, key).ok
    ledger.append("run", run("r1"))
    write_checkpoint(ledger, key, out, clock=FakeClock())
    assert _check(ledger, out, key).ok
    tamper(ledger, "DELETE FROM tailguard_ledger")
    tamper(ledger, "UPDATE tailguard_ledger_head SET seq = 0, hash = :h", {"h": GENESIS_HASH})
    assert _check(ledger, out, key).problem == "shorter_than_checkpoint"


# ------------------------------------------------------------------ the checkpoints


def test_a_forged_or_altered_checkpoint_is_refused(
    ledger: Ledger, filled: Path, key: CheckpointKey, tmp_path: Path
) -> None:
    """A checkpoint signed by another key, or edited after signing, is a bad checkpoint."""
    (good,) = read_checkpoints(filled)
    other = tmp_path / "other.jsonl"
    append_checkpoint(
        other, CheckpointKey.generate().sign(seq=good.seq, hash=good.hash, at=good.at)
    )
    assert _check(ledger, other, key).problem == "bad_checkpoint"
    edited = tmp_path / "edited.jsonl"
    fields = good.to_dict()
    append_checkpoint(edited, Checkpoint.from_dict({**fields, "seq": 3}))
    assert _check(ledger, edited, key).problem == "bad_checkpoint"


def test_a_broken_chain_is_never_signed(ledger: Ledger, filled: Path, key: CheckpointKey) -> None:
    """Checkpointing verifies first; a tampered chain gets no checkpoint."""
    from tailguard.errors import ChainBrokenError

    tamper(ledger, "UPDATE tailguard_ledger SET kind = 'okr' WHERE seq = 3")
    with pytest.raises(ChainBrokenError):
        write_checkpoint(ledger, key, filled, clock=FakeClock())
    assert len(read_checkpoints(filled)) == 1


def test_the_cli_checkpoints_and_verifies_against_the_file(
    ledger: Ledger, ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """keygen, checkpoint and verify --checkpoint, with JSON output and exit codes 0/1/2."""
    ledger.append("run", run("r1"))
    key_file, cp = tmp_path / "key.pem", tmp_path / "cp.jsonl"
    code, out, _ = run_main(capsys, "ledger", "keygen", "--out", str(key_file), "--format", "json")
    assert code == 0
    assert len(json.loads(out)["key_id"]) == 16
    assert run_main(capsys, "ledger", "keygen", "--out", str(key_file))[0] == 2
    sign = ["ledger", "checkpoint", "--db", ledger_url, "--key", str(key_file), "--out", str(cp)]
    code, out, _ = run_main(capsys, *sign, "--format", "json")
    assert (code, json.loads(out)["seq"]) == (0, 1)
    verify = ["ledger", "verify", "--db", ledger_url, "--checkpoint", str(cp)]
    code, out, _ = run_main(capsys, *verify, "--key", str(key_file), "--format", "json")
    assert (code, json.loads(out)["ok"]) == (0, True)
    tamper(ledger, "DELETE FROM tailguard_ledger")
    tamper(ledger, "UPDATE tailguard_ledger_head SET seq = 0, hash = :h", {"h": GENESIS_HASH})
    assert run_main(capsys, "ledger", "verify", "--db", ledger_url)[0] == 0
    code, out, err = run_main(capsys, *verify, "--key", str(key_file), "--format", "json")
    assert (code, json.loads(out)["problem"]) == (1, "shorter_than_checkpoint")
    assert len(err.strip().splitlines()) == 1
    assert run_main(capsys, *verify, "--key", str(tmp_path / "nope.pem"))[0] == 2
    assert run_main(capsys, *sign)[0] == 0  # an empty chain verifies: it can be signed
