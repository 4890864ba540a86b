"""Fixtures for browser tests: Debian's Chromium driven by Playwright, and the app served for real.

chromium (session)   headless Chromium launched from /usr/bin/chromium (never downloaded);
                     skips when it is missing, fails instead when CI=true
context              a fresh browser context per test (cookies, storage, time zone)
page                 a page in that context
live_site            the app on a migrated SQLite file with the demo data (webinars and content
                     items), served by werkzeug in a thread on a free port, BASE_URL pointing at it, and a mail worker
                     thread delivering the outbox to the `smtp_server` fixture
shot(page, name)     saves a screenshot in tests/artifacts/screenshots/ (git-ignored), and also
                     in $WEBINARS_SCREENSHOTS_DIR when set (e.g. docs/screenshots)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._support.live_server import LiveServer, MailWorkerThread
from tests._support.smtp import SMTPTestServer

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("WEBINARS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = ROOT / "tests" / "artifacts" / "screenshots"
VIEWPORT = {"width": 1024, "height": 800}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f"browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # pragma: no cover - the test extra installs it
        _unavailable(f"the playwright package is not installed ({error})")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def chromium(_playwright):
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"{CHROMIUM} not found; install Debian's chromium (scripts/ensure-system-deps does it as root)")
    browser = _playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def context(chromium):
    context = chromium.new_context(viewport=VIEWPORT, locale="en-GB", timezone_id="Europe/London")
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context):
    return context.new_page()


@dataclass
class LiveSite:
    url: str
    app: object
    smtp: SMTPTestServer

    def link(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def live_site(sqlite_app, smtp_server: SMTPTestServer) -> Iterator[LiveSite]:
    from webinars.catalogue.demo import load_demo_data
    from webinars.content.demo import load_demo_content

    server = LiveServer(sqlite_app)
    sqlite_app.config.update(TESTING=False, BASE_URL=server.url)
    with sqlite_app.app_context():
        load_demo_data()
        load_demo_content()
    server.start()
    worker = MailWorkerThread(sqlite_app).start()
    try:
        yield LiveSite(server.url, sqlite_app, smtp_server)
    finally:
        server.stop()
        worker.stop()


@pytest.fixture
def shot():
    """shot(page, name): a PNG of the viewport, kept small enough to commit (< 300 KB)."""
    extra = os.environ.get("WEBINARS_SCREENSHOTS_DIR")

    def save(page, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        assert path.stat().st_size < 300_000, f"screenshot {name} is {path.stat().st_size} bytes"
        if extra:
            target = Path(extra) if Path(extra).is_absolute() else ROOT / extra
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / path.name)
        return path

    return save
