"""Named crash points, for tests that kill a process at an exact moment.

A crash test sets ``TAILGUARD_CRASH_AT=<name>`` in a child process's environment; when the
child reaches :func:`crash_point` with that name it kills itself with SIGKILL, as ``kill -9``
or a power cut would (no ``finally`` blocks, no atexit handlers, no flushed buffers). Without
the variable a crash point costs one dictionary lookup.

Crash points:
    ``approval_committed``: an approval is committed and the approved call not yet claimed
        (:meth:`tailguard.control.ControlPlane.resume` and ``resume_batch``).
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "TAILGUARD_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here with SIGKILL when ``TAILGUARD_CRASH_AT`` names this point."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
