"""Walking the hash chain: the evidence that no record was altered, inserted or removed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from tailguard.ledger import _tables as t
from tailguard.ledger._canonical import GENESIS_HASH, record_hash
from tailguard.ledger.kinds import id_field

PROBLEMS = (
    "hash_mismatch",
    "missing",
    "prev_hash_mismatch",
    "unexpected_seq",
    "head_mismatch",
    "column_mismatch",
    "shorter_than_checkpoint",
    "diverges_from_checkpoint",
    "bad_checkpoint",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyReport:
    """The result of walking the whole chain.

    Attributes:
        ok: True when every record checks and the chain head matches the last record.
        records: how many records were walked.
        head_seq: seq of the last record walked (0 for an empty ledger).
        head_hash: hash of the last record walked (the genesis hash for an empty ledger).
        first_bad_seq: seq of the first record found bad (or missing), None when ok.
        problem: one of ``hash_mismatch`` (altered), ``missing`` (deleted), ``prev_hash_mismatch``
            (inserted, replaced or re-linked), ``unexpected_seq``, ``head_mismatch`` (records
            removed from the end), ``column_mismatch`` (a stored ``record_id`` or ``run_id``
            that is not the one its hashed fields name); with checkpoints
            (:mod:`tailguard.ledger.checkpoint`): ``shorter_than_checkpoint``,
            ``diverges_from_checkpoint``, ``bad_checkpoint``; None when ok.
        kind: kind of the first bad record, when it exists.
        record_id: entity id of the first bad record, when it exists.
        message: one human-readable sentence.
    """

    ok: bool
    records: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    kind: str | None = None
    record_id: str | None = None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON data."""
        return asdict(self)


def verify_chain(
    engine: sa.Engine, *, read_options: dict[str, Any], batch_size: int = 5000
) -> VerifyReport:
    """Walk the chain in seq order, in batches (bounded memory), and report the first bad record.

    Each record must have seq one above its predecessor, ``prev_hash`` equal to the
    predecessor's hash (the genesis hash for seq 1) and ``hash`` equal to the hash recomputed
    from its stored kind, fields, seq and prev_hash.
    """
    c = t.records.c
    cols = (c.seq, c.kind, c.record_id, c.run_id, c.recorded_at_us, c.fields)
    query = (
        sa.select(*cols, c.prev_hash, c.hash)
        .where(t.records.c.seq > sa.bindparam("after"))
        .order_by(t.records.c.seq)
        .limit(batch_size)
    )
    expected_seq = 1
    prev_hash = GENESIS_HASH
    walked = 0
    after = -(2**62)
    while True:
        with engine.connect() as conn:
            rows = conn.execution_options(**read_options).execute(query, {"after": after}).all()
        if not rows:
            break
        for (
            seq,
            kind,
            record_id,
            run_id,
            recorded_us,
            fields_json,
            stored_prev,
            stored_hash,
        ) in rows:
            bad = _check_one(
                seq=seq,
                kind=kind,
                fields_json=fields_json,
                recorded_at_us=recorded_us,
                stored_prev=stored_prev,
                stored_hash=stored_hash,
                expected_seq=expected_seq,
                prev_hash=prev_hash,
            ) or _check_columns(
                seq=seq, kind=kind, fields_json=fields_json, record_id=record_id, run_id=run_id
            )
            if bad is not None:
                problem, bad_seq, message = bad
                return VerifyReport(
                    ok=False,
                    records=walked,
                    head_seq=expected_seq - 1,
                    head_hash=prev_hash,
                    first_bad_seq=bad_seq,
                    problem=problem,
                    kind=kind if bad_seq == seq else None,
                    record_id=record_id if bad_seq == seq else None,
                    message=message,
                )
            walked += 1
            expected_seq = seq + 1
            prev_hash = stored_hash
        after = rows[-1][0]
    head_seq = expected_seq - 1
    with engine.connect() as conn:
        head_row = (
            conn.execution_options(**read_options)
            .execute(sa.select(t.head.c.seq, t.head.c.hash).where(t.head.c.id == 1))
            .first()
        )
    if head_row is not None and (head_row[0] != head_seq or head_row[1] != prev_hash):
        return VerifyReport(
            ok=False,
            records=walked,
            head_seq=head_seq,
            head_hash=prev_hash,
            first_bad_seq=head_seq + 1 if head_row[0] > head_seq else head_row[0],
            problem="head_mismatch",
            message=(
                f"the chain head says seq {head_row[0]} but the last record is seq {head_seq}: "
                "records were removed from (or added past) the end of the chain"
            ),
        )
    return VerifyReport(
        ok=True,
        records=walked,
        head_seq=head_seq,
        head_hash=prev_hash,
        message=f"{walked} records verified; head seq {head_seq} hash {prev_hash}",
    )


def _check_one(
    *,
    seq: int,
    kind: str,
    fields_json: str,
    recorded_at_us: int,
    stored_prev: str,
    stored_hash: str,
    expected_seq: int,
    prev_hash: str,
) -> tuple[str, int, str] | None:
    if seq > expected_seq:
        missing = (
            f"seq {expected_seq}" if seq == expected_seq + 1 else f"seqs {expected_seq}..{seq - 1}"
        )
        return (
            "missing",
            expected_seq,
            f"record {missing} missing (deleted): seq {seq} follows seq {expected_seq - 1}",
        )
    if seq < expected_seq:
        return (
            "unexpected_seq",
            seq,
            f"record seq {seq} is out of order (expected {expected_seq})",
        )
    own_ok = (
        record_hash(
            seq=seq,
            kind=kind,
            fields_json=fields_json,
            prev_hash=stored_prev,
            recorded_at_us=recorded_at_us,
        )
        == stored_hash
    )
    if not own_ok:
        return (
            "hash_mismatch",
            seq,
            f"record seq {seq} ({kind}) was altered: its stored hash does not match its content",
        )
    if stored_prev != prev_hash:
        before = f"seq {seq - 1}" if seq > 1 else "the chain start"
        return (
            "prev_hash_mismatch",
            seq,
            f"record seq {seq} ({kind}) does not chain to {before}: it was inserted or replaced "
            f"(or {before} was)",
        )
    return None


def _check_columns(
    *, seq: int, kind: str, fields_json: str, record_id: str, run_id: str | None
) -> tuple[str, int, str] | None:
    """The stored ``record_id`` and ``run_id`` must be the ones the (hashed) fields name."""
    try:
        fields = json.loads(fields_json)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        return ("hash_mismatch", seq, f"record seq {seq} ({kind}) has unreadable fields")
    want_id = fields.get(id_field(kind))
    want_run = fields.get("run_id")
    if not isinstance(want_run, str) or not want_run:
        want_run = None
    if record_id != want_id:
        return (
            "column_mismatch",
            seq,
            f"record seq {seq} ({kind}) has record_id {record_id!r} stored but its hashed "
            f"fields name {want_id!r}",
        )
    if run_id != want_run:
        return (
            "column_mismatch",
            seq,
            f"record seq {seq} ({kind}) has run_id {run_id!r} stored but its hashed fields "
            f"name {want_run!r}",
        )
    return None
