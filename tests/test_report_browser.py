"""The report of a real quick run, opened from disk in headless Chromium.

Needs Debian's ``chromium`` (installed by ``.ci/run``) and Playwright's Python package; skips
with a message saying which is missing. A full-page screenshot is saved as ``report.png``
next to the report.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_report import FIXTURE, SCRIPT, run_with, set_status

from reporting.html import write_report
from reporting.verdicts import CLAIMS
from runfile import Run, load

CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium: install Debian's chromium package (.ci/run does) "
    "to run the browser test")]
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="Playwright's Python package is not installed")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@dataclass
class Opened:
    """A report open in a page, and what the page reported while loading it."""

    page: sync_api.Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_report(browser: sync_api.Browser, run: Run, out: Path) -> Opened:
    """Write the report of ``run`` to ``out`` and load it, listening to everything."""
    write_report([run], None, out)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    opened = Opened(page)
    page.on("console", lambda m: m.type == "error" and opened.errors.append(m.text))
    page.on("pageerror", lambda err: opened.errors.append(str(err)))
    page.on("request", lambda r: r.url.startswith(("file://", "data:"))
            or opened.requests.append(r.url))
    page.on("dialog", lambda d: (opened.dialogs.append(d.message), d.dismiss()))
    page.goto(out.as_uri(), wait_until="load")
    return opened


def test_report_of_a_quick_run_renders(browser: sync_api.Browser, tmp_path: Path) -> None:
    opened = open_report(browser, load(FIXTURE), tmp_path / "report.html")
    page = opened.page
    graphics = page.locator("img, svg")
    assert graphics.count() > 0
    for index in range(graphics.count()):
        box = graphics.nth(index).bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, f"graphic {index} has no size"
    assert page.locator("#verdicts tbody tr").count() == len(CLAIMS)
    assert opened.errors == [] and opened.requests == []
    screenshot = tmp_path / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0
    page.close()


def test_a_script_in_a_reason_shows_as_text(browser: sync_api.Browser, tmp_path: Path) -> None:
    run = run_with(tmp_path, set_status("quote", "records", "failed", SCRIPT))
    opened = open_report(browser, run, tmp_path / "report.html")
    assert SCRIPT in opened.page.locator("#problems").inner_text()
    assert opened.page.locator("script").count() == 0
    assert opened.dialogs == [] and opened.errors == []
    opened.page.close()
