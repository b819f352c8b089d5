"""Opening and reading viewing sessions: who may open one, the ingest token, lazy idle ending."""

from __future__ import annotations

from datetime import datetime

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models.presentations import Audience
from app.models.users import Role
from tests.app.conftest import TEST_SECRET_KEY
from tests.app.factories import login_headers, make_presentation, make_user
from tests.app.viewing_support import SESSIONS, START, event, install_clock, open_session, post_events


def test_open_session_returns_a_session_scoped_short_lived_token(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    install_clock(app)
    viewer = make_user(session, Role.viewer)
    deck = make_presentation(session, make_user(session, Role.presenter), slides=7, viewers=[viewer])
    body = open_session(client, viewer, deck)
    assert body["presentation_id"] == str(deck.id)
    assert body["viewer_id"] == str(viewer.id)
    assert (body["slide_count"], body["event_count"], body["ended_at"], body["furthest_slide"]) == (
        7,
        0,
        None,
        None,
    )
    assert body["started_at"] == "2026-03-02T09:00:00Z"
    assert body["idle_timeout_seconds"] == 300
    claims = jwt.decode(body["ingest_token"], TEST_SECRET_KEY, algorithms=["HS256"])
    assert (claims["type"], claims["sid"], claims["sub"]) == ("ingest", body["id"], str(viewer.id))
    lifetime = claims["exp"] - claims["iat"]
    assert lifetime == 2 * 3600
    assert datetime.fromisoformat(body["ingest_token_expires_at"]) > START


def test_everyone_audience_lets_any_signed_in_user_open(client: TestClient, session: Session) -> None:
    deck = make_presentation(session, make_user(session, Role.presenter), audience=Audience.everyone)
    assert open_session(client, make_user(session, Role.viewer), deck)["presentation_id"] == str(deck.id)


@pytest.mark.parametrize("case", ["not given", "inactive", "unknown"])
def test_cannot_open_on_a_deck_you_may_not_see(client: TestClient, session: Session, case: str) -> None:
    viewer = make_user(session, Role.viewer)
    owner = make_user(session, Role.presenter)
    deck = make_presentation(
        session, owner, viewers=[] if case == "not given" else [viewer], is_active=case != "inactive"
    )
    target = "00000000-0000-4000-8000-000000000000" if case == "unknown" else str(deck.id)
    response = client.post(SESSIONS, json={"presentation_id": target}, headers=login_headers(client, viewer))
    assert response.status_code == 404


def test_open_needs_a_signed_in_user_and_a_clean_body(client: TestClient, session: Session) -> None:
    viewer = make_user(session, Role.viewer)
    deck = make_presentation(session, make_user(session, Role.presenter), viewers=[viewer])
    assert client.post(SESSIONS, json={"presentation_id": str(deck.id)}).status_code == 401
    extra = {"presentation_id": str(deck.id), "started_at": "2020-01-01T00:00:00Z"}
    assert client.post(SESSIONS, json=extra, headers=login_headers(client, viewer)).status_code == 422


def test_hiding_the_tab_does_not_end_the_session(app: FastAPI, client: TestClient, session: Session) -> None:
    """There is no visibility event that ends a session; heartbeats within the idle time keep it open."""
    clock = install_clock(app)
    viewer = make_user(session, Role.viewer)
    deck = make_presentation(session, make_user(session, Role.presenter), viewers=[viewer])
    opened = open_session(client, viewer, deck)
    hidden = client.post(
        f"{SESSIONS}/{opened['id']}/events",
        json={"events": [event("visibility_hidden", 0, 0)]},
        headers={"Authorization": f"Bearer {opened['ingest_token']}"},
    )
    assert hidden.status_code == 422
    for seconds in (60, 299 + 60, 2 * 299 + 60):  # a background tab's throttled heartbeats, under 300 s apart
        clock.set(seconds)
        post_events(client, opened, event("heartbeat", 0, seconds))
    read = client.get(f"{SESSIONS}/{opened['id']}", headers=login_headers(client, viewer))
    assert read.json()["ended_at"] is None
    assert read.json()["event_count"] == 3


def test_reading_an_idle_session_shows_it_ended_at_its_last_event(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    clock = install_clock(app)
    viewer = make_user(session, Role.viewer)
    deck = make_presentation(session, make_user(session, Role.presenter), viewers=[viewer])
    opened = open_session(client, viewer, deck)
    clock.set(42)
    post_events(client, opened, event("slide_enter", 2, 0))
    clock.set(42 + 301)
    body = client.get(f"{SESSIONS}/{opened['id']}", headers=login_headers(client, viewer)).json()
    assert (body["end_reason"], body["ended_at"], body["furthest_slide"]) == (
        "idle",
        "2026-03-02T09:00:42Z",
        2,
    )
    assert body["reached_last_slide"] is True  # the factory deck has 3 slides
