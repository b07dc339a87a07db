"""A small simulated network written the way the demo writes it: ledger, pulse.db, weeks/."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tailguard.events import EventWriter
from tailguard.ledger import Ledger
from tailguard.metrics import ScorecardEngine
from tailguard.pulse import PulseStore
from tailguard.sim import NetworkConfig, Simulator
from tailguard.weekly import UnitMoney, snapshot_week


def build_network(
    out: Path,
    *,
    areas: int = 3,
    weeks: int = 2,
    seed: int = 3,
    mean_techs: float = 30.0,
    pulse_every_h: int = 6,
    events_file: Path | None = None,
) -> list[datetime]:
    """Simulate ``weeks`` weeks hour by hour: scorecard engine, pulse rows every few hours,
    a snapshot at each week's end (with exact GP per unit); returns the week ends."""
    out.mkdir(parents=True, exist_ok=True)
    sim = Simulator(NetworkConfig(areas=areas, seed=seed, mean_techs=mean_techs))
    engine = ScorecardEngine(7)
    money = UnitMoney()
    Ledger.open(f"sqlite:///{out / 'ledger.db'}").close()
    writer = EventWriter(events_file) if events_file is not None else None
    ends: list[datetime] = []
    try:
        with PulseStore.open(f"sqlite:///{out / 'pulse.db'}") as pulse:
            for h in range(weeks * 7 * 24):
                batch = sim.step()
                if writer is not None:
                    writer.write(batch)
                engine.ingest(batch)
                money.ingest(batch)
                now = sim.now
                if (h + 1) % pulse_every_h == 0:
                    pulse.write(now, engine.scorecard(now))
                if (h + 1) % (7 * 24) == 0:
                    snapshot_week(engine, now, out, money=money)
                    ends.append(now)
    finally:
        if writer is not None:
            writer.close()
    return ends
