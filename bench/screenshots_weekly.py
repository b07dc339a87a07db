"""Screenshots of a diagnostic pack and an OKR one-pager in headless Chromium.

Usage: .venv/bin/python bench/screenshots_weekly.py WEEK_OUT_DIR [AREA_ID]
Writes docs/screenshots/weekly-pack.png, weekly-pack-figure.png and weekly-okr.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from tailguard.weekly.pdf import find_chromium


def main() -> None:
    """Open the pages of one area and save full-width screenshots."""
    out = Path(sys.argv[1])
    area = (
        sys.argv[2] if len(sys.argv) > 2 else sorted(p.name for p in out.iterdir() if p.is_dir())[0]
    )
    shots = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    exe = find_chromium()
    if exe is None:
        raise SystemExit("no chromium to take screenshots with")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        page.goto((out / area / "pack.html").as_uri())
        page.screenshot(path=str(shots / "weekly-pack.png"), full_page=False)
        page.locator(".figure").screenshot(path=str(shots / "weekly-pack-figure.png"))
        page.goto((out / area / "okr.html").as_uri())
        page.screenshot(path=str(shots / "weekly-okr.png"), full_page=True)
        page.goto((out / "index.html").as_uri())
        page.screenshot(path=str(shots / "weekly-index.png"), full_page=False)
        browser.close()
    print(f"screenshots of {area} in {shots}")


if __name__ == "__main__":
    main()
