"""The viewer: every key the contract names moves through the deck; on a phone, real touch swipes and taps
do, the page fits the screen, and leaving shows the feedback form."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from playwright.sync_api import expect

from tests.web.browser import OpenContext, assert_accessible, swipe, tap
from tests.web.journey import SLIDE_SELECTOR, api_get, expect_slide, sign_in
from tests.web.stack import Account, LocalPlatform

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}


def test_phone_viewer_swipes_taps_and_leaves(
    open_context: OpenContext,
    platform: LocalPlatform,
    presenter: Account,
    viewer: Account,
    deck_pdf: bytes,
    screenshots_dir: Path,
) -> None:
    deck_id = platform.api.create_deck(presenter, [viewer], f"Phone deck {secrets.token_hex(3)}", deck_pdf)
    context, _ = open_context(**PHONE)
    page = context.new_page()
    token = sign_in(page, viewer)
    expect(page.get_by_role("heading", name="Decks", level=1)).to_be_visible()
    page.goto(f"/decks/{deck_id}")
    expect_slide(page, 1)

    swipe(page, SLIDE_SELECTOR, leftwards=True, touch=True)
    expect_slide(page, 2)
    swipe(page, SLIDE_SELECTOR, leftwards=True, touch=True)
    expect_slide(page, 3)
    swipe(page, SLIDE_SELECTOR, leftwards=False, touch=True)
    expect_slide(page, 2)
    # A tap after a swipe is a tap: the right half goes on. (Within about 300 ms of a swipe Chromium takes a
    # touch for stopping a fling and sends no click, as on a real phone; a person looks at the slide first.)
    box = page.locator(SLIDE_SELECTOR).bounding_box()
    assert box is not None
    time.sleep(0.6)
    tap(page, box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    expect_slide(page, 3)

    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is wider than the phone: {width}"
    for name in ("Previous slide", "Next slide", "Leave deck"):
        control = page.get_by_role("button", name=name).bounding_box()
        assert control is not None and control["x"] >= 0 and control["x"] + control["width"] <= 390, (
            name,
            control,
        )
    page.screenshot(path=str(screenshots_dir / "viewer-phone.png"))
    assert_accessible(page, "the viewer on a phone")

    session_id = page.get_by_role("region", name="Slide viewer").get_attribute("data-session-id")
    page.get_by_role("button", name="Leave deck").click()
    expect(page.get_by_role("status").filter(has_text="You have left this deck")).to_be_visible()
    expect(page.get_by_role("button", name="Send feedback")).to_be_visible()
    expect(page.get_by_role("button", name="Next slide")).to_be_disabled()
    ended = api_get(context, f"/sessions/{session_id}", token)
    assert ended["end_reason"] == "session_end" and ended["furthest_slide"] == 2, ended


def test_viewer_keys(
    open_context: OpenContext, platform: LocalPlatform, presenter: Account, viewer: Account, deck_pdf: bytes
) -> None:
    deck_id = platform.api.create_deck(presenter, [viewer], f"Keys deck {secrets.token_hex(3)}", deck_pdf)
    context, watch = open_context()
    # Seven moves in a second send seven batches, past the API's 10/s limit on a loaded machine: a 429 there
    # is answered by the reporter's retry with the same event ids (what the journey's numbers prove).
    watch.expect_status(429, r"/api/v1/sessions/[^/]+/events$")
    page = context.new_page()
    sign_in(page, viewer)
    expect(page.get_by_role("heading", name="Decks", level=1)).to_be_visible()
    page.goto(f"/decks/{deck_id}")
    expect_slide(page, 1)
    for key, number in (
        ("End", 4),
        ("Home", 1),
        ("PageDown", 2),
        ("Space", 3),
        ("ArrowLeft", 2),
        ("PageUp", 1),
        ("ArrowLeft", 1),  # nothing before the first
        ("ArrowRight", 2),
    ):
        page.keyboard.press(key)
        expect_slide(page, number)
    page.get_by_role("button", name="Next slide").click()
    expect_slide(page, 3)
    page.get_by_role("button", name="Previous slide").click()
    expect_slide(page, 2)
