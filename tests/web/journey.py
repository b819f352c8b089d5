"""The product's main journey in a real browser, reusable against any origin that serves the frontend and the
API together: the local platform (tests/web) or the deployed stack behind its TLS proxy (tests/e2e).

A presenter signs in and makes a deck from a PDF for one named viewer, watching the upload's progress; the
viewer, in a browser context of their own, opens it from their list and stays known times on three slides
(moving on by keyboard, by a click and by a swipe), gives feedback and leaves (pagehide, so the rest of the
events goes by sendBeacon). The presenter's analytics page must then show exactly the numbers the API gives
the presenter, and those must match the known dwell times within 10 %.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response, expect

from tests.app import pdfs
from tests.web.browser import Watch, assert_accessible, swipe, watched_context
from tests.web.stack import API, Account

SLIDE_TITLES = ("Welcome", "Where we are", "What we change", "Next steps")
# Seconds on slides 1 to 3; each is left another way (keyboard, click, swipe). The fourth is the last.
DWELL_SECONDS = (3.0, 1.5, 4.5)
DWELL_TOLERANCE = 0.10
RATING = 4
DESKTOP = {"width": 1280, "height": 800}
UPLOAD_SECONDS = 2.0  # the upload is throttled to last about this long, so its progress can be seen
EVENTS = re.compile(r"/api/v1/sessions/[^/]+/events$")
SLIDE_SELECTOR = "section.viewer .slide"
NO_VALUE = "\N{EN DASH}"  # what the page shows for a number it does not have


@dataclass(frozen=True)
class JourneyResult:
    presentation_id: str
    session_id: str
    analytics: dict[str, Any]
    dwell_spent: list[float]  # between the browser's sends of the events batches, per slide
    progress_seen: list[int]
    screenshots: list[Path]
    seconds: float


def journey_pdf() -> bytes:
    return pdfs.illustrated(SLIDE_TITLES)


def to_fixed(value: float, digits: int = 1) -> str:
    """JavaScript's Number.prototype.toFixed (ties away from zero on the exact binary value)."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def sign_in(page: Page, account: Account, *, path: str | None = "/signin") -> str:
    """Through the sign-in form (at `path`, or the page already there when None); the access token the page
    got, which the API checks then use."""
    if path is not None:
        page.goto(path)
    page.get_by_label("Email", exact=True).fill(account.email)
    page.get_by_label("Password", exact=True).fill(account.password)
    with page.expect_response(lambda response: response.url.endswith(f"{API}/auth/session")) as signed:
        page.get_by_role("button", name="Sign in").click()
    response = signed.value
    assert response.status == 200, f"sign-in of {account.email}: HTTP {response.status} {response.text()}"
    token: str = response.json()["access_token"]
    page.wait_for_url(lambda url: urlsplit(url).path != "/signin")  # the page moves on to where it was sent
    return token


def api_get(context: BrowserContext, path: str, token: str) -> Any:
    response = context.request.get(f"{API}{path}", headers={"Authorization": f"Bearer {token}"})
    assert response.ok, f"GET {path}: HTTP {response.status} {response.text()[:300]}"
    return response.json()


def _throttled_upload(page: Page, pdf_size: int) -> Any:
    """Chromium's own network throttling (DevTools), so the upload takes UPLOAD_SECONDS on loopback too."""
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": max(1024, int(pdf_size / UPLOAD_SECONDS)),
        },
    )
    return session


# Records, from before the submit, every value the upload's progress bar shows and every status text.
TRAIL = """() => {
  window.__papTrail = { progress: [], statuses: [] };
  const look = () => {
    for (const bar of document.querySelectorAll('[role="progressbar"], progress')) {
      const value = bar instanceof HTMLProgressElement ? bar.value : null;
      const raw = bar.getAttribute("aria-valuenow") ?? value;
      const name = bar.getAttribute("aria-label") ?? "";
      if (raw !== null) window.__papTrail.progress.push({ name, value: Number(raw) });
    }
    for (const status of document.querySelectorAll('[role="status"]')) {
      window.__papTrail.statuses.push(status.textContent.trim());
    }
  };
  new MutationObserver(look).observe(document.body, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
  look();
}"""


def radio_group(page: Page, name: str) -> Locator:
    """A named group of radios: role radiogroup, or a fieldset with its legend (role group)."""
    return page.get_by_role("radiogroup", name=name).or_(page.get_by_role("group", name=name, exact=True))


