"""Presentations: creation with slides, who sees what, slide replacement, audiences, deactivation."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.app.factories import login_headers, make_presentation, make_user

DECKS = "/api/v1/presentations"


def listed_ids(client: TestClient, headers: dict[str, str]) -> set[str]:
    response = client.get(DECKS, headers=headers, params={"limit": 100})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(body["data"])
    return {deck["id"] for deck in body["data"]}


def test_presenter_creates_a_deck_with_ordered_slides(client: TestClient, session: Session) -> None:
    presenter = make_user(session, role="presenter")
    viewer = make_user(session)
    body = {
        "title": "  Quarterly  ",
        "subtitle": "numbers",
        "slides": [{"title": "Intro", "content": "hello"}, {"title": "End"}],
        "viewer_ids": [str(viewer.id)],
    }
    response = client.post(DECKS, json=body, headers=login_headers(client, presenter))
    assert response.status_code == 201, response.text
    deck = response.json()
    assert deck["title"] == "Quarterly"
    assert deck["owner_id"] == str(presenter.id)
    assert deck["audience"] == "named"
    assert [(slide["position"], slide["title"], slide["content"]) for slide in deck["slides"]] == [
        (0, "Intro", "hello"),
        (1, "End", ""),
    ]
    assert client.get(f"{DECKS}/{deck['id']}", headers=login_headers(client, viewer)).status_code == 200


def test_deck_needs_slides_and_known_viewers(client: TestClient, session: Session) -> None:
    headers = login_headers(client, make_user(session, role="presenter"))
    assert client.post(DECKS, json={"title": "Empty", "slides": []}, headers=headers).status_code == 422
    unknown = {"title": "X", "slides": [{"title": "a"}], "viewer_ids": [str(uuid.uuid4())]}
    response = client.post(DECKS, json=unknown, headers=headers)
    assert response.status_code == 422
    assert "viewer_ids" in response.json()["detail"]
    too_long = {"title": "x" * 201, "slides": [{"title": "a"}]}
    assert client.post(DECKS, json=too_long, headers=headers).status_code == 422
    owner_field = {"title": "x", "slides": [{"title": "a"}], "owner_id": str(uuid.uuid4())}
    assert client.post(DECKS, json=owner_field, headers=headers).status_code == 422


def test_viewers_see_only_what_they_are_given(client: TestClient, session: Session) -> None:
    owner = make_user(session, role="presenter")
    viewer, stranger = make_user(session), make_user(session)
    given = make_presentation(session, owner, viewers=[viewer])
    everyone = make_presentation(session, owner, audience="everyone")
    private = make_presentation(session, owner)
    retired = make_presentation(session, owner, audience="everyone", is_active=False)

    assert listed_ids(client, login_headers(client, viewer)) == {str(given.id), str(everyone.id)}
    assert listed_ids(client, login_headers(client, stranger)) == {str(everyone.id)}
    assert listed_ids(client, login_headers(client, owner)) == {
        str(d.id) for d in (given, everyone, private, retired)
    }
    admin = make_user(session, role="admin")
    assert listed_ids(client, login_headers(client, admin)) == {
        str(d.id) for d in (given, everyone, private, retired)
    }
    for deck, status in ((given, 404), (everyone, 200), (private, 404), (retired, 404)):
        assert client.get(f"{DECKS}/{deck.id}", headers=login_headers(client, stranger)).status_code == status


def test_other_presenters_cannot_touch_a_deck(client: TestClient, session: Session) -> None:
    owner, other = make_user(session, role="presenter"), make_user(session, role="presenter")
    deck = make_presentation(session, owner, audience="everyone")
    headers = login_headers(client, other)
    assert client.get(f"{DECKS}/{deck.id}", headers=headers).status_code == 200  # it is given to everyone
    assert client.patch(f"{DECKS}/{deck.id}", json={"title": "mine"}, headers=headers).status_code == 403
    assert client.delete(f"{DECKS}/{deck.id}", headers=headers).status_code == 403
    assert client.get(f"{DECKS}/{uuid.uuid4()}", headers=headers).status_code == 404


def test_replace_slides_renumbers(client: TestClient, session: Session) -> None:
    owner = make_user(session, role="presenter")
    deck = make_presentation(session, owner, slides=4)
    slides = {"slides": [{"title": "B", "content": "2"}, {"title": "A", "content": "1"}]}
    response = client.put(f"{DECKS}/{deck.id}/slides", json=slides, headers=login_headers(client, owner))
    assert response.status_code == 200, response.text
    assert [(s["position"], s["title"]) for s in response.json()["slides"]] == [(0, "B"), (1, "A")]
    again = client.get(f"{DECKS}/{deck.id}", headers=login_headers(client, owner)).json()
    assert len(again["slides"]) == 2


def test_audience_can_switch_between_named_and_everyone(client: TestClient, session: Session) -> None:
    owner = make_user(session, role="presenter")
    first, second, outsider = make_user(session), make_user(session), make_user(session)
    deck = make_presentation(session, owner, viewers=[first])
    headers = login_headers(client, owner)
    named = client.put(
        f"{DECKS}/{deck.id}/audience",
        json={"audience": "named", "viewer_ids": [str(second.id)]},
        headers=headers,
    )
    assert named.status_code == 200
    assert named.json() == {
        "audience": "named",
        "viewer_ids": [str(second.id)],
        "viewer_emails": [second.email],
    }
    assert client.get(f"{DECKS}/{deck.id}", headers=login_headers(client, first)).status_code == 404
    assert client.get(f"{DECKS}/{deck.id}", headers=login_headers(client, second)).status_code == 200
    client.put(f"{DECKS}/{deck.id}/audience", json={"audience": "everyone"}, headers=headers)
    assert client.get(f"{DECKS}/{deck.id}", headers=login_headers(client, outsider)).status_code == 200
    assert client.get(f"{DECKS}/{deck.id}/audience", headers=headers).json()["audience"] == "everyone"


def test_delete_deactivates_for_the_audience_but_keeps_it_for_the_owner(
    client: TestClient, session: Session
) -> None:
    owner, viewer = make_user(session, role="presenter"), make_user(session)
    deck = make_presentation(session, owner, audience="everyone")
    assert client.delete(f"{DECKS}/{deck.id}", headers=login_headers(client, owner)).status_code == 204
    assert client.get(f"{DECKS}/{deck.id}", headers=login_headers(client, viewer)).status_code == 404
    kept = client.get(f"{DECKS}/{deck.id}", headers=login_headers(client, owner))
    assert kept.status_code == 200 and kept.json()["is_active"] is False
    restored = client.patch(
        f"{DECKS}/{deck.id}", json={"is_active": True}, headers=login_headers(client, owner)
    )
    assert restored.json()["is_active"] is True
    assert client.get(f"{DECKS}/{deck.id}", headers=login_headers(client, viewer)).status_code == 200


def test_list_is_paginated(client: TestClient, session: Session) -> None:
    owner = make_user(session, role="presenter")
    for _ in range(5):
        make_presentation(session, owner, slides=1)
    page = client.get(DECKS, params={"offset": 1, "limit": 2}, headers=login_headers(client, owner)).json()
    assert page["count"] == 5 and len(page["data"]) == 2
    assert all(deck["slide_count"] == 1 for deck in page["data"])
    assert client.get(DECKS, params={"limit": 1000}, headers=login_headers(client, owner)).status_code == 422
