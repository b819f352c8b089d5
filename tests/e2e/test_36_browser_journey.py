"""The browser journey of tests/web, in Debian's Chromium, through the proxy of the deployed stack.

The same function as `make test` runs against the local servers (tests/web/journey.py): a presenter uploads
a generated PDF, a viewer watches it with known dwell times and leaves by pagehide, the presenter's charts
and tables show the API's numbers, which match the dwell within 10 %; no CSP violation, no console error,
no serious or critical axe finding. Here every request goes through nginx to the web and backend tasks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e import api
from tests.e2e.conftest import Accounts, Platform
from tests.e2e.summary import Summary, verify
from tests.web.browser import axe_unavailable, chromium_unavailable, launch
from tests.web.journey import DWELL_SECONDS, journey_pdf, run_journey
from tests.web.stack import Account

LOGIN_WINDOW = 61.0  # seconds: sign-ins are 5 a minute per address, and every e2e client shares one
SCREENSHOTS = Path("var/screenshots/e2e")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = chromium_unavailable() or axe_unavailable()
    if reason:
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def _account(platform: Platform, accounts: Accounts, role: str) -> Account:
    with platform.edge.client() as client:
        user_id, email, password = api.create_user(client, accounts.admin, role)
    return Account(email=email, password=password, role=role, id=user_id)


def test_browser_journey_through_the_proxy(
    browser: Browser, platform: Platform, accounts: Accounts, summary: Summary
) -> None:
    presenter = _account(platform, accounts, "presenter")
    viewer = _account(platform, accounts, "viewer")
    recent = [t for t in platform.login_times if time.monotonic() - t < LOGIN_WINDOW]
    if len(recent) > 3:  # the journey signs in twice
        time.sleep(max(0.0, LOGIN_WINDOW - (time.monotonic() - recent[0])))
    try:
        result = run_journey(
            browser,
            platform.edge.url,
            presenter,
            viewer,
            journey_pdf(),
            SCREENSHOTS,
            ignore_https_errors=True,
        )
    finally:
        # Recorded once the journey is over: its sign-ins happen during it, and the rate-limit check that
        # comes later waits out the window from the last one it knows.
        platform.login_times.extend([time.monotonic()] * 2)
    measured = [slide["dwell_mean_seconds"] for slide in result.analytics["slides"][: len(DWELL_SECONDS)]]
    verify(
        summary,
        "browser journey through the proxy: charts = API, dwell within 10 %, no CSP/console/axe finding",
        all(path.stat().st_size > 0 for path in result.screenshots),
        f"{result.seconds:.1f} s; dwell intended {DWELL_SECONDS}, API "
        f"{tuple(round(value, 2) for value in measured)}; "
        f"screenshots {', '.join(map(str, result.screenshots))}",
    )