def create_deck(page: Page, *, title: str, viewer: Account, pdf_bytes: bytes) -> tuple[str, list[int]]:
    """The "New deck" form, from the nav; the deck's id and the upload progress values seen."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New deck").click()
    expect(page.get_by_role("heading", name="New deck")).to_be_visible()
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Subtitle", exact=True).fill("made by the browser journey")
    radio_group(page, "Who can view").get_by_role("radio", name="Named viewers").check()
    page.get_by_label("Viewer emails", exact=True).fill(viewer.email)
    page.get_by_label("PDF file", exact=True).set_input_files(
        {"name": "journey.pdf", "mimeType": "application/pdf", "buffer": pdf_bytes}
    )
    page.evaluate(TRAIL)
    throttle = _throttled_upload(page, len(pdf_bytes))
    try:
        page.get_by_role("button", name="Create deck").click()
        progress = page.get_by_role("progressbar", name="Upload progress")
        expect(progress).to_be_visible()
        page.wait_for_url(re.compile(r"/decks/[0-9a-f-]{36}/analytics$"), timeout=60_000)
    finally:
        throttle.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
        })  # fmt: skip
        throttle.detach()
    trail = page.evaluate("() => window.__papTrail")
    values = [int(item["value"]) for item in trail["progress"] if item["name"] == "Upload progress"]
    assert values, f"no upload progress was shown: {trail}"
    assert all(0 <= value <= 100 for value in values), f"progress outside 0..100: {values}"
    assert any(0 < value < 100 for value in values), f"no progress between 0 and 100 was shown: {values}"
    assert any("Rendering slides" in text for text in trail["statuses"]), (
        f"no 'Rendering slides…' status after the upload: {trail['statuses']}"
    )
    match = re.search(r"/decks/([0-9a-f-]{36})/analytics$", page.url)
    assert match is not None
    return match.group(1), sorted(set(values))


def expect_slide(page: Page, number: int) -> None:
    """Slide `number` is shown: its image decoded, its alt text and the position status saying so."""
    count = len(SLIDE_TITLES)
    image = page.get_by_role("img", name=f"Slide {number} of {count}: {SLIDE_TITLES[number - 1]}")
    expect(image).to_be_visible()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    expect(page.get_by_role("status", name="Slide position")).to_have_text(f"{number} / {count}")


def watch_deck(page: Page, *, title: str) -> tuple[str, list[float]]:
    """The viewer's part: from the deck list to the last slide; the session id and the dwell times spent."""
    deck = page.get_by_role("listitem").filter(has=page.get_by_role("link", name=title))
    expect(deck.get_by_role("link", name="Analytics")).to_have_count(0)  # not the viewer's to read
    region = page.get_by_role("region", name="Slide viewer")
    # The session opens and the first slide_enter goes out before the image arrives: dwell starts there.
    with page.expect_response(lambda response: bool(EVENTS.search(response.url))) as first:
        deck.get_by_role("link", name=title).click()
    assert first.value.ok, f"the first events batch: HTTP {first.value.status}"
    entered = _sent_at(first.value)
    expect(region).to_have_attribute("data-session-id", re.compile(r"^[0-9a-f-]{36}$"))
    session_id = region.get_attribute("data-session-id") or ""
    expect_slide(page, 1)
    for name in ("Previous slide", "Next slide", "Full screen", "Leave deck"):
        expect(region.get_by_role("button", name=name)).to_be_visible()
    moves = (
        lambda: page.keyboard.press("ArrowRight"),
        lambda: _click_right_half(page),
        lambda: swipe(page, SLIDE_SELECTOR, leftwards=True, touch=False),
    )
    spent = []
    for number, (dwell, move) in enumerate(zip(DWELL_SECONDS, moves, strict=True), start=1):
        time.sleep(max(0.0, entered + dwell - time.time()))
        with page.expect_response(lambda response: bool(EVENTS.search(response.url))) as sent:
            move()
        assert sent.value.ok, f"events batch after slide {number}: HTTP {sent.value.status}"
        left = _sent_at(sent.value)
        spent.append(left - entered)
        entered = left
        expect_slide(page, number + 1)
    return session_id, spent


def _sent_at(response: Response) -> float:
    """When the browser started the request (epoch seconds): the service times dwell by arrivals, and the
    response (what the test sees) comes back after a delay that varies more than the way there."""
    return float(response.request.timing["startTime"]) / 1000


def _click_right_half(page: Page) -> None:
    box = page.locator(SLIDE_SELECTOR).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)


