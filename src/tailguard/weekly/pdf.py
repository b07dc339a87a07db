"""HTML to PDF with headless Chromium: one browser per process, many pages.

Playwright drives the browser when it is installed (one launch, then about 0.1 s a page);
otherwise each page is printed by ``chromium --headless --print-to-pdf`` (a launch per
page, slower). The browser is ``$TAILGUARD_CHROMIUM`` or the first of ``chromium``,
``chromium-browser``, ``google-chrome`` on the PATH. Without one, printing raises
:class:`PdfUnavailableError` and only the PDF files are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from tailguard.errors import BackendUnavailableError

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class PdfUnavailableError(BackendUnavailableError):
    """No headless Chromium to print PDFs with."""

    code = "pdf_unavailable"


def find_chromium() -> str | None:
    """The Chromium executable to print with, or None."""
    env = os.environ.get("TAILGUARD_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class PdfPrinter:
    """Prints HTML documents to PDF files (A4, backgrounds on). Use as a context manager."""

    def __init__(self, executable: str | None = None) -> None:
        exe = executable or find_chromium()
        if exe is None:
            raise PdfUnavailableError(
                "no headless Chromium found for the PDF step (install the chromium package or "
                "set TAILGUARD_CHROMIUM); the HTML pages are written without PDFs"
            )
        self.executable = exe
        self._pw: Any = None
        self._browser: Any = None
        self._page: Any = None

    def __enter__(self) -> PdfPrinter:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            return self
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=self.executable, args=["--no-sandbox"]
            )
        except Exception as exc:
            self._pw.stop()
            self._pw = None
            raise PdfUnavailableError(f"cannot start {self.executable}: {exc}") from None
        self._page = self._browser.new_page()
        return self

    def print(self, html: str, target: Path) -> None:
        """Write ``html`` as a PDF to ``target``."""
        if self._page is not None:
            self._page.set_content(html, wait_until="load")
            self._page.pdf(
                path=str(target),
                format="A4",
                print_background=True,
                margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"},
            )
            return
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "page.html"
            src.write_text(html, encoding="utf-8")
            done = subprocess.run(
                [
                    self.executable,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-pdf-header-footer",
                    f"--print-to-pdf={target}",
                    src.as_uri(),
                ],
                capture_output=True,
                timeout=120,
                check=False,
            )
        if done.returncode != 0 or not target.is_file():
            raise PdfUnavailableError(
                f"{self.executable} could not print {target.name}: "
                f"{done.stderr.decode(errors='replace').strip()[-200:]}"
            )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._pw is not None:
            self._pw.stop()
        self._browser = self._pw = self._page = None
