"""verify() names the first record altered, inserted or removed, on both backends."""

from __future__ import annotations

import hashlib
import json

import pytest

from tailguard.ledger import Ledger, canonical_json, record_hash

from .conftest import tamper
from .records import run, step


def _fill(ledger: Ledger, n: int = 10) -> None:
    ledger.append("run", run("r1"))
    for i in range(2, n + 1):
        ledger.append("step", step(f"s{i}", "r1", retries=i))


def test_an_untouched_chain_verifies_with_its_head(ledger: Ledger) -> None:
    """A clean ledger reports ok, the record count and the head hash, across batch borders."""
    _fill(ledger)
    report = ledger.verify(batch_size=3)
    assert report.ok
    assert (report.records, report.head_seq, report.head_hash) == (10, 10, ledger.head()[1])
    assert report.first_bad_seq is None


def test_an_empty_ledger_verifies(ledger: Ledger) -> None:
    """Zero records is a valid chain."""
    report = ledger.verify()
    assert (report.ok, report.records, report.head_seq) == (True, 0, 0)


def test_a_field_updated_in_place_is_named(ledger: Ledger) -> None:
    """Changing one field of record 5 in the database is a hash mismatch at seq 5."""
    _fill(ledger)
    altered = canonical_json({**step("s5", "r1", retries=5), "status": "rolled_back"})
    tamper(ledger, "UPDATE tailguard_ledger SET fields = :f WHERE seq = 5", {"f": altered})
    report = ledger.verify(batch_size=4)
    assert not report.ok
    assert (report.first_bad_seq, report.problem, report.kind, report.record_id) == (
        5,
        "hash_mismatch",
        "step",
        "s5",
    )
    assert report.records == 4
    assert "seq 5" in report.message


def test_a_deleted_middle_record_is_named(ledger: Ledger) -> None:
    """Deleting record 6 leaves a seq gap reported as seq 6 missing."""
    _fill(ledger)
    tamper(ledger, "DELETE FROM tailguard_ledger WHERE seq = 6")
    report = ledger.verify(batch_size=4)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 6, "missing")
    assert "seq 6 missing" in report.message


def test_a_forged_record_inserted_in_the_middle_is_named(ledger: Ledger) -> None:
    """Shifting records up and inserting a self-consistent forged record at 6 is caught at 6."""
    _fill(ledger)
    tamper(ledger, "UPDATE tailguard_ledger SET seq = -(seq + 1) WHERE seq > 5")
    tamper(ledger, "UPDATE tailguard_ledger SET seq = -seq WHERE seq < 0")
    # The forger cannot reuse record 5's hash as prev_hash (a unique constraint), so it links
    # the forged record to an invented predecessor and hashes it correctly.
    fields = canonical_json(step("s-forged", "r1", tool_name="pay_surge_bonus"))
    prev = hashlib.sha256(b"invented").hexdigest()
    digest = record_hash(seq=6, kind="step", fields_json=fields, prev_hash=prev, recorded_at_us=0)
    tamper(
        ledger,
        "INSERT INTO tailguard_ledger (seq, kind, record_id, run_id, recorded_at_us, fields,"
        " prev_hash, hash) VALUES (6, 'step', 's-forged', 'r1', 0, :f, :p, :h)",
        {"f": fields, "p": prev, "h": digest},
    )
    report = ledger.verify(batch_size=4)
    assert (report.ok, report.first_bad_seq, report.problem, report.record_id) == (
        False,
        6,
        "prev_hash_mismatch",
        "s-forged",
    )


def test_a_replaced_record_breaks_the_link_to_its_successor(ledger: Ledger) -> None:
    """Replacing record 5 by a well-linked forgery is caught where record 6 no longer chains."""
    _fill(ledger)
    original = ledger.latest("step", "s5")
    assert original is not None
    tamper(ledger, "DELETE FROM tailguard_ledger WHERE seq = 5")
    fields = canonical_json(step("s5", "r1", status="skipped"))
    digest = record_hash(
        seq=5, kind="step", fields_json=fields, prev_hash=original.prev_hash, recorded_at_us=0
    )
    tamper(
        ledger,
        "INSERT INTO tailguard_ledger (seq, kind, record_id, run_id, recorded_at_us, fields,"
        " prev_hash, hash) VALUES (5, 'step', 's5', 'r1', 0, :f, :p, :h)",
        {"f": fields, "p": original.prev_hash, "h": digest},
    )
    report = ledger.verify()
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 6, "prev_hash_mismatch")
    assert "seq 5" in report.message


def test_records_removed_from_the_end_are_caught_by_the_head(ledger: Ledger) -> None:
    """Truncating the tail leaves the chain head pointing past the last record."""
    _fill(ledger)
    tamper(ledger, "DELETE FROM tailguard_ledger WHERE seq > 8")
    report = ledger.verify()
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 9, "head_mismatch")


def test_export_lines_recompute_to_their_hash(ledger: Ledger) -> None:
    """An export line alone is enough to recompute the record's hash outside tailguard."""
    _fill(ledger, 4)
    for record in ledger.records():
        line = json.loads(json.dumps(record.to_export()))
        seq, prev, digest, kind, at = (
            line.pop("seq"),
            line.pop("prev_hash"),
            line.pop("hash"),
            line.pop("kind"),
            line.pop("recorded_at_us"),
        )
        payload = {
            "seq": seq,
            "kind": kind,
            "fields": line,
            "prev_hash": prev,
            "recorded_at_us": at,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(text.encode()).hexdigest() == digest


@pytest.mark.parametrize("batch_size", [1, 2, 7, 5000])
def test_verify_result_does_not_depend_on_batch_size(ledger: Ledger, batch_size: int) -> None:
    """The streaming walk finds the same first bad record whatever the batch size."""
    _fill(ledger)
    tamper(ledger, "UPDATE tailguard_ledger SET kind = 'okr' WHERE seq = 7")
    report = ledger.verify(batch_size=batch_size)
    assert (report.first_bad_seq, report.problem) == (7, "hash_mismatch")
