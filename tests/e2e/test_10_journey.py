"""Health and the full product journey, from the outside through the proxy."""

from __future__ import annotations

import datetime

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
