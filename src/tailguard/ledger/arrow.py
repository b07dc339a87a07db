"""The ledger's rows as an Arrow table, for columnar work (KPIs, analysis) without row objects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa
import sqlalchemy as sa

from tailguard.ledger import _tables as t
from tailguard.ledger.store import Ledger, to_micros

ARROW_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("kind", pa.string()),
        ("record_id", pa.string()),
        ("run_id", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
        ("fields", pa.string()),
    ]
)
"""Columns of :func:`records_arrow`; ``fields`` is the canonical JSON text of the record."""


def records_arrow(
    ledger: Ledger,
    *,
    kinds: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    batch_size: int = 50_000,
) -> pa.Table:
    """Read the matching records (seq order) into one Arrow table, fetched in batches.

    Args:
        ledger: the ledger to read.
        kinds: only these kinds (all kinds when None).
        since: only records with ``recorded_at >= since``.
        until: only records with ``recorded_at < until``.
        batch_size: rows fetched per query.
    """
    c = t.records.c
    conditions: list[sa.ColumnElement[bool]] = []
    if kinds is not None:
        conditions.append(c.kind.in_(list(kinds)))
    if since is not None:
        conditions.append(c.recorded_at_us >= to_micros(since))
    if until is not None:
        conditions.append(c.recorded_at_us < to_micros(until))
    query = (
        sa.select(c.seq, c.kind, c.record_id, c.run_id, c.recorded_at_us, c.fields)
        .where(c.seq > sa.bindparam("after"), *conditions)
        .order_by(c.seq)
        .limit(batch_size)
    )
    batches: list[pa.RecordBatch] = []
    after = -(2**62)
    while True:
        with ledger.engine.connect() as conn:
            rows = (
                conn.execution_options(**ledger.backend.read_options())
                .execute(query, {"after": after})
                .all()
            )
        if not rows:
            break
        columns = list(zip(*rows, strict=True))
        batches.append(
            pa.RecordBatch.from_arrays(
                [
                    pa.array(columns[0], pa.int64()),
                    pa.array(columns[1], pa.string()),
                    pa.array(columns[2], pa.string()),
                    pa.array(columns[3], pa.string()),
                    pa.array(columns[4], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                    pa.array(columns[5], pa.string()),
                ],
                schema=ARROW_SCHEMA,
            )
        )
        if len(rows) < batch_size:
            break
        after = rows[-1][0]
    return pa.Table.from_batches(batches, schema=ARROW_SCHEMA)
