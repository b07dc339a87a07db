"""Screenshots of every dashboard page, taken from the real service with Debian's Chromium.

Run from the repository root: ``.venv/bin/python docs/screenshots/take.py [NAME ...]`` (names:
only those screenshots, e.g. ``approvals``; none: all). It seeds a
temporary ledger and pulse store exactly as the browser tests do (``tests/browser/seed.py``),
starts the service on a loopback port, signs in, and writes ``docs/screenshots/<page>.png``.
The pages only a run of the agents fills (policy versions, gamification, the compendium, the
demo's report) are taken over a small ``tailguard demo``'s ledger, served as the demo's printed
commands say (a few minutes).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from tests.browser.seed import seed  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ONLY = frozenset(sys.argv[1:])


def _shot(page: Page, name: str, *, full: bool = True) -> None:
    if ONLY and name not in ONLY:
        return
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    # 256 colours: a dashboard has few, and the repository keeps every version of each file.
    with Image.open(path) as shot:
        small = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    print(f"docs/screenshots/{name}.png  {page.url}")


def _wait_healthy(base: str) -> None:
    for _ in range(150):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)


def _signin_shot(page: Page) -> None:
    _shot(page, "signin", full=False)


def _signed_in(
    pw: Playwright, base: str, key: str, *, before: Callable[[Page], None] | None = None
) -> tuple[Browser, Page]:
    """Chromium on the service at ``base``, signed in with ``key`` (``before`` sees the
    sign-in page first), on the approvals inbox."""
    browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    ctx = browser.new_context(base_url=base, viewport={"width": 1360, "height": 860})
    page = ctx.new_page()
    page.goto("/signin")
    if before is not None:
        before(page)
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    page.wait_for_url("**/approvals")
    return browser, page


def main() -> None:
    """Seed, serve, sign in, and photograph each page."""
    with tempfile.TemporaryDirectory() as tmp:
        ledger = f"sqlite:///{tmp}/ledger.db"
        pulse = f"{tmp}/pulse.db"
        seeded = seed(ledger, pulse, n_areas=400)
        port = _port()
        server = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests/browser/serve_app.py"),
                ledger,
                pulse,
                str(port),
                f"{tmp}/effects.jsonl",
            ]
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base)
            with sync_playwright() as pw:
                browser, page = _signed_in(pw, base, seeded.keys["alice"], before=_signin_shot)
                _shot(page, "approvals")
                for path, name in (
                    ("/runs", "runs"),
                    (f"/runs/{seeded.runs['area']}", "run"),
                    ("/costs?days=14", "costs"),
                    ("/audit", "audit"),
                    ("/quality", "quality"),
                    ("/network", "network"),
                    ("/network/PA-0007", "area"),
                    ("/chat", "chat_index"),
                    ("/ops", "ops"),
                ):
                    page.goto(path)
                    _shot(page, name)
                page.goto("/chat/recruiter")
                page.fill(
                    "input[name=message]", "Show my pipeline and update John to interview stage"
                )
                page.click("button:has-text('Send')")
                page.fill(
                    "input[name=message]", 'Message John saying "Are you free for a call at 10?"'
                )
                page.click("button:has-text('Send')")
                page.get_by_test_id("chat-approval-card").wait_for()
                _shot(page, "chat_approval")
                page.get_by_test_id("chat-approval-card").locator("input[name=reason]").fill("ok")
                page.get_by_test_id("chat-approval-card").get_by_role(
                    "button", name="Approve"
                ).click()
                page.wait_for_url("**/chat/recruiter?conversation=*")
                _shot(page, "chat_resumed")
                viewer = browser.new_context(base_url=base, viewport={"width": 1360, "height": 860})
                vpage = viewer.new_page()
                vpage.goto("/signin")
                vpage.fill("#api_key", seeded.keys["victor"])
                vpage.click("button[type=submit]")
                vpage.wait_for_url("**/approvals")
                token = vpage.locator("header .me input[name=csrf]").get_attribute("value") or ""
                vpage.set_content("<p>posting</p>")
                response = vpage.request.post(
                    f"/approvals/{seeded.gates['area']}",
                    form={"decision": "approve", "csrf": token},
                )
                vpage.goto("/approvals")
                vpage.set_content(response.text())
                vpage.add_style_tag(path=str(ROOT / "src/tailguard/service/web/static/web.css"))
                _shot(vpage, "forbidden_viewer", full=False)
                browser.close()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)


#: The pages whose data only a run of the agents makes (policy versions, the gamification
#: programme, the compendium's cards, the demo's report), taken over a small demo's ledger.
DEMO_PAGES = (
    ("/learning", "learning"),
    ("/gamification", "gamification"),
    ("/compendium", "compendium"),
    ("/coaches", "coaches"),
    ("/runs", "demo-runs"),
)
DEMO = ["--areas", "6", "--weeks", "2", "--warmup-days", "2", "--seed", "7"]


def demo_pages() -> None:
    """Run a small demo (gamification on), then the commands it prints: a key and
    ``tailguard serve`` over its ledger; photograph the pages and the demo's report."""
    wanted = {name for _, name in DEMO_PAGES} | {"demo-report"}
    if ONLY and not (ONLY & wanted):
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        tg = [sys.executable, "-m", "tailguard"]
        subprocess.run([*tg, "demo", *DEMO, "--gamification", "on", "--out", str(out)], check=True)
        db = f"sqlite:///{out / 'ledger.db'}"
        made = subprocess.run(
            [*tg, "keys", "create", "--name", "shots", "--role", "admin", "--db", db],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        key = next(w for w in made.split() if w.startswith("tg_"))
        port = _port()
        server = subprocess.Popen([*tg, "serve", "--db", db, "--port", str(port)])
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base)
            with sync_playwright() as pw:
                browser, page = _signed_in(pw, base, key)
                for path, name in DEMO_PAGES:
                    page.goto(path)
                    _shot(page, name)
                report = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                report.goto((out / "report.html").as_uri())
                _shot(report, "demo-report")
                browser.close()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
    demo_pages()
