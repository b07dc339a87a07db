"""The proposals table: revision 0004 on a database at 0003, filing once, results kept once."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from tailguard import migrations
from tailguard.ledger import Ledger
from tailguard.ops.swarm_store import ProposalStore

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def test_a_database_at_0003_is_upgraded_with_its_rows_kept(db_url: str) -> None:
    """Revision 0004 adds the proposals table and leaves the rows of earlier revisions alone."""
    engine = sa.create_engine(db_url)
    try:
        migrations.upgrade(engine, revision="0003")
        assert migrations.current_revision(engine) == "0003"
        with engine.begin() as conn:
            assert not sa.inspect(conn).has_table("tailguard_ops_proposals")
            conn.execute(
                sa.text(
                    "INSERT INTO tailguard_ops_switches (name, value, updated_at) "
                    "VALUES ('paused:x', 'true', 1.0)"
                )
            )
    finally:
        engine.dispose()
    with Ledger.open(db_url) as ledger:
        store = ProposalStore(ledger.engine)
        assert migrations.current_revision(ledger.engine) == migrations.HEAD == "0004"
        with ledger.engine.connect() as conn:
            value = conn.execute(sa.text("SELECT value FROM tailguard_ops_switches")).scalar()
        assert value == "true"
        assert store.list() == []


def test_a_finding_is_filed_once_and_a_result_is_kept_once(db_url: str) -> None:
    with Ledger.open(db_url) as ledger:
        store = ProposalStore(ledger.engine)
        assert store.file("prp-1", "/repo", "k1", {"rule": "F401"}, {"run_id": "r"}, now=NOW)
        assert not store.file("prp-2", "/repo", "k1", {"rule": "F401"}, {}, now=NOW)
        assert store.file("prp-3", "/other", "k1", {"rule": "F401"}, {}, now=NOW)
        assert store.has_finding("/repo", "k1")
        assert not store.has_finding("/repo", "k2")
        assert store.put("prp-1", "build", {"ok": True}, now=NOW) == {"ok": True}
        assert store.put("prp-1", "build", {"ok": False}, now=NOW) == {"ok": True}
        assert store.get("prp-1").state == {"run_id": "r", "build": {"ok": True}}
        assert store.advance("prp-1", from_step=0, status="built", state={"x": 1}, now=NOW)
        assert not store.advance("prp-1", from_step=0, status="built", state={"x": 2}, now=NOW)
        row = store.get("prp-1")
        assert (row.step, row.status, row.state) == (1, "built", {"x": 1})
        assert [r.proposal_id for r in store.list(status="filed")] == ["prp-3"]
