"""Decks from PDF: upload, slides and versions, images with their caching, who may do what, and every kind of
bad or hostile file refused with a precise 4xx while the deck stays as it was."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session

from app.models.users import User
from tests.app import pdfs
from tests.app.conftest import Backend, build_app
from tests.app.factories import login_headers, make_presentation, make_user

DECKS = "/api/v1/presentations"
PDF = {"Content-Type": "application/pdf"}


def upload(client: TestClient, deck_id: object, pdf: bytes, headers: dict[str, str]) -> object:
    return client.post(f"{DECKS}/{deck_id}/deck", content=pdf, headers={**headers, **PDF})


@pytest.fixture
def owner(session: Session) -> User:
    return make_user(session, role="presenter")


def test_a_pdf_becomes_the_slides_with_images_at_two_widths(
    client: TestClient, session: Session, owner: User
) -> None:
    presentation = make_presentation(session, owner, slides=1)
    headers = login_headers(client, owner)
    pdf = pdfs.deck(["Welcome", None, "Thanks"], [pdfs.WIDE, pdfs.PORTRAIT, pdfs.WIDE])
    response = upload(client, presentation.id, pdf, headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["version"], body["page_count"], body["size_bytes"]) == (1, 3, len(pdf))
    assert [slide["title"] for slide in body["slides"]] == ["Welcome", "Slide 2", "Thanks"]
    shown = client.get(f"{DECKS}/{presentation.id}", headers=headers).json()
    assert shown["deck_version"] == 1
    assert [(s["position"], s["title"]) for s in shown["slides"]] == [
        (0, "Welcome"),
        (1, "Slide 2"),
        (2, "Thanks"),
    ]
    assert "body of page 1" in shown["slides"][0]["content"]
    assert client.get(f"{DECKS}/{presentation.id}/deck", headers=headers).json() == body
    for slide, (page_width, page_height) in zip(
        body["slides"], [pdfs.WIDE, pdfs.PORTRAIT, pdfs.WIDE], strict=True
    ):
        for url, width in ((slide["image_url"], 1600), (slide["thumbnail_url"], 480)):
            image = client.get(url, headers=headers)
            assert image.status_code == 200 and image.headers["content-type"] == "image/webp"
            decoded = Image.open(io.BytesIO(image.content))
            assert decoded.format == "WEBP" and decoded.width == width
            assert abs(decoded.height - round(width * page_height / page_width)) <= 1


def test_slide_images_are_cached_privately_and_revalidate(
    client: TestClient, session: Session, owner: User
) -> None:
    presentation = make_presentation(session, owner)
    headers = login_headers(client, owner)
    url = upload(client, presentation.id, pdfs.deck(["One", "Two"]), headers).json()["slides"][1]["image_url"]
    first = client.get(url, headers=headers)
    cache_control = first.headers["cache-control"]
    assert "private" in cache_control and "immutable" in cache_control and "no-store" not in cache_control
    etag = first.headers["etag"]
    again = client.get(url, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = client.get(url, headers={**headers, "If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content
    # The API's other answers stay uncacheable.
    assert (
        client.get(f"{DECKS}/{presentation.id}/deck", headers=headers).headers["cache-control"] == "no-store"
    )


def test_images_are_authorised_exactly_as_the_deck(client: TestClient, session: Session, owner: User) -> None:
    viewer, stranger = make_user(session), make_user(session)
    presentation = make_presentation(session, owner, viewers=[viewer])
    body = upload(client, presentation.id, pdfs.deck(["Only"]), login_headers(client, owner)).json()
    url = body["slides"][0]["image_url"]
    assert client.get(url, headers=login_headers(client, viewer)).status_code == 200
    assert (
        client.get(f"{DECKS}/{presentation.id}/deck", headers=login_headers(client, viewer)).status_code
        == 200
    )
    assert client.get(url, headers=login_headers(client, stranger)).status_code == 404
    assert (
        client.get(f"{DECKS}/{presentation.id}/deck", headers=login_headers(client, stranger)).status_code
        == 404
    )
    assert client.get(url).status_code == 401
    refused = upload(client, presentation.id, pdfs.deck(["Mine now"]), login_headers(client, viewer))
    assert refused.status_code == 403
    admin = upload(
        client,
        presentation.id,
        pdfs.deck(["By the admin"]),
        login_headers(client, make_user(session, role="admin")),
    )
    assert admin.status_code == 201 and admin.json()["version"] == 2


def test_unknown_version_position_or_width(client: TestClient, session: Session, owner: User) -> None:
    presentation = make_presentation(session, owner)
    headers = login_headers(client, owner)
    assert client.get(f"{DECKS}/{presentation.id}/deck", headers=headers).status_code == 404  # no PDF yet
    upload(client, presentation.id, pdfs.deck(["A", "B"]), headers)
    base = f"{DECKS}/{presentation.id}/deck"
    assert client.get(f"{base}/2/slides/0", headers=headers).status_code == 404
    assert client.get(f"{base}/1/slides/2", headers=headers).status_code == 404
    bad_width = client.get(f"{base}/1/slides/0?width=800", headers=headers)
    assert bad_width.status_code == 422 and "480" in bad_width.json()["detail"]


def test_a_new_upload_is_a_new_version_and_old_sessions_keep_theirs(
    client: TestClient, session: Session, owner: User
) -> None:
    viewer = make_user(session)
    presentation = make_presentation(session, owner, viewers=[viewer])
    headers = login_headers(client, owner)
    first = upload(client, presentation.id, pdfs.deck(["A", "B", "C"]), headers).json()
    opened = client.post(
        "/api/v1/sessions",
        json={"presentation_id": str(presentation.id)},
        headers=login_headers(client, viewer),
    )
    assert opened.status_code == 201, opened.text
    second = upload(client, presentation.id, pdfs.deck(["1", "2", "3", "4", "5"]), headers).json()
    assert (second["version"], second["page_count"]) == (2, 5)
    assert client.get(first["slides"][2]["image_url"], headers=headers).status_code == 200  # v1 still served
    assert first["slides"][2]["image_url"] != second["slides"][2]["image_url"]
    state = client.get(
        f"/api/v1/sessions/{opened.json()['id']}", headers=login_headers(client, viewer)
    ).json()
    assert state["slide_count"] == 3
    assert len(client.get(f"{DECKS}/{presentation.id}", headers=headers).json()["slides"]) == 5
    # Typed slides replace the PDF's: no uploaded version matches them any more.
    typed = client.put(
        f"{DECKS}/{presentation.id}/slides", json={"slides": [{"title": "typed"}]}, headers=headers
    )
    assert typed.status_code == 200 and typed.json()["deck_version"] is None
    assert client.get(f"{DECKS}/{presentation.id}/deck", headers=headers).status_code == 404


REFUSED = {
    "a PNG": (b"\x89PNG\r\n\x1a\n" + bytes(100), 415, "not a PDF"),
    "text": (b"hello, I am not a PDF at all", 415, "not a PDF"),
    "nothing": (b"", 422, "empty"),
    "truncated": (pdfs.deck(["A", "B"])[:400], 422, "corrupt"),
    "encrypted with a password": (pdfs.encrypted("letmein"), 422, "encrypted"),
    "encrypted, empty user password": (pdfs.encrypted(""), 422, "encrypted"),
    "zero pages": (pdfs.zero_pages(), 422, "no pages"),
}


@pytest.fixture
def with_a_deck(
    client: TestClient, session: Session, owner: User
) -> Iterator[tuple[object, dict[str, str], dict]]:
    presentation = make_presentation(session, owner)
    headers = login_headers(client, owner)
    before = upload(client, presentation.id, pdfs.deck(["Kept", "As is"]), headers).json()
    yield presentation.id, headers, before


def _unchanged(client: TestClient, deck_id: object, headers: dict[str, str], before: dict) -> None:
    assert client.get(f"{DECKS}/{deck_id}/deck", headers=headers).json() == before
    slides = client.get(f"{DECKS}/{deck_id}", headers=headers).json()["slides"]
    assert [slide["title"] for slide in slides] == ["Kept", "As is"]


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_files_are_refused_precisely_and_change_nothing(
    client: TestClient, with_a_deck: tuple[object, dict[str, str], dict], case: str
) -> None:
    deck_id, headers, before = with_a_deck
    content, status, words = REFUSED[case]
    response = upload(client, deck_id, content, headers)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    _unchanged(client, deck_id, headers, before)


def test_the_content_type_must_say_pdf(
    client: TestClient, with_a_deck: tuple[object, dict[str, str], dict]
) -> None:
    deck_id, headers, before = with_a_deck
    response = client.post(
        f"{DECKS}/{deck_id}/deck", content=pdfs.deck(["A"]), headers={**headers, "Content-Type": "image/png"}
    )
    assert response.status_code == 415 and "application/pdf" in response.json()["detail"]
    _unchanged(client, deck_id, headers, before)


def _limited_client(backend: Backend, **overrides: object) -> TestClient:
    return TestClient(build_app(backend, **overrides))


def test_size_and_page_limits_name_themselves(
    backend: Backend, session_factory_owner: tuple[User, object]
) -> None:
    owner, deck_id = session_factory_owner
    with _limited_client(backend, deck_max_bytes=4096, deck_max_pages=3) as client:
        headers = login_headers(client, owner)
        too_many = upload(client, deck_id, pdfs.deck(["1", "2", "3", "4"]), headers)
        assert too_many.status_code == 422 and "4 pages" in too_many.json()["detail"]
        assert "PAP_DECK_MAX_PAGES" in too_many.json()["detail"]
        big = pdfs.deck(["x" * 60] * 3) + b"%" + b"padding" * 1000  # still a PDF, over 4 KB
        too_large = upload(client, deck_id, big, headers)
        assert too_large.status_code == 413, too_large.text
        assert upload(client, deck_id, pdfs.deck(["1", "2", "3"]), headers).status_code == 201


@pytest.fixture
def session_factory_owner(backend: Backend) -> tuple[User, object]:
    app = build_app(backend)
    with app.state.resources.session_factory() as session:
        owner = make_user(session, role="presenter")
        presentation = make_presentation(session, owner)
        session.expunge(owner)
        return owner, presentation.id


@pytest.mark.parametrize(
    ("name", "pdf"),
    [
        ("lines that take minutes to draw", pdfs.endless_drawing(300_000)),
        ("a content stream that needs more memory than allowed", pdfs.endless_drawing(3_000_000)),
    ],
)
def test_hostile_files_cost_one_bounded_child_not_the_service(
    backend: Backend, session_factory_owner: tuple[User, object], name: str, pdf: bytes
) -> None:
    owner, deck_id = session_factory_owner
    with _limited_client(backend, deck_render_timeout_seconds=2, deck_render_memory_mb=256) as client:
        headers = login_headers(client, owner)
        response = upload(client, deck_id, pdf, headers)
        assert response.status_code == 422, (name, response.text)
        assert "render" in response.json()["detail"]
        assert client.get("/health/live").status_code == 200
        # The renderer is free again: a good file right after goes through.
        assert upload(client, deck_id, pdfs.deck(["After"]), headers).status_code == 201


@pytest.mark.parametrize(
    "pdf",
    [pdfs.one_page((1, 14400)), pdfs.one_page((14400, 14400)), pdfs.decompression_bomb(20000)],
    ids=["1 x 14400 pt page", "14400 pt square page", "20000 px image of zeros"],
)
def test_absurd_pages_render_bounded(
    backend: Backend, session_factory_owner: tuple[User, object], pdf: bytes
) -> None:
    owner, deck_id = session_factory_owner
    with _limited_client(backend, deck_render_timeout_seconds=20, deck_render_memory_mb=256) as client:
        headers = login_headers(client, owner)
        response = upload(client, deck_id, pdf, headers)
        assert response.status_code in (201, 422), response.text
        if response.status_code == 201:  # rendered: within the slide width and at most 4 widths tall
            image = client.get(response.json()["slides"][0]["image_url"], headers=headers)
            decoded = Image.open(io.BytesIO(image.content))
            assert decoded.width == 1600 and decoded.height <= 4 * 1600
        assert client.get("/health/live").status_code == 200
