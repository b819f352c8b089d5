"""Analytics numbers on a hand-computed fixture deck, viewer rows, the overview, and the cache.

The fixture (times in seconds after 2026-03-02 09:00:00 UTC, as the server receives them; the client
timestamps are deliberately skewed to show they never make a duration):

deck of 4 slides (0..3); viewers A, B, C.
S1 (A) opens at 0: 10 enter0 | 40 leave0 + enter1 | 100 enter2 | 130 heartbeat | 160 enter3 | 170 end (beacon)
   dwell: s0 40-10=30, s1 100-40=60, s2 160-100=60, s3 170-160=10; duration 170; furthest 3 (completed)
S2 (B) opens at 1000: 1005 enter0 | 1065 enter1 | 1095 heartbeat; then silent (ends idle at 1095)
   dwell: s0 60, s1 1095-1065=30 (no boundary after: ends at the last event); duration 95; furthest 1
S3 (A) opens at 90000 (the next day): 90010 enter0 | 90030 enter1 | 90040 enter0 | 90050 leave0; then silent
   dwell: s0 20+10=30 (2 visits), s1 10; duration 50; furthest 1
S4 (C) opens at 90100 and sends nothing: duration 0, no slide.
Feedback: A rates 5, B rates 3.

Expected: sessions 4, unique viewers 3, durations [170, 95, 50, 0] -> total 315, mean 78.75,
median (50+95)/2 = 72.5; completed 1 -> rate 0.25; active 0 (read at 100000, all ended).
Per slide (dwell over the sessions that visited it; p90 interpolates: rank 0.9*(n-1)):
 s0: views 4 (1+1+2), sessions 3, dwell [30,30,60] -> mean 40, median 30, p90 30+0.8*30 = 54; drop-offs 0
 s1: views 3, sessions 3, dwell [10,30,60] -> mean 33.333, median 30, p90 54; drop-offs 2 (S2, S3)
 s2: views 1, sessions 1, dwell [60] -> 60/60/60; drop-offs 0
 s3: views 1, sessions 1, dwell [10] -> 10/10/10; drop-offs 1 (S1)
Sessions per day: 2026-03-02: 2, 2026-03-03: 2. Feedback: 2, mean 4.0, {3: 1, 5: 1}.
Viewers: A 2 sessions 220 s furthest 3 rated 5; B 1 session 95 s furthest 1 rated 3; C 1 session 0 s none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models.presentations import Presentation
from app.models.users import Role, User
from tests.app.factories import login_headers, make_presentation, make_user
from tests.app.viewing_support import SESSIONS, Clock, event, install_clock, open_session, post_events

ANALYTICS = "/api/v1/analytics"


@dataclass
class Fixture:
    owner: User
    admin: User
    viewers: dict[str, User]
    deck: Presentation
    clock: Clock


def _at(clock: Clock, seconds: float) -> None:
    clock.set(seconds)


def build_fixture(app: FastAPI, client: TestClient, session: Session) -> Fixture:
    clock = install_clock(app)
    owner = make_user(session, Role.presenter, "owner@example.com")
    admin = make_user(session, Role.admin, "admin@example.com")
    viewers = {name: make_user(session, Role.viewer, f"{name.lower()}@example.com") for name in "ABC"}
    deck = make_presentation(session, owner, slides=4, viewers=list(viewers.values()), title="Quarterly")

    _at(clock, 0)
    s1 = open_session(client, viewers["A"], deck)
    for at, events in [
        (10, [event("slide_enter", 0, 500)]),
        (40, [event("slide_leave", 0, 530), event("slide_enter", 1, 530)]),
        (100, [event("slide_enter", 2, 590)]),
        (130, [event("heartbeat", 2, 620)]),
        (160, [event("slide_enter", 3, 650)]),
    ]:
        _at(clock, at)
        post_events(client, s1, *events)
    _at(clock, 170)
    beacon = client.post(
        f"{SESSIONS}/{s1['id']}/beacon",
        content=json.dumps({"token": s1["ingest_token"], "events": [event("session_end", 3, 660)]}),
        headers={"Content-Type": "text/plain"},
    )
    assert beacon.status_code == 200, beacon.text

    _at(clock, 1000)
    s2 = open_session(client, viewers["B"], deck)
    for at, events in [
        (1005, [event("slide_enter", 0, -4000)]),
        (1065, [event("slide_enter", 1, -3999)]),  # the client says 1 s; the server saw 60 s
        (1095, [event("heartbeat", 1, -3998)]),
    ]:
        _at(clock, at)
        post_events(client, s2, *events)

    _at(clock, 90000)
    s3 = open_session(client, viewers["A"], deck)
    for at, events in [
        (90010, [event("slide_enter", 0, 0)]),
        (90030, [event("slide_enter", 1, 20)]),
        (90040, [event("slide_enter", 0, 30)]),
        (90050, [event("slide_leave", 0, 40)]),
    ]:
        _at(clock, at)
        post_events(client, s3, *events)

    _at(clock, 90100)
    open_session(client, viewers["C"], deck)

    for name, rating in (("A", 5), ("B", 3)):
        response = client.post(
            f"/api/v1/presentations/{deck.id}/feedback",
            json={"rating": rating, "interests": ["pricing"]},
            headers=login_headers(client, viewers[name]),
        )
        assert response.status_code == 201, response.text
    _at(clock, 100000)
    return Fixture(owner, admin, viewers, deck, clock)


@pytest.fixture
def fixture(app: FastAPI, client: TestClient, session: Session) -> Fixture:
    return build_fixture(app, client, session)


def get(client: TestClient, user: User, path: str) -> Any:
    response = client.get(f"{ANALYTICS}{path}", headers=login_headers(client, user))
    assert response.status_code == 200, response.text
    return response.json()


def test_presentation_numbers_match_the_hand_computed_fixture(client: TestClient, fixture: Fixture) -> None:
    body = get(client, fixture.owner, f"/presentations/{fixture.deck.id}")
    slides = body.pop("slides")
    assert body == {
        "presentation_id": str(fixture.deck.id),
        "title": "Quarterly",
        "slide_count": 4,
        "unique_viewers": 3,
        "sessions": 4,
        "active_sessions": 0,
        "total_session_seconds": 315.0,
        "mean_session_seconds": 78.75,
        "median_session_seconds": 72.5,
        "completed_sessions": 1,
        "completion_rate": 0.25,
        "sessions_without_slides": 1,
        "feedback": {
            "count": 2,
            "mean_rating": 4.0,
            "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1},
        },
        "sessions_per_day": [{"day": "2026-03-02", "sessions": 2}, {"day": "2026-03-03", "sessions": 2}],
    }
    columns = (
        "slide_index",
        "title",
        "views",
        "sessions",
        "dwell_mean_seconds",
        "dwell_median_seconds",
        "dwell_p90_seconds",
        "drop_offs",
    )
    assert [tuple(slide[column] for column in columns) for slide in slides] == [
        (0, "Slide 1", 4, 3, 40.0, 30.0, 54.0, 0),
        (1, "Slide 2", 3, 3, 33.333, 30.0, 54.0, 2),
        (2, "Slide 3", 1, 1, 60.0, 60.0, 60.0, 0),
        (3, "Slide 4", 1, 1, 10.0, 10.0, 10.0, 1),
    ]
    # Admins see the same numbers.
    assert get(client, fixture.admin, f"/presentations/{fixture.deck.id}")["slides"] == slides


def test_viewer_rows(client: TestClient, fixture: Fixture) -> None:
    rows = get(client, fixture.owner, f"/presentations/{fixture.deck.id}/viewers")
    summary = [
        (r["email"], r["sessions"], r["total_seconds"], r["furthest_slide"], r["feedback_given"], r["rating"])
        for r in rows
    ]
    assert summary == [
        ("a@example.com", 2, 220.0, 3, True, 5),
        ("b@example.com", 1, 95.0, 1, True, 3),
        ("c@example.com", 1, 0.0, None, False, None),
    ]


def test_overview_totals_for_admins(client: TestClient, fixture: Fixture) -> None:
    body = get(client, fixture.admin, "/overview")
    assert body == {
        "users_by_role": {"admin": 1, "presenter": 1, "viewer": 3},
        "presentations": 1,
        "active_presentations": 1,
        "sessions": 4,
        "active_sessions": 0,
        "events": 1 + 2 + 1 + 1 + 1 + 1 + 3 + 4,
        "feedback": 2,
        "mean_rating": 4.0,
    }


def test_feedback_list_for_the_owner(client: TestClient, fixture: Fixture) -> None:
    body = get(client, fixture.owner, f"/presentations/{fixture.deck.id}/feedback")
    assert body["count"] == 2
    assert sorted(item["rating"] for item in body["data"]) == [3, 5]


def test_cache_hits_until_an_event_arrives_then_recomputes(
    client: TestClient, session: Session, fixture: Fixture
) -> None:
    path = f"{ANALYTICS}/presentations/{fixture.deck.id}"
    headers = login_headers(client, fixture.owner)
    first = client.get(path, headers=headers)
    second = client.get(path, headers=headers)
    assert (first.headers["X-Analytics-Cache"], second.headers["X-Analytics-Cache"]) == ("miss", "hit")
    assert first.json() == second.json()
    # A new session with one event: the next read must not serve the cached numbers.
    fixture.clock.set(100010)
    opened = open_session(client, fixture.viewers["C"], fixture.deck)
    fixture.clock.set(100030)
    post_events(client, opened, event("slide_enter", 3, 0))
    third = client.get(path, headers=headers)
    assert third.headers["X-Analytics-Cache"] == "miss"
    assert third.json()["sessions"] == 5
    assert third.json()["active_sessions"] == 1
    assert third.json()["completed_sessions"] == 2
    # Feedback changes invalidate too.
    change = client.put(
        f"/api/v1/presentations/{fixture.deck.id}/feedback",
        json={"rating": 1},
        headers=login_headers(client, fixture.viewers["A"]),
    )
    assert change.status_code == 200
    fourth = client.get(path, headers=headers)
    assert fourth.headers["X-Analytics-Cache"] == "miss"
    assert fourth.json()["feedback"]["mean_rating"] == 2.0


def test_empty_deck_has_no_averages(client: TestClient, session: Session) -> None:
    owner = make_user(session, Role.presenter)
    deck = make_presentation(session, owner, slides=2)
    body = get(client, owner, f"/presentations/{deck.id}")
    assert (body["sessions"], body["mean_session_seconds"], body["completion_rate"]) == (0, None, None)
    assert [slide["views"] for slide in body["slides"]] == [0, 0]


def test_analytics_keep_serving_when_redis_is_unreachable(
    app: FastAPI, client: TestClient, fixture: Fixture
) -> None:
    """Redis configured but down: every read computes afresh (a miss), with the same numbers, no error."""
    from app.api.deps import get_cache
    from app.core.redis import RedisCache, RedisClient
    from tests.app.servers import free_port

    unreachable = RedisCache(RedisClient(f"redis://127.0.0.1:{free_port()}/0"))
    expected = get(client, fixture.owner, f"/presentations/{fixture.deck.id}")
    app.dependency_overrides[get_cache] = lambda: unreachable
    path = f"{ANALYTICS}/presentations/{fixture.deck.id}"
    for _ in range(2):
        response = client.get(path, headers=login_headers(client, fixture.owner))
        assert response.status_code == 200
        assert response.headers["X-Analytics-Cache"] == "miss"
        assert response.json() == expected
