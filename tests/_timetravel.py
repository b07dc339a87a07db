"""Move the real clock ahead for a whole test session, so no test depends on today's date.

CI runs the suite twice: once on the real clock and once with ``--clock-ahead-days 365`` (or
``TAILGUARD_TEST_CLOCK_AHEAD_DAYS=365``). time-machine shifts ``datetime.now``, ``time.time``
and friends in this process while letting time run on (``tick=True``); subprocesses the tests
start (the browser tests' server, CLI runs) call :func:`start_clock_travel` themselves from the
same environment variable, so every process of the session agrees on the date.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

ENV = "TAILGUARD_TEST_CLOCK_AHEAD_DAYS"
_travel: Any = None


def start_clock_travel(days: int | None = None) -> None:
    """Shift the clock ``days`` ahead (default: from the environment); 0 leaves it alone."""
    global _travel
    if days is None:
        days = int(os.environ.get(ENV, "0") or 0)
    if not days or _travel is not None:
        return
    import time_machine

    os.environ[ENV] = str(days)  # inherited by the subprocesses the tests start
    _travel = time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True)
    _travel.start()


def stop_clock_travel() -> None:
    """Put the real clock back."""
    global _travel
    if _travel is not None:
        _travel.stop()
        _travel = None
