"""Fixtures for the browser tests: one local platform and one Chromium per session, fresh users per test.

Every browser context a test opens through `open_context` is watched (tests/web/browser.py) and checked
when the test ends: a CSP violation, a console or page error, or a failed same-origin request fails it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from tests.web.browser import (
    OpenContext,
    Watch,
    axe_unavailable,
    chromium_unavailable,
    launch,
    watched_context,
)
from tests.web.journey import journey_pdf
from tests.web.stack import ROOT, Account, LocalPlatform, local_platform, unavailable

SCREENSHOTS = ROOT / "var" / "screenshots"


def _require(reason: str | None) -> None:
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    _require(unavailable())
    with local_platform(tmp_path_factory.mktemp("web")) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    _require(chromium_unavailable() or axe_unavailable())
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def _fresh_rate_limits(platform: LocalPlatform) -> None:
    platform.forget_rate_limits()


@pytest.fixture
def open_context(browser: Browser, platform: LocalPlatform) -> Iterator[OpenContext]:
    """New watched browser contexts on the platform; each must be clean when the test ends."""
    opened: list[tuple[BrowserContext, Watch]] = []

    def open_one(**options: Any) -> tuple[BrowserContext, Watch]:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        pair = watched_context(browser, platform.base_url, **options)
        opened.append(pair)
        return pair

    yield open_one
    for _, watch in opened:
        for line in watch.aborted_requests:  # shown with the test's output (-rA, or when it fails)
            print(f"aborted by the page or a navigation (not counted as a failure): {line}")
    problems = [problem for _, watch in opened for problem in watch.problems()]
    for context, _ in opened:
        context.close()
    assert not problems, "the browser saw problems:\n" + "\n".join(problems)


@pytest.fixture
def presenter(platform: LocalPlatform) -> Account:
    return platform.api.create_user("presenter", "presenter")


@pytest.fixture
def viewer(platform: LocalPlatform) -> Account:
    return platform.api.create_user("viewer", "viewer")


@pytest.fixture(scope="session")
def deck_pdf() -> bytes:
    return journey_pdf()


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
