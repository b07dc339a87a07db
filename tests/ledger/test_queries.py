"""The ledger's reads for other packages: records of entities by id, in chain order."""

from __future__ import annotations

from tailguard.ledger import Ledger
from tailguard.ledger.queries import latest_entities, records_of


def test_records_of_gives_every_record_of_the_named_entities_in_chain_order(
    ledger: Ledger,
) -> None:
    """Both records of each named OKR come back, oldest first; other ids and kinds do not."""
    ledger.append("okr", {"okr_id": "okr_a", "status": "committed", "area_id": "PA-1"})
    ledger.append("okr", {"okr_id": "okr_b", "status": "committed", "area_id": "PA-2"})
    ledger.append("alert", {"alert_id": "okr_a", "message": "same id, another kind"})
    ledger.append("okr", {"okr_id": "okr_a", "status": "scored", "area_id": "PA-1"})
    ledger.append("okr", {"okr_id": "okr_c", "status": "committed", "area_id": "PA-3"})
    found = records_of(ledger, "okr", ["okr_a", "okr_b"])
    assert [(r.record_id, r.fields["status"]) for r in found] == [
        ("okr_a", "committed"),
        ("okr_b", "committed"),
        ("okr_a", "scored"),
    ]
    assert [r.seq for r in found] == sorted(r.seq for r in found)
    assert records_of(ledger, "okr", []) == []
    newest = latest_entities(ledger, "okr", limit=5, equals={"area_id": "PA-1"})
    assert [(row.record.record_id, row.record.fields["status"]) for row in newest] == [
        ("okr_a", "scored")
    ]
