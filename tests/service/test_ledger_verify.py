"""The service signs checkpoints of the ledger's head and verifies the ledger against them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tailguard.clock import FakeClock
from tailguard.ledger import GENESIS_HASH
from tailguard.ledger.checkpoint import CheckpointKey, read_checkpoints
from tailguard.service import ServiceSettings, create_app
from tailguard.service.settings import ServiceState


def test_the_service_checkpoints_and_reports_a_truncated_ledger(
    ledger_url: str, tmp_path: Path
) -> None:
    """A checkpoint at startup and once due; GET /v1/ledger/verify reports a ledger emptied
    behind the service's back (the chain alone still verifies)."""
    key = tmp_path / "key.pem"
    CheckpointKey.generate().save(key)
    file = tmp_path / "checkpoints.jsonl"
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    settings = ServiceSettings(
        ledger_url=ledger_url,
        pulse_url=str(tmp_path / "pulse.db"),
        clock=clock,
        checkpoint_key=key,
        checkpoint_file=file,
        checkpoint_every_s=600,
    )
    app = create_app(settings, optional_routers=False)
    state: ServiceState = app.state.tailguard
    admin = {"Authorization": f"Bearer {state.keys.create('root', 'admin')[1]}"}
    viewer = {"Authorization": f"Bearer {state.keys.create('vic', 'viewer')[1]}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        assert len(read_checkpoints(file)) == 1  # written by the startup sweep
        run = client.post("/v1/runs", json={"role": "ops"}, headers=admin)
        assert run.status_code == 201, run.text
        assert state.checkpointer is not None
        assert state.checkpointer.maybe_write() is None  # not due yet
        clock.advance(601)
        written = state.checkpointer.maybe_write()
        assert written is not None
        assert written.seq == state.ledger.head()[0] > 0
        ok = client.get("/v1/ledger/verify", headers=admin)
        assert ok.status_code == 200, ok.text
        assert (ok.json()["ok"], ok.json()["checkpoints"]) == (True, 2)
        assert client.get("/v1/ledger/verify", headers=viewer).status_code == 403
        with state.ledger.engine.begin() as conn:
            if state.ledger.backend.name == "sqlite":
                conn.exec_driver_sql("DROP TRIGGER IF EXISTS tailguard_ledger_no_delete")
            else:
                conn.exec_driver_sql("ALTER TABLE tailguard_ledger DISABLE TRIGGER USER")
            conn.execute(sa.text("DELETE FROM tailguard_ledger"))
            conn.execute(
                sa.text("UPDATE tailguard_ledger_head SET seq = 0, hash = :h"), {"h": GENESIS_HASH}
            )
        assert state.ledger.verify().ok
        bad = client.get("/v1/ledger/verify", headers=admin).json()
        assert (bad["ok"], bad["problem"]) == (False, "shorter_than_checkpoint")
