"""tailguard: governed operations agents for a field-service network."""

from tailguard.clock import Clock, FakeClock, SystemClock
from tailguard.errors import TailguardError

__all__ = ["Clock", "FakeClock", "SystemClock", "TailguardError"]
__version__ = "0.1.0"
