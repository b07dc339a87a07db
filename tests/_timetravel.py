"""Move the real clock ahead for a whole test session, so no test depends on today's date.

CI runs the suite twice: once on the real clock and once with ``--clock-ahead-days 365`` (or
``TAILGUARD_TEST_CLOCK_AHEAD_DAYS=365``; ``make test-future``). time-machine shifts
``datetime.now``, ``time.time`` and friends while letting time run on (``tick=True``).

Every Python process of the session must agree on the date: a gate presented by a worker
process and decided by the test process would otherwise look timed out. So the first process
that travels also puts a ``sitecustomize.py`` on the ``PYTHONPATH`` its subprocesses inherit
(the xdist workers, the browser tests' service, ``python -m tailguard ...`` runs, the MCP stdio
server, the kill -9 workers); it makes each of them travel by the same offset as it starts.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ENV = "TAILGUARD_TEST_CLOCK_AHEAD_DAYS"
_MARK = "_tailguard_clock_travel"  # set on ``sys``: per process, never inherited
_travel: Any = None

_SITECUSTOMIZE = f'''"""Written by tests/_timetravel.py: this process travels with the test session."""
import os
import sys

_days = int(os.environ.get("{ENV}", "0") or 0)
if _days and not getattr(sys, "{_MARK}", None):
    try:
        import datetime
        import time_machine
    except ImportError:  # a Python without time-machine: leave its clock alone
        pass
    else:
        _to = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=_days)
        time_machine.travel(_to, tick=True).start()
        setattr(sys, "{_MARK}", _days)
'''


def start_clock_travel(days: int | None = None) -> None:
    """Shift the clock ``days`` ahead (default: from the environment); 0 leaves it alone."""
    global _travel
    if days is None:
        days = int(os.environ.get(ENV, "0") or 0)
    if not days or getattr(sys, _MARK, None):
        return  # not asked, or this process already travels (its sitecustomize did it)
    import time_machine

    _travel = time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True)
    _travel.start()
    setattr(sys, _MARK, days)
    os.environ[ENV] = str(days)
    site = Path(tempfile.mkdtemp(prefix="tailguard-clock-"))
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(site) + (os.pathsep + previous if previous else "")


def stop_clock_travel() -> None:
    """Put the real clock back."""
    global _travel
    if _travel is not None:
        _travel.stop()
        _travel = None
        if hasattr(sys, _MARK):
            delattr(sys, _MARK)
