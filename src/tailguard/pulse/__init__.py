"""The pulse table: latest KPIs per area plus hourly history (SQLite or Redis)."""

from tailguard.pulse.base import PulseStore

__all__ = ["PulseStore"]
