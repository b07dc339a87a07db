"""The run ledger: append-only, hash-chained records of runs, steps, gates and outcomes.

>>> from tailguard.ledger import Ledger
>>> ledger = Ledger.open("sqlite:///ledger.db")  # or "postgresql://..."
"""

from __future__ import annotations

from tailguard.ledger._backend import parse_url
from tailguard.ledger._canonical import GENESIS_HASH, canonical_json, record_hash
from tailguard.ledger.kinds import KIND_SPECS, check_record, id_field
from tailguard.ledger.store import Ledger, LedgerRecord
from tailguard.ledger.transaction import LedgerTransaction
from tailguard.ledger.verify import VerifyReport

__all__ = [
    "GENESIS_HASH",
    "KIND_SPECS",
    "Ledger",
    "LedgerRecord",
    "LedgerTransaction",
    "VerifyReport",
    "canonical_json",
    "check_record",
    "id_field",
    "parse_url",
    "record_hash",
]
