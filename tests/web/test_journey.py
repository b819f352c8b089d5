"""The main journey on the local platform (tests/web/journey.py says what it proves)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser

from tests.web.journey import DWELL_SECONDS, run_journey
from tests.web.stack import Account, LocalPlatform


def test_presenter_sees_what_the_viewer_did(
    browser: Browser,
    platform: LocalPlatform,
    presenter: Account,
    viewer: Account,
    deck_pdf: bytes,
    screenshots_dir: Path,
) -> None:
    result = run_journey(browser, platform.base_url, presenter, viewer, deck_pdf, screenshots_dir)
    measured = [slide["dwell_mean_seconds"] for slide in result.analytics["slides"][: len(DWELL_SECONDS)]]
    print(
        f"journey: {result.seconds:.1f} s; dwell intended {DWELL_SECONDS}, spent "
        f"{tuple(round(value, 3) for value in result.dwell_spent)} (between the browser's sends), "
        f"measured by the API {tuple(round(value, 3) for value in measured)}; "
        f"upload progress seen {result.progress_seen}"
    )
    assert all(path.stat().st_size > 0 for path in result.screenshots)
