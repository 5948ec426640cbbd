"""Browser tests: Playwright for Python driving an installed Chromium, headless.

Playwright is never asked to download a browser (``playwright install`` needs a host this course
does not assume): the tests find a Chromium installed by the system's package manager, or the one
``GANCOURSE_CHROMIUM`` names, and skip with one sentence on how to install one when there is none.
Every test here is marked ``browser``; ``make test-fast`` leaves them out.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sitecheck import load_site_build

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "_build" / "screenshots"
INSTALL_HINT = ("no Chromium found: install one with your system's package manager (Debian/Ubuntu: "
                "`sudo apt-get install chromium`, macOS: `brew install --cask chromium`) or point "
                "GANCOURSE_CHROMIUM at a Chromium or Chrome executable.")
# As root (CI, containers) Chromium needs --no-sandbox; the rest keeps a headless browser from
# reaching for Google's services, which a machine without network refuses noisily.
MACOS_APPS = ("/Applications/Chromium.app/Contents/MacOS/Chromium",
              "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def find_chromium() -> str | None:
    """The Chromium to drive: ``$GANCOURSE_CHROMIUM``, else the first of the usual names on PATH."""
    named = os.environ.get("GANCOURSE_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    for app in MACOS_APPS:
        if Path(app).is_file():
            return app
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(INSTALL_HINT)
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip's playwright is missing: "
                                         "`pip install -e .[dev]` installs it (the browser comes from the system)")
    with playwright_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="session")
def site():
    """The course site, built (offline, incrementally) from the notebooks as they are now."""
    site_build = load_site_build()
    if not site_build.vendored():
        if shutil.which("npm") is None:
            pytest.skip(site_build.NO_NPM)
        pytest.fail("the site's MathJax and widget scripts are not vendored: run `make site-vendor` first "
                    "(make test does it; it needs the npm registry once).")
    site_build.html(offline=True)
    return site_build
