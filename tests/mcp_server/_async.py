"""Run the tests' async MCP client code on a thread of its own.

A test module elsewhere in the run may leave an event loop set as running in the main thread
(the sync Playwright API does so while its driver is alive); ``anyio.run`` there would fail.
A fresh thread has no loop, so these tests do not depend on what ran before them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio

T = TypeVar("T")


def run_async(func: Callable[..., Awaitable[T]], *args: object) -> T:
    """``anyio.run(func, *args)`` on a new thread; returns its result or raises its error."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcp-client") as pool:
        return pool.submit(anyio.run, func, *args).result()
