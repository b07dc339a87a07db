"""Run the real service for the browser tests:
``python serve_app.py LEDGER PULSE PORT SIDE_EFFECTS [APPROVAL_POLICIES]``.

The service gets the seed's tool registry (so approved gates can resume here) and the scripted
chat model; everything else is ``create_app`` as ``tailguard serve`` builds it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests._timetravel import start_clock_travel
from tests.browser.seed import make_registry

from tailguard.service import ServiceSettings, create_app


def main() -> None:
    """Serve on 127.0.0.1 until killed."""
    start_clock_travel()  # the same date as the test session (TAILGUARD_TEST_CLOCK_AHEAD_DAYS)
    ledger, pulse, port, side_effects = sys.argv[1:5]
    policies = Path(sys.argv[5]) if len(sys.argv) > 5 else None
    settings = ServiceSettings(
        ledger_url=ledger,
        pulse_url=pulse,
        registry=make_registry(Path(side_effects)),
        secret_key="browser-tests-secret",
        approval_policies=policies,
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=int(port), log_level="warning")


if __name__ == "__main__":
    main()