def give_feedback(page: Page, comment: str) -> None:
    page.get_by_role("button", name="Give feedback").click()
    radio_group(page, "Rating").get_by_role("radio", name=f"{RATING} stars").check()
    page.get_by_label("Comment", exact=True).fill(comment)


def send_feedback(page: Page) -> None:
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_role("status").filter(has_text="Thank you")).to_be_visible()


def leave_by_pagehide(page: Page, context: BrowserContext, session_id: str, token: str) -> dict[str, Any]:
    """Navigate away (pagehide: the rest goes by sendBeacon); the session as the API then reports it.

    Chromium does not report a beacon sent from a page being unloaded as one of its requests, so the
    session's state is the proof: only the beacon carries this session's `session_end`."""
    page.goto("about:blank")
    deadline = time.monotonic() + 15
    while True:
        state: dict[str, Any] = api_get(context, f"/sessions/{session_id}", token)
        if state.get("ended_at") or time.monotonic() > deadline:
            return state
        time.sleep(0.25)


def _bar_labels(page: Page, caption: str) -> list[str]:
    figure = page.get_by_role("figure", name=caption)
    labels = figure.locator("[aria-label]").evaluate_all("(nodes) => nodes.map((n) => n.ariaLabel)")
    return [label for label in labels if label and label.startswith("Slide ")]


def check_analytics_page(page: Page, analytics: dict[str, Any], comment: str, viewer: Account) -> None:
    """Every number the presenter sees is the API's (the page refreshes every 5 s: wait for it)."""
    expect(page.get_by_role("heading", level=1)).to_have_text(analytics["title"])
    expect(page.get_by_role("group", name="Sessions")).to_contain_text(
        str(analytics["sessions"]), timeout=20_000
    )
    expect(page.get_by_role("group", name="Unique viewers")).to_contain_text(str(analytics["unique_viewers"]))
    rate = analytics["completion_rate"]
    expect(page.get_by_role("group", name="Completion rate")).to_contain_text(f"{round(rate * 100)} %")
    expect(page.get_by_role("group", name="Mean rating")).to_contain_text(
        to_fixed(analytics["feedback"]["mean_rating"]), timeout=20_000
    )
    slides = analytics["slides"]
    table = page.get_by_role("table", name="Slides")
    expected_rows = [
        [
            str(slide["slide_index"] + 1),
            slide["title"],
            str(slide["views"]),
            NO_VALUE if slide["dwell_mean_seconds"] is None else to_fixed(slide["dwell_mean_seconds"]),
            NO_VALUE if slide["dwell_median_seconds"] is None else to_fixed(slide["dwell_median_seconds"]),
            str(slide["drop_offs"]),
        ]
        for slide in slides
    ]
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(len(slides))
    for index, expected in enumerate(expected_rows):
        expect(rows.nth(index).locator("th, td")).to_have_text(expected)
    expect(page.get_by_role("figure", name="Time per slide")).to_be_visible()
    dwell_labels = [
        f"Slide {slide['slide_index'] + 1}: {to_fixed(slide['dwell_mean_seconds'] or 0)} s"
        for slide in slides
    ]
    drop_labels = [f"Slide {slide['slide_index'] + 1}: {slide['drop_offs']} sessions" for slide in slides]
    assert _bar_labels(page, "Time per slide") == dwell_labels
    assert _bar_labels(page, "Drop-off by slide") == drop_labels
    expect(page.get_by_role("figure", name="Sessions per day")).to_be_visible()
    viewers = page.get_by_role("table", name="Viewers").locator("tbody tr")
    expect(viewers.filter(has_text=viewer.email)).to_contain_text(str(RATING))
    feedback = page.get_by_role("list", name="Feedback")
    expect(feedback.get_by_role("listitem").filter(has_text=comment)).to_contain_text(f"{RATING} of 5")
    expect(page.get_by_role("status").filter(has_text=re.compile(r"Updated \d\d:\d\d:\d\d"))).to_be_visible()
    for name in ("Export sessions CSV", "Export slides CSV"):
        expect(page.get_by_role("button", name=name)).to_be_enabled()


def assert_dwell_matches(analytics: dict[str, Any]) -> None:
    for index, intended in enumerate(DWELL_SECONDS):
        measured = analytics["slides"][index]["dwell_mean_seconds"]
        assert measured is not None, f"slide {index + 1} has no dwell time"
        assert abs(measured - intended) <= DWELL_TOLERANCE * intended, (
            f"slide {index + 1}: the API says {measured:.3f} s, the viewer stayed {intended} s "
            f"(tolerance {DWELL_TOLERANCE:.0%})"
        )


