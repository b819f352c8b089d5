"""Event ingestion: idempotency, out-of-order delivery, batch limits, token scope and expiry, the beacon,
idle timeout and ended sessions. Receive times come from a clock the test controls."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.security import create_scoped_token
from app.models.presentations import Presentation
from app.models.users import Role, User
from app.models.viewing import Event, SessionSlideStats, ViewingSession
from app.services.ingest_tokens import INGEST_TOKEN_TYPE
from tests.app.conftest import TEST_SECRET_KEY
from tests.app.factories import access_token, make_presentation, make_user
from tests.app.viewing_support import SESSIONS, Clock, bearer, event, install_clock, open_session, post_events


@pytest.fixture
def viewer(session: Session) -> User:
    return make_user(session, Role.viewer)


@pytest.fixture
def deck(session: Session, viewer: User) -> Presentation:
    return make_presentation(session, make_user(session, Role.presenter), slides=5, viewers=[viewer])


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    return install_clock(app)


def stored(session: Session, opened: dict[str, Any]) -> ViewingSession:
    session.expire_all()
    viewing = session.get(ViewingSession, uuid.UUID(opened["id"]))
    assert viewing is not None
    return viewing


def event_rows(session: Session, opened: dict[str, Any]) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Event).where(Event.session_id == uuid.UUID(opened["id"]))
        )
        or 0
    )


def test_a_retried_batch_never_counts_twice(
    client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    opened = open_session(client, viewer, deck)
    batch = [event("slide_enter", 0, 0), event("heartbeat", 0, 5), event("slide_enter", 1, 9)]
    clock.advance(10)
    assert post_events(client, opened, *batch) == {
        "accepted": 3,
        "duplicates": 0,
        "session_ended": False,
        "ended_at": None,
    }
    clock.advance(10)
    assert post_events(client, opened, *batch)["duplicates"] == 3
    # A batch mixing one old and one new event stores only the new one.
    assert post_events(client, opened, batch[0], event("heartbeat", 1, 15))["accepted"] == 1
    viewing = stored(session, opened)
    assert event_rows(session, opened) == 4
    assert viewing.event_count == 4
    # The pure retry did not move the session's last receive time; the mixed batch did.
    assert viewing.last_event_at == clock.now


def test_an_event_id_repeated_inside_one_batch_is_stored_once(
    client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    opened = open_session(client, viewer, deck)
    same = uuid.uuid4()
    result = post_events(client, opened, event("slide_enter", 0, 0, same), event("slide_enter", 0, 0, same))
    assert (result["accepted"], result["duplicates"]) == (1, 1)
    assert event_rows(session, opened) == 1


def test_out_of_order_batches_give_dwell_in_client_order_from_receive_times(
    client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    opened = open_session(client, viewer, deck)
    # The page sent enter 0 (client t=0), enter 1 (t=30), enter 2 (t=50); the first batch was lost and
    # its retry arrives last. Dwell uses receive times, in client order, and never goes below zero.
    clock.set(40)
    post_events(client, opened, event("slide_enter", 1, 30))
    clock.set(70)
    post_events(client, opened, event("slide_enter", 2, 50), event("heartbeat", 2, 60))
    clock.set(75)
    post_events(client, opened, event("slide_enter", 0, 0))
    owner = session.get(User, deck.owner_id)
    assert owner is not None
    response = client.get(
        f"/api/v1/analytics/presentations/{deck.id}", headers=bearer(access_token(client, owner))
    )
    assert response.status_code == 200, response.text
    dwell = {row["slide_index"]: row["dwell_mean_seconds"] for row in response.json()["slides"]}
    # slide 0: enter received at 75, next boundary (enter 1) received at 40 -> negative -> 0
    # slide 1: received 40 -> enter 2 received 70 = 30
    # slide 2: received 70 -> no boundary after it: the session's last receive time (75) = 5
    assert dwell == {0: 0.0, 1: 30.0, 2: 5.0, 3: None, 4: None}
    viewing = stored(session, opened)
    assert viewing.furthest_slide == 2
    assert viewing.last_event_at == clock.now


def test_equal_client_times_order_leave_before_enter(
    client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    opened = open_session(client, viewer, deck)
    clock.set(10)
    post_events(client, opened, event("slide_enter", 0, 0))
    clock.set(25)
    # Sent in one batch with the same client timestamp, enter listed first: leave still closes slide 0 first.
    post_events(client, opened, event("slide_enter", 1, 15), event("slide_leave", 0, 15))
    clock.set(45)
    post_events(client, opened, event("session_end", 1, 35))
    rows = session.execute(
        select(SessionSlideStats.slide_index, SessionSlideStats.dwell_seconds).order_by(
            SessionSlideStats.slide_index
        )
    ).all()
    assert rows == []  # rollups are built lazily, on the first analytics read
    owner = session.get(User, deck.owner_id)
    assert owner is not None
    client.get(f"/api/v1/analytics/presentations/{deck.id}", headers=bearer(access_token(client, owner)))
    session.expire_all()
    rows = session.execute(
        select(
            SessionSlideStats.slide_index, SessionSlideStats.visits, SessionSlideStats.dwell_seconds
        ).order_by(SessionSlideStats.slide_index)
    ).all()
    assert [(row[0], row[1], round(row[2], 3)) for row in rows] == [(0, 1, 15.0), (1, 1, 20.0)]


def test_500_events_pass_and_501_get_a_precise_422(
    client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    opened = open_session(client, viewer, deck)
    assert post_events(client, opened, *[event("heartbeat", 0, i) for i in range(500)])["accepted"] == 500
    response = client.post(
        f"{SESSIONS}/{opened['id']}/events",
        json={"events": [event("heartbeat", 0, i) for i in range(501)]},
        headers=bearer(opened["ingest_token"]),
    )
    assert response.status_code == 422
    assert "at most 500" in response.text
    assert event_rows(session, opened) == 500
    empty = client.post(
        f"{SESSIONS}/{opened['id']}/events", json={"events": []}, headers=bearer(opened["ingest_token"])
    )
    assert empty.status_code == 422


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"slide_index": 5}, "slide_index is 5, but the deck of this session has 5 slides (valid: 0..4)"),
        ({"slide_index": -1}, "greater than or equal to 0"),
        ({"type": "visibility_hidden"}, "slide_enter"),
        ({"client_ts": "2026-03-02T09:00:00"}, "timezone"),
        ({"event_id": "not-a-uuid"}, "UUID"),
        ({"duration": 30}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_events_are_refused_whole_with_the_reason(
    client: TestClient,
    session: Session,
    viewer: User,
    deck: Presentation,
    clock: Clock,
    change: dict[str, Any],
    fragment: str,
) -> None:
    opened = open_session(client, viewer, deck)
    bad = event("slide_enter", 0, 0) | change
    response = client.post(
        f"{SESSIONS}/{opened['id']}/events",
        json={"events": [event("slide_enter", 0, 0), bad]},
        headers=bearer(opened["ingest_token"]),
    )
    assert response.status_code == 422
    assert fragment in response.text
    assert event_rows(session, opened) == 0


def _token(*, user: User, session_id: str, ttl: timedelta, token_type: str = INGEST_TOKEN_TYPE) -> str:
    return create_scoped_token(
        secret_key=TEST_SECRET_KEY,
        subject=str(user.id),
        token_type=token_type,
        ttl=ttl,
        claims={"sid": session_id},
    )


def test_ingest_token_scope_and_expiry(
    client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    mine = open_session(client, viewer, deck)
    other_viewer = make_user(session, Role.viewer)
    deck.audience = "everyone"  # type: ignore[assignment]
    session.commit()
    theirs = open_session(client, other_viewer, deck)
    url = f"{SESSIONS}/{mine['id']}/events"
    body = {"events": [event("heartbeat", 0, 0)]}

    def status(headers: dict[str, str]) -> int:
        return client.post(url, json=body, headers=headers).status_code

    assert status({}) == 401
    assert status(bearer("not.a.token")) == 401
    assert status(bearer(theirs["ingest_token"])) == 403  # a valid token, for another session
    assert (
        status(bearer(_token(user=viewer, session_id=mine["id"], ttl=timedelta(seconds=-1)))) == 401
    )  # expired
    forged = create_scoped_token(
        secret_key="another-key-" + "y" * 32,
        subject=str(viewer.id),
        token_type=INGEST_TOKEN_TYPE,
        ttl=timedelta(hours=1),
        claims={"sid": mine["id"]},
    )
    assert status(bearer(forged)) == 401
    # A token of another type (e.g. a refresh-like scope) is not an ingest token.
    assert (
        status(bearer(_token(user=viewer, session_id=mine["id"], ttl=timedelta(hours=1), token_type="reset")))
        == 401
    )
    assert status(bearer(access_token(client, other_viewer))) == 403  # someone else's access token
    assert status(bearer(access_token(client, viewer))) == 200  # the viewer's own access token works too
    assert status(bearer(mine["ingest_token"])) == 200
    assert client.post(
        f"{SESSIONS}/{uuid.uuid4()}/events", json=body, headers=bearer(mine["ingest_token"])
    ).status_code in (
        403,
        404,
    )


def test_a_deactivated_viewer_cannot_keep_posting(
    client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    opened = open_session(client, viewer, deck)
    viewer.is_active = False
    session.commit()
    post_events(client, opened, event("heartbeat", 0, 0), status=403)


def test_beacon_ends_the_session_without_any_authorization_header(
    client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    opened = open_session(client, viewer, deck)
    clock.set(12)
    payload = {
        "token": opened["ingest_token"],
        "events": [event("slide_leave", 0, 11), event("session_end", 0, 12)],
    }

    # sendBeacon with a string sends text/plain; no Authorization header is possible.
    response = client.post(
        f"{SESSIONS}/{opened['id']}/beacon",
        content=json.dumps(payload),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert response.status_code == 200, response.text
    assert "authorization" not in {key.lower() for key in response.request.headers}
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "session_ended": True,
        "ended_at": "2026-03-02T09:00:12Z",
    }
    viewing = stored(session, opened)
    assert viewing.end_reason == "session_end"
    # The same beacon again (browsers may retry) is a harmless duplicate, also as a JSON blob.
    again = client.post(f"{SESSIONS}/{opened['id']}/beacon", json=payload)
    assert again.status_code == 200 and again.json()["duplicates"] == 2


def test_beacon_refuses_wrong_expired_and_foreign_tokens(
    client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    opened = open_session(client, viewer, deck)
    other = open_session(client, viewer, deck)
    url = f"{SESSIONS}/{opened['id']}/beacon"
    events = [event("session_end", 0, 1)]
    assert client.post(url, json={"token": "garbage", "events": events}).status_code == 401
    expired = _token(user=viewer, session_id=opened["id"], ttl=timedelta(seconds=-5))
    assert client.post(url, json={"token": expired, "events": events}).status_code == 401
    assert client.post(url, json={"token": other["ingest_token"], "events": events}).status_code == 403
    # The access token is for headers only: in a body (readable by any script on the page) it is refused.
    assert client.post(url, json={"token": access_token(client, viewer), "events": events}).status_code == 401
    assert client.post(url, content=b"{not json", headers={"Content-Type": "text/plain"}).status_code == 422
    assert client.post(url, json={"events": events}).status_code == 422
    assert stored(session, opened).ended_at is None


def test_idle_session_ends_at_its_last_event_and_takes_only_retries(
    app: FastAPI, client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    opened = open_session(client, viewer, deck)
    idle = app.state.resources.settings.session_idle
    first = [event("slide_enter", 0, 0), event("heartbeat", 0, 1)]
    clock.set(10)
    post_events(client, opened, *first)
    clock.set(10 + idle)  # exactly the idle time of silence: still open
    post_events(client, opened, event("heartbeat", 0, 2))
    clock.advance(idle + 1)  # longer than idle: ended at the last event
    response = client.post(
        f"{SESSIONS}/{opened['id']}/events",
        json={"events": [event("heartbeat", 0, 3)]},
        headers=bearer(opened["ingest_token"]),
    )
    assert response.status_code == 409
    assert "open a new session" in response.json()["detail"]
    viewing = stored(session, opened)
    assert viewing.end_reason == "idle"
    assert viewing.ended_at == viewing.last_event_at
    assert (viewing.ended_at - viewing.started_at).total_seconds() == 10 + idle
    # A retry of already stored events is still acknowledged, as duplicates.
    assert post_events(client, opened, *first) == {
        "accepted": 0,
        "duplicates": 2,
        "session_ended": True,
        "ended_at": "2026-03-02T09:05:10Z",
    }
    assert event_rows(session, opened) == 3


def test_session_end_closes_the_session_for_new_events(
    client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    opened = open_session(client, viewer, deck)
    clock.set(5)
    post_events(client, opened, event("session_end", 0, 5))
    clock.set(6)
    post_events(client, opened, event("heartbeat", 0, 6), status=409)
    assert stored(session, opened).last_event_at == clock.now - timedelta(seconds=1)


def test_a_tiny_idle_setting_ends_sessions_quickly(backend: Any, session: Session) -> None:
    from tests.app.conftest import build_app

    app = build_app(backend, session_idle=10)
    clock = install_clock(app)
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        app.state.resources.session_factory() as db,
    ):
        viewer = make_user(db, Role.viewer)
        deck = make_presentation(db, make_user(db, Role.presenter), viewers=[viewer])
        opened = open_session(client, viewer, deck)
        clock.set(3)
        post_events(client, opened, event("slide_enter", 0, 0))
        clock.set(14)
        post_events(client, opened, event("heartbeat", 0, 11), status=409)
        read = client.get(f"{SESSIONS}/{opened['id']}", headers=bearer(access_token(client, viewer)))
        assert read.json()["end_reason"] == "idle"
        assert read.json()["ended_at"] == "2026-03-02T09:00:03Z"


def test_postgresql_takes_the_one_statement_path_and_sqlite_the_detailed_one(
    app: FastAPI, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    """Both paths give the same results (every test here runs on both backends); this pins which one runs."""
    from app.crud.viewing import ingest_into_open_session
    from app.schemas.viewing import EventIn

    viewing = ViewingSession(
        presentation_id=deck.id,
        viewer_id=viewer.id,
        slide_count=5,
        started_at=clock.now,
        last_event_at=clock.now,
    )
    session.add(viewing)
    session.commit()
    batch = [
        EventIn.model_validate(event("slide_enter", 4, 0)),
        EventIn.model_validate(event("session_end", 4, 1)),
    ]
    result = ingest_into_open_session(
        session=session,
        session_id=viewing.id,
        viewer_id=viewer.id,
        events=batch,
        received_at=clock.advance(7),
        idle=timedelta(seconds=300),
    )
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        assert result is not None and result.accepted == 2 and result.ended_at == clock.now
        refreshed = stored(session, {"id": str(viewing.id)})
        assert (refreshed.event_count, refreshed.furthest_slide, refreshed.reached_last_slide) == (2, 4, True)
        assert (refreshed.end_reason, refreshed.last_event_at) == ("session_end", clock.now)
    else:
        assert result is None


def test_ingestion_counts_in_prometheus(
    client: TestClient, session: Session, viewer: User, deck: Presentation, clock: Clock
) -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    accepted = sample("pap_events_ingested_total", result="accepted")
    duplicate = sample("pap_events_ingested_total", result="duplicate")
    opened_before = sample("pap_viewing_sessions_opened_total")
    ended = sample("pap_viewing_sessions_ended_total", reason="session_end")
    opened = open_session(client, viewer, deck)
    batch = [event("slide_enter", 0, 0), event("session_end", 0, 1)]
    post_events(client, opened, *batch)
    post_events(client, opened, *batch)
    assert sample("pap_events_ingested_total", result="accepted") - accepted == 2
    assert sample("pap_events_ingested_total", result="duplicate") - duplicate == 2
    assert sample("pap_viewing_sessions_opened_total") - opened_before == 1
    assert sample("pap_viewing_sessions_ended_total", reason="session_end") - ended == 1
