"""Feedback rules: one per viewer and deck (second POST 409), PUT replaces, GET returns your own; rating
bounds (also in the database), interests from the fixed set, bounded comment, validated contact."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.presentations import Presentation
from app.models.users import Role, User
from app.models.viewing import Feedback
from tests.app.factories import login_headers, make_presentation, make_user

VALID = {
    "rating": 4,
    "interests": ["demo", "pricing"],
    "comment": "Clear and short.",
    "contact_email": "Me@Example.com",
    "contact_phone": "+44 20 7946 0958",
}


@pytest.fixture
def viewer(session: Session) -> User:
    return make_user(session, Role.viewer)


@pytest.fixture
def deck(session: Session, viewer: User) -> Presentation:
    return make_presentation(session, make_user(session, Role.presenter), viewers=[viewer])


def url(deck: Presentation) -> str:
    return f"/api/v1/presentations/{deck.id}/feedback"


def test_create_read_conflict_and_replace(client: TestClient, viewer: User, deck: Presentation) -> None:
    headers = login_headers(client, viewer)
    assert client.get(url(deck), headers=headers).status_code == 404
    created = client.post(url(deck), json=VALID, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    # Interests come back in the fixed order of the set; the phone in E.164; the email lower-cased.
    assert (body["rating"], body["interests"], body["contact_phone"], body["contact_email"]) == (
        4,
        ["pricing", "demo"],
        "+442079460958",
        "me@example.com",
    )
    again = client.post(url(deck), json=VALID | {"rating": 1}, headers=headers)
    assert again.status_code == 409
    assert "PUT" in again.json()["detail"]
    replaced = client.put(url(deck), json={"rating": 2}, headers=headers)
    assert replaced.status_code == 200
    assert (replaced.json()["rating"], replaced.json()["interests"], replaced.json()["comment"]) == (
        2,
        [],
        None,
    )
    assert replaced.json()["id"] == body["id"]
    assert client.get(url(deck), headers=headers).json()["rating"] == 2


def test_put_before_post_is_404(client: TestClient, viewer: User, deck: Presentation) -> None:
    assert client.put(url(deck), json={"rating": 3}, headers=login_headers(client, viewer)).status_code == 404


def test_a_deck_not_given_to_you_takes_no_feedback(
    client: TestClient, session: Session, deck: Presentation
) -> None:
    stranger = make_user(session, Role.viewer)
    assert client.post(url(deck), json=VALID, headers=login_headers(client, stranger)).status_code == 404


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"rating": 0}, "greater than or equal to 1"),
        ({"rating": 6}, "less than or equal to 5"),
        ({"rating": 4.5}, "integer"),
        ({"interests": ["crypto"]}, "interests"),
        ({"interests": ["demo", "demo"]}, "must not repeat"),
        ({"comment": "x" * 2001}, "at most 2000"),
        ({"contact_email": "not-an-email"}, "email"),
        ({"contact_phone": "12345"}, "international format"),
        ({"contact_phone": "+1 555 0100 000 000"}, "not a valid number"),
        ({"contact_phone": "+44" + "1" * 40}, "at most 32"),
        ({"viewer_id": "someone"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_feedback_is_422(
    client: TestClient, viewer: User, deck: Presentation, change: dict[str, Any], fragment: str
) -> None:
    response = client.post(url(deck), json=VALID | change, headers=login_headers(client, viewer))
    assert response.status_code == 422
    assert fragment in response.text


@pytest.mark.parametrize("rating", [0, 6])
def test_the_database_enforces_the_rating_range(
    session: Session, viewer: User, deck: Presentation, rating: int
) -> None:
    session.add(Feedback(presentation_id=deck.id, viewer_id=viewer.id, rating=rating, interests=""))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_the_database_allows_one_feedback_per_viewer_and_deck(
    session: Session, viewer: User, deck: Presentation
) -> None:
    session.add(Feedback(presentation_id=deck.id, viewer_id=viewer.id, rating=3, interests=""))
    session.commit()
    session.add(Feedback(presentation_id=deck.id, viewer_id=viewer.id, rating=4, interests=""))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
