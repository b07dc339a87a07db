"""The real service on a loopback port over a seeded SQLite ledger, and Debian's Chromium.

The service runs in its own process (``serve_app.py``, uvicorn) so the browser talks HTTP to
exactly what ``tailguard serve`` runs. Playwright drives ``/usr/bin/chromium``; it never
downloads a browser. A missing Chromium fails these tests (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tailguard.control import ControlPlane
from tailguard.ledger import Ledger
from tailguard.service.auth import KeyStore

from .seed import Seeded, make_registry, seed

CHROMIUM = os.environ.get("TAILGUARD_CHROMIUM", "/usr/bin/chromium")
HERE = Path(__file__).parent


@dataclass
class LiveService:
    """A running service: where it listens, what was seeded, and its database files."""

    base_url: str
    seeded: Seeded
    ledger_url: str
    side_effects: Path
    log: Path

    def url(self, path: str) -> str:
        """The absolute URL of ``path``."""
        return self.base_url + path

    def effects(self) -> list[dict[str, Any]]:
        """Every side effect the service's gated tools performed."""
        if not self.side_effects.exists():
            return []
        return [json.loads(line) for line in self.side_effects.read_text().splitlines()]

    def gate(self, gate_id: str) -> Any:
        """The gate as the control plane stores it (read from the test process)."""
        with Ledger.open(self.ledger_url) as ledger:
            plane = ControlPlane(make_registry(), ledger, approvers=KeyStore(ledger.engine))
            return plane.gates.get(gate_id)

    def new_gate(self, who: str, account: str) -> str:
        """Open a new pending gate (as an agent would, from another process)."""
        with Ledger.open(self.ledger_url) as ledger:
            plane = ControlPlane(make_registry(), ledger, approvers=KeyStore(ledger.engine))
            run = plane.start_run("ops", who, f"close_account for {account}")
            result = plane.execute(run, "close_account", {"account_id": account})
            assert result.gate_id is not None, result
            return result.gate_id

    def new_flag(self, who: str, account: str) -> tuple[str, str]:
        """Run an executed, reversible flag_account call (from another process): (run, step)."""
        with Ledger.open(self.ledger_url) as ledger:
            plane = ControlPlane(make_registry(), ledger, approvers=KeyStore(ledger.engine))
            run = plane.start_run("ops", who, f"flag {account} for review")
            result = plane.execute(run, "flag_account", {"account_id": account})
            assert result.ok, result
            return run.run_id, result.step_id

    def new_credit_gate(self, who: str, customer: str, amount: float) -> str:
        """Open a pending apology_credit gate (money: the inbox shows and filters its amount)."""
        with Ledger.open(self.ledger_url) as ledger:
            plane = ControlPlane(make_registry(), ledger, approvers=KeyStore(ledger.engine))
            run = plane.start_run("cx", who, f"apology for {customer}")
            args = {"customer_id": customer, "amount_usd": amount, "message": "Sorry"}
            result = plane.execute(run, "apology_credit", args)
            assert result.gate_id is not None, result
            return result.gate_id


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """The service on loopback over a freshly seeded ledger and pulse store."""
    with live_service(tmp_path_factory.mktemp("web")) as live:
        yield live


@contextmanager
def live_service(
    root: Path,
    prepare: Callable[[str], None] | None = None,
    *,
    approval_policies: Path | None = None,
) -> Iterator[LiveService]:
    """Seed a ledger and pulse store in ``root``, let ``prepare(ledger_url)`` add to them,
    then run the service over them (with ``approval_policies``, if given) until the block
    ends."""
    ledger_url = f"sqlite:///{root / 'ledger.db'}"
    pulse = str(root / "pulse.db")
    seeded = seed(ledger_url, pulse)
    if prepare is not None:
        prepare(ledger_url)
    port = _free_port()
    log = root / "server.log"
    effects = root / "effects.jsonl"
    command = [sys.executable, str(HERE / "serve_app.py"), ledger_url, pulse, str(port)]
    command.append(str(effects))
    if approval_policies is not None:
        command.append(str(approval_policies))
    with serving(command, port, log) as base:
        yield LiveService(
            base_url=base, seeded=seeded, ledger_url=ledger_url, side_effects=effects, log=log
        )


@contextmanager
def serving(command: list[str], port: int, log: Path) -> Iterator[str]:
    """Run ``command`` (a service listening on ``port``) with its output in ``log``; yield
    its base URL once ``/healthz`` answers; stop it (SIGTERM, then kill) when the block ends.
    A service that exits or does not answer within 60 s fails the test with its log."""
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the service did not start:\n{log.read_text()}", pytrace=False)
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Package scope, not session: while the sync API's driver runs, its event loop stays set as
# the main thread's running loop (even between calls), so asyncio.run/anyio.run in any later
# test would fail. Stopping it when the last browser test is done leaves the thread clean.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """The Playwright driver, stopped after the last test of this package."""
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless; missing Chromium is a failure, never a skip."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium "
            "(.ci/run does this when it is missing)",
            pytrace=False,
        )
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def context(browser: Browser, service: LiveService) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) per test."""
    ctx = browser.new_context(base_url=service.base_url, viewport={"width": 1360, "height": 900})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page in the fresh profile."""
    return context.new_page()


def sign_in(page: Page, service: LiveService, who: str, then: str = "/approvals") -> None:
    """Sign in through the form as ``who`` and land on ``then``."""
    page.goto(f"/signin?next={then}")
    page.fill("#api_key", service.seeded.keys[who])
    page.click("button[type=submit]")
    page.wait_for_url(f"**{then}")
