"""Health and the full product journey, from the outside through the proxy."""

from __future__ import annotations

import datetime
import time

import pytest

from app import __version__
from tests.e2e import api
from tests.e2e.conftest import Accounts, Platform
from tests.e2e.summary import Summary, verify

pytestmark = pytest.mark.e2e


def test_health(platform: Platform, summary: Summary) -> None:
    with platform.edge.client() as client:
        response = client.get("/health")
    body = response.json()
    verify(
        summary,
        "health: /health 200, database and redis healthy, the deployed version",
        response.status_code == 200
        and body == {"status": "healthy", "database": "healthy", "redis": "healthy", "version": __version__},
        f"{response.status_code} {body}",
    )


def test_full_journey(platform: Platform, accounts: Accounts, summary: Summary) -> None:
    titles = ["Intro", "Numbers", "Ask"]
    start = datetime.datetime.now(datetime.UTC)

    def at(seconds: int) -> datetime.datetime:
        return start + datetime.timedelta(seconds=seconds)

    first = [
        api.event("slide_enter", 0, at(0)),
        api.event("slide_leave", 0, at(5)),
        api.event("slide_enter", 1, at(5)),
    ]
    second = [
        api.event("slide_leave", 1, at(12)),
        api.event("slide_enter", 2, at(12)),
        api.event("heartbeat", 2, at(15)),
    ]
    last = [api.event("slide_leave", 2, at(20)), api.event("session_end", 2, at(20))]
    with platform.edge.client() as client:
        deck_id = api.create_deck(client, accounts.presenter, titles, [accounts.viewer_id])
        session = api.open_session(client, accounts.viewer, deck_id)
        answers = [api.expect(api.post_events(client, session, first), 200).json()]
        answers.append(api.expect(api.post_events(client, session, second), 200).json())
        # The page did not see the answer (network blip) and sends the same batch again.
        retried = api.expect(api.post_events(client, session, second), 200).json()
        beacon = api.expect(api.post_beacon(client, session, last), 200).json()
        state = api.expect(
            client.get(f"/api/v1/sessions/{session.id}", headers=accounts.viewer.auth), 200
        ).json()
        analytics = api.presentation_analytics(client, accounts.presenter, deck_id)

    sent = len(first) + len(second) + len(last)
    verify(
        summary,
        "journey: batches accepted, retry counted as duplicates",
        [a["accepted"] for a in answers] == [3, 3] and (retried["accepted"], retried["duplicates"]) == (0, 3),
        f"accepted {[a['accepted'] for a in answers]}, "
        f"retry {retried['accepted']} accepted + {retried['duplicates']} duplicates",
    )
    verify(
        summary,
        "journey: sendBeacon end (token in body only)",
        beacon["accepted"] == 2 and beacon["session_ended"] is True and state["end_reason"] == "session_end",
        f"accepted {beacon['accepted']}, ended {beacon['session_ended']}, reason {state['end_reason']}",
    )
    views = [slide["views"] for slide in analytics["slides"]]
    verify(
        summary,
        "journey: presenter analytics match events sent",
        state["event_count"] == sent
        and analytics["sessions"] == 1
        and analytics["unique_viewers"] == 1
        and analytics["active_sessions"] == 0
        and views == [1, 1, 1]
        and analytics["completed_sessions"] == 1
        and [slide["title"] for slide in analytics["slides"]] == titles,
        f"events stored {state['event_count']}/{sent}, sessions {analytics['sessions']}, views {views}, "
        f"completed {analytics['completed_sessions']}",
    )


def _pdf_deck(titles: list[str], noise_side: int) -> bytes:
    """A 16:9 deck, one title per page; page 1 carries a noise image (incompressible: the file's bulk)."""
    import io
    import os

    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(960, 540))
    noise = Image.frombytes("RGB", (noise_side, noise_side), os.urandom(noise_side * noise_side * 3))
    for index, title in enumerate(titles):
        pdf.setFont("Helvetica-Bold", 40)
        pdf.drawString(60, 440, title)
        if index == 0:
            pdf.drawImage(ImageReader(noise), 560, 40, width=360, height=360)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def test_deck_from_pdf_through_the_proxy(platform: Platform, accounts: Accounts, summary: Summary) -> None:
    titles = ["Welcome", "The numbers", "Questions"]
    pdf = _pdf_deck(titles, noise_side=2000)  # about 12 MB: above the proxy's default 10 MB body limit
    with platform.edge.client() as client:
        deck_id = api.create_deck(client, accounts.presenter, ["placeholder"], [accounts.viewer_id])
        upload_headers = {**accounts.presenter.auth, "Content-Type": "application/pdf"}
        started = time.monotonic()
        uploaded = client.post(f"/api/v1/presentations/{deck_id}/deck", content=pdf, headers=upload_headers)
        upload_seconds = time.monotonic() - started
        body = uploaded.json()
        verify(
            summary,
            "decks: a 12 MB PDF uploaded through the proxy becomes the slides",
            uploaded.status_code == 201
            and body.get("page_count") == len(titles)
            and [slide["title"] for slide in body.get("slides", [])] == titles,
            f"{uploaded.status_code}, {len(pdf) / 1e6:.1f} MB in {upload_seconds:.1f} s (upload and render), "
            f"titles {[slide.get('title') for slide in body.get('slides', [])]}",
        )
        image_url = body["slides"][0]["image_url"]
        image = client.get(image_url, headers=accounts.viewer.auth)
        cache_headers = image.headers.get_list("cache-control")
        again = client.get(
            image_url, headers={**accounts.viewer.auth, "If-None-Match": image.headers["etag"]}
        )
        verify(
            summary,
            "decks: slide image as WebP to a viewer, cached privately and immutably, 304 on its ETag",
            image.status_code == 200
            and image.headers["content-type"] == "image/webp"
            and image.content[:4] == b"RIFF"
            and cache_headers == ["private, max-age=31536000, immutable"]
            and again.status_code == 304,
            f"{image.status_code} {image.headers.get('content-type')} {len(image.content)} B, "
            f"Cache-Control {cache_headers}, revalidation {again.status_code}",
        )
        refused = client.post(
            f"/api/v1/presentations/{deck_id}/deck",
            content=b"\x89PNG\r\n\x1a\n" + bytes(64),
            headers=upload_headers,
        )
        verify(
            summary,
            "decks: a PNG sent as application/pdf is refused (415, JSON), the deck unchanged",
            refused.status_code == 415
            and "not a PDF" in refused.json().get("detail", "")
            and client.get(f"/api/v1/presentations/{deck_id}/deck", headers=accounts.viewer.auth)
            .json()
            .get("version")
            == 1,
            f"{refused.status_code} {refused.text[:100]}",
        )