def run_journey(
    browser: Browser,
    base_url: str,
    presenter: Account,
    viewer: Account,
    pdf_bytes: bytes,
    screenshots_dir: Path,
    ignore_https_errors: bool = False,
) -> JourneyResult:
    """The whole journey (module docstring); fails on any browser problem either user's pages had.

    `presenter` and `viewer` are existing accounts of those roles; `pdf_bytes` is `journey_pdf()` (its pages
    are SLIDE_TITLES, and it is big enough for the throttled upload to show progress)."""
    started = time.monotonic()
    screenshots_dir.mkdir(parents=True, exist_ok=True)
    title = f"Quarterly review {secrets.token_hex(3)}"
    comment = f"Clear and short ({secrets.token_hex(3)})."
    watches: list[Watch] = []
    contexts: list[BrowserContext] = []
    try:
        presenter_context, presenter_watch = watched_context(
            browser, base_url, ignore_https_errors=ignore_https_errors, viewport=DESKTOP
        )
        contexts.append(presenter_context)
        watches.append(presenter_watch)
        desk = presenter_context.new_page()
        desk.goto("/signin")
        expect(desk.get_by_role("button", name="Sign in")).to_be_visible()
        assert_accessible(desk, "the sign-in page")
        token = sign_in(desk, presenter, path=None)
        expect(desk.get_by_role("heading", name="Decks", level=1)).to_be_visible()
        assert_accessible(desk, "the deck list")
        presentation_id, progress = create_deck(desk, title=title, viewer=viewer, pdf_bytes=pdf_bytes)
        expect(desk.get_by_role("heading", level=1)).to_have_text(title)
        expect(desk.get_by_text("No one has watched this deck yet")).to_be_visible()
        # The owner's list offers the deck's analytics and settings; back to the analytics from there.
        desk.get_by_role("navigation", name="Main").get_by_role("link", name="Decks").click()
        listed = desk.get_by_role("listitem").filter(has=desk.get_by_role("link", name=title))
        expect(listed.get_by_role("link", name="Settings")).to_have_attribute(
            "href", f"/decks/{presentation_id}/settings"
        )
        listed.get_by_role("link", name="Analytics").click()
        expect(desk).to_have_url(re.compile(f"/decks/{presentation_id}/analytics$"))
        expect(desk.get_by_role("heading", level=1)).to_have_text(title)

        viewer_context, viewer_watch = watched_context(
            browser, base_url, ignore_https_errors=ignore_https_errors, viewport=DESKTOP
        )
        contexts.append(viewer_context)
        watches.append(viewer_watch)
        seat = viewer_context.new_page()
        sign_in(seat, viewer)
        expect(seat.get_by_role("heading", name="Decks", level=1)).to_be_visible()
        session_id, spent = watch_deck(seat, title=title)
        viewer_shot = screenshots_dir / "viewer.png"
        seat.screenshot(path=str(viewer_shot))
        give_feedback(seat, comment)
        assert_accessible(seat, "the viewer with its feedback form")
        send_feedback(seat)
        ended = leave_by_pagehide(seat, presenter_context, session_id, token)
        assert ended.get("ended_at") and ended.get("end_reason") == "session_end", (
            f"the session did not end by its session_end event after pagehide (no beacon?): {ended}"
        )
        assert ended["furthest_slide"] == len(SLIDE_TITLES) - 1 and ended["reached_last_slide"], ended

        analytics = api_get(presenter_context, f"/analytics/presentations/{presentation_id}", token)
        assert analytics["sessions"] == 1, analytics
        assert analytics["unique_viewers"] == 1, analytics
        assert analytics["completion_rate"] == 1.0, analytics
        assert analytics["feedback"]["count"] == 1, analytics
        assert [slide["title"] for slide in analytics["slides"]] == list(SLIDE_TITLES)
        assert_dwell_matches(analytics)
        check_analytics_page(desk, analytics, comment, viewer)
        assert_accessible(desk, "the analytics page")
        analytics_shot = screenshots_dir / "analytics.png"
        desk.screenshot(path=str(analytics_shot), full_page=True)
        for watch in watches:
            watch.assert_clean()
        return JourneyResult(
            presentation_id=presentation_id,
            session_id=session_id,
            analytics=analytics,
            dwell_spent=spent,
            progress_seen=progress,
            screenshots=[viewer_shot, analytics_shot],
            seconds=time.monotonic() - started,
        )
    finally:
        for context in contexts:
            context.close()
